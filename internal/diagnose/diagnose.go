// Package diagnose checks, step by step, whether labsync can use a GitLab with
// a given URL, token and CA: the address, name resolution, the network path,
// TLS, whether GitLab's API answers, its version, the token, the token's
// account and the projects it can see. Each step says what it saw and, when
// something is wrong, what to do. Both the connection test of the REST API and
// `labsync doctor` run it.
//
// The diagnosis reaches GitLab the way the service does, directly or through
// the configured outbound proxy, and says which.
//
// The diagnosis only reads (through the guarded client of package gitlab),
// never switches TLS verification off, and never puts the token or the
// proxy's credentials into its report.
package diagnose

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/secret"
)

// Status is the outcome of one step.
type Status string

// Step outcomes.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Warn Status = "warn"
	Skip Status = "skip"
)

// Step IDs, in the order the steps run.
const (
	StepURL      = "url"
	StepDNS      = "dns"
	StepTCP      = "tcp"
	StepTLS      = "tls"
	StepHTTP     = "http"
	StepVersion  = "version"
	StepToken    = "token"
	StepIdentity = "identity"
	StepProjects = "projects"
)

var stepTitles = []struct{ id, title string }{
	{StepURL, "GitLab address"},
	{StepDNS, "Name resolution"},
	{StepTCP, "Network connection"},
	{StepTLS, "TLS certificate"},
	{StepHTTP, "GitLab API answers"},
	{StepVersion, "GitLab version"},
	{StepToken, "Access token"},
	{StepIdentity, "Token's account"},
	{StepProjects, "Visible projects"},
}

// Step is one check of the diagnosis.
type Step struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Seen says what the step observed, in a sentence or two.
	Seen string `json:"seen,omitempty"`
	// Remedy says what to do when the step failed or warns.
	Remedy string `json:"remedy,omitempty"`
	// Kind classifies a failure (see gitlab.Kind); empty when none.
	Kind gitlab.Kind `json:"kind,omitempty"`
}

// TokenInfo is what the diagnosis learned about the token. It never holds
// the token itself.
type TokenInfo struct {
	Name      string   `json:"name,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
	ExpiresAt string   `json:"expires_at,omitempty"`
	Active    bool     `json:"active"`
}

// UserInfo is the account a token belongs to.
type UserInfo struct {
	Username string `json:"username"`
	Name     string `json:"name"`
	Admin    bool   `json:"admin"`
	Bot      bool   `json:"bot"`
	State    string `json:"state,omitempty"`
}

// ProjectCount is how many projects the token's account can sync.
type ProjectCount struct {
	Count int64 `json:"count"`
	// Exact is false when GitLab gave no total and Count is a lower bound.
	Exact bool `json:"exact"`
}

// Report is the whole diagnosis.
type Report struct {
	// URL is the normalised GitLab address, empty when it was refused.
	URL          string              `json:"url,omitempty"`
	OK           bool                `json:"ok"`
	Steps        []Step              `json:"steps"`
	Version      *gitlab.Version     `json:"version,omitempty"`
	Capabilities []gitlab.Capability `json:"capabilities,omitempty"`
	Token        *TokenInfo          `json:"token,omitempty"`
	User         *UserInfo           `json:"user,omitempty"`
	Projects     *ProjectCount       `json:"projects,omitempty"`
	// Proxy is the proxy GitLab was reached through, as scheme://host:port
	// and the variable it came from; empty for a direct connection. It
	// never holds the proxy's credentials.
	Proxy string `json:"proxy,omitempty"`
	// Insecure is true when the URL uses plain http to a host that is not
	// this machine (the connection's insecure-http opt-in).
	Insecure bool `json:"insecure,omitempty"`
}

// Step returns the step with id, or false.
func (r Report) Step(id string) (Step, bool) {
	for _, s := range r.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return Step{}, false
}

// Input is what to diagnose.
type Input struct {
	URL   string
	Token secret.Secret
	// CAPEM holds extra CA certificates to trust besides the system's.
	CAPEM  []byte
	Policy gitlab.AddressPolicy
	// Proxy is the outbound proxy to reach GitLab through, nil for a direct
	// connection (see gitlab.NewProxy). The report says whether it was used.
	Proxy *gitlab.Proxy
	// AllowInsecureHTTP is the connection's opt-in to plain http to a host
	// other than this machine (gitlab.AllowInsecureHTTP).
	AllowInsecureHTTP bool
	// Timeout bounds each network operation; zero means 10 seconds.
	Timeout time.Duration
	// OnStep, when set, is called with each step as soon as it is decided,
	// in order, from the goroutine that called Run.
	OnStep func(Step)
}

// DefaultTimeout bounds each network operation when Input.Timeout is zero.
const DefaultTimeout = 10 * time.Second

type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Run diagnoses the connection described by in. It always returns a report
// with one entry per step; steps after a blocking failure are skipped with
// the reason.
func Run(ctx context.Context, in Input) Report {
	return run(ctx, in, net.DefaultResolver)
}

func run(ctx context.Context, in Input, res resolver) Report {
	if in.Timeout <= 0 {
		in.Timeout = DefaultTimeout
	}
	r := &runner{in: in, res: res}
	r.redact = redactor(in.Token, in.Proxy)
	defer r.closeConn()

	checks := []func(context.Context) Step{
		r.checkURL, r.checkDNS, r.checkTCP, r.checkTLS, r.checkHTTP,
		r.checkVersion, r.checkToken, r.checkIdentity, r.checkProjects,
	}
	for i, check := range checks {
		id, title := stepTitles[i].id, stepTitles[i].title
		var s Step
		switch {
		case r.stopped != "":
			s = Step{Status: Skip, Seen: r.stopped}
		case ctx.Err() != nil:
			s = Step{Status: Skip, Seen: "the diagnosis was canceled"}
		default:
			s = check(ctx)
		}
		s.ID, s.Title = id, title
		s.Seen, s.Remedy = r.redact(s.Seen), r.redact(s.Remedy)
		if s.Status == Fail && r.stopped == "" {
			r.stopped = "Not checked: the step “" + title + "” failed."
		}
		r.report.Steps = append(r.report.Steps, s)
		if in.OnStep != nil {
			in.OnStep(s)
		}
	}
	r.report.OK = true
	for _, s := range r.report.Steps {
		if s.Status == Fail {
			r.report.OK = false
		}
	}
	return r.report
}

// redactor returns a function that replaces the token (as given and
// trimmed) and the proxy's credentials in a text, in case a server or proxy
// echoed them back.
func redactor(tok secret.Secret, proxy *gitlab.Proxy) func(string) string {
	var vals []string
	raw := tok.Reveal()
	for _, v := range []string{raw, strings.TrimSpace(raw)} {
		if len(v) >= 4 {
			vals = append(vals, v)
		}
	}
	return func(s string) string {
		for _, v := range vals {
			s = strings.ReplaceAll(s, v, secret.Redacted)
		}
		return proxy.Redact(s)
	}
}

// runner carries what earlier steps learned to later ones.
type runner struct {
	in     Input
	res    resolver
	redact func(string) string
	report Report

	// stopped is set after a blocking failure: why later steps are skipped.
	stopped string

	base    gitlab.BaseURL
	proxy   string       // the proxy GitLab is reached through, "" for none
	addrs   []netip.Addr // resolved addresses the policy allows
	conn    net.Conn     // from the tcp step, used by the tls step
	noToken bool

	token   string         // trimmed token
	trimmed bool           // the token had whitespace around it
	badKind *tokenKind     // an obviously wrong kind of token
	api     *gitlab.Client // authenticated
	authErr *gitlab.APIError
	version *gitlab.Version
}

// clientResolver is the resolver for the GitLab clients of later steps: nil
// (the dialer's own resolution) unless a test replaced the default.
func (r *runner) clientResolver() gitlab.Resolver {
	if d, ok := r.res.(*net.Resolver); ok && d == net.DefaultResolver {
		return nil
	}
	return r.res
}

func (r *runner) closeConn() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}

func (r *runner) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.in.Timeout)
}
