package sandbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Profiles lists the GitLab versions whose behaviour the sandbox models
// deliberately. Other "major.minor" strings are accepted and behave like the
// nearest rules below them.
var Profiles = []string{"12.10", "13.12", "14.10", "15.11", "16.11", "17.11", "18.6", "19.0"}

// TLSMode selects how the sandbox serves HTTPS.
type TLSMode int

const (
	// TLSNone serves plain HTTP.
	TLSNone TLSMode = iota
	// TLSCA serves a leaf for 127.0.0.1/localhost signed by the sandbox's own CA
	// (Sandbox.CAPEM); trusting that CA is enough to verify it.
	TLSCA
	// TLSSelfSigned serves a self-signed leaf that is not a CA: verification
	// fails with x509.UnknownAuthorityError.
	TLSSelfSigned
	// TLSExpired serves a leaf signed by the sandbox CA that expired a year ago:
	// verification fails with x509.CertificateInvalidError (Reason x509.Expired).
	TLSExpired
	// TLSWrongHost serves a CA-signed leaf for "gitlab.invalid" only:
	// verification fails with x509.HostnameError.
	TLSWrongHost
)

var tlsModeNames = map[TLSMode]string{TLSNone: "none", TLSCA: "ca", TLSSelfSigned: "self-signed", TLSExpired: "expired", TLSWrongHost: "wrong-host"}

// String returns the mode's flag spelling: none, ca, self-signed, expired, wrong-host.
func (m TLSMode) String() string { return tlsModeNames[m] }

// ParseTLSMode parses the spelling String returns.
func ParseTLSMode(s string) (TLSMode, error) {
	for m, n := range tlsModeNames {
		if n == s {
			return m, nil
		}
	}
	return TLSNone, fmt.Errorf("sandbox: unknown TLS mode %q (none, ca, self-signed, expired, wrong-host)", s)
}

// Config describes one sandbox. The zero value (plus Start's defaults) is an
// empty 17.11 instance on a random loopback port.
type Config struct {
	// Addr is the listen address; default "127.0.0.1:0". Only loopback
	// addresses are accepted.
	Addr string
	// Version is the GitLab profile, "major.minor"; default "17.11".
	Version string
	// Seed makes the generated dataset deterministic: equal seeds and counts
	// give equal data, ids and dates.
	Seed int64
	// Groups is the number of groups (about a third of them are subgroups).
	// Projects are spread over groups; with no groups they live in root's namespace.
	Groups int
	// Projects is the number of projects. Per project: MRs merge requests,
	// Issues issues, Pipelines pipelines (none where CI/CD is disabled) and
	// Commits commits on the default branch.
	Projects, MRs, Issues, Pipelines, Commits int
	// Latency is added to every API/OAuth response.
	Latency time.Duration
	// RateLimitPerMin, when > 0, throttles each token (or client address) to
	// that many API requests per fixed 60 s window, as GitLab's
	// throttle_authenticated_api does. On the gitlab.com profile 0 means
	// GitLab.com's 2,000 per minute and a negative value turns it off.
	RateLimitPerMin int
	// TLS selects the certificate served; TLSDir, when set, receives ca.pem
	// (and server.pem/server-key.pem).
	TLS    TLSMode
	TLSDir string
	// Faults are the initial faults; change them later with SetFaults.
	Faults Faults
	// Now is the sandbox clock (token expiry, activity timestamps, rate
	// windows); default time.Now. The seeded dataset does not depend on it.
	Now func() time.Time
	// Generator, when > 0, makes the sandbox create that many random activity
	// events per minute until Close.
	Generator float64

	// Profile is ProfileSelfManaged (the default, "") or ProfileGitLabCom.
	// The gitlab.com profile serves the seeded dataset as one ordinary user's
	// world inside a public universe: no administrator token is handed out
	// (UserToken is alice's personal access token, ControlToken opens the
	// control API), other users' public groups and projects are listed by
	// /projects, /groups?all_available=true and scope=all, internal
	// visibility does not exist, and GitLab.com's rate limits apply. Version
	// defaults to the newest profile there.
	Profile string
	// PublicProjects is the size of the gitlab.com profile's public world:
	// other users' projects (about one in ten private, the rest public), in
	// PublicProjects/10 groups owned by PublicProjects/50 users. 0 means
	// 20,000. Ignored on other profiles.
	PublicProjects int
	// PublicActivityPerMin, when > 0 on the gitlab.com profile, makes that
	// many changes per minute on random projects of the public world (merge
	// requests, issues, pushes, pipelines in PublicActivityMix proportions),
	// moving the items' updated_at on the sandbox clock, and the projects'
	// last_activity_at and updated_at as LastActivityInterval allows. Nobody
	// registered hooks there, so no webhook fires for them.
	PublicActivityPerMin int
	// PublicActivityMix weighs the kinds of public activity; the zero value
	// weighs them equally.
	PublicActivityMix ActivityMix
	// LastActivityInterval is how stale a project's last_activity_at (and
	// updated_at) must be before activity moves it. GitLab touches them only
	// when an event is recorded (pushes, opening, merging or closing merge
	// requests and issues; not pipelines, not edits) and only when they are
	// older than Event::RESET_PROJECT_ACTIVITY_INTERVAL, one hour
	// (app/models/event.rb), so a project active every minute shows the same
	// last_activity_at for an hour. 0 means one hour on the gitlab.com
	// profile and "every change" on the self-managed one (what the sandbox
	// always did; existing tests rely on it); a negative value means every
	// change.
	LastActivityInterval time.Duration
	// DeletionDelay is how long a project marked for deletion stays before
	// it is gone, where deletion is delayed (the gitlab.com profile and
	// self-managed from 18.0); 0 means DefaultDeletionDelay (seven days).
	DeletionDelay time.Duration
	// Git backs every project with a real bare repository (git.go): commit
	// ids are the repository's, activity makes real commits, and Git smart
	// HTTP is served at /<path_with_namespace>.git. It needs Debian's git
	// and costs a git fast-import per seeded project at Start; off, commit
	// ids are invented and no Git is served.
	Git bool
}

// GitLab's Event::RESET_PROJECT_ACTIVITY_INTERVAL.
const resetProjectActivityInterval = time.Hour

// Profile names for Config.Profile.
const (
	ProfileSelfManaged = "self-managed"
	ProfileGitLabCom   = "gitlab.com"
)

// DefaultPublicProjects is the gitlab.com profile's public world size when
// Config.PublicProjects is 0.
const DefaultPublicProjects = 20000

// ActivityMix gives relative weights of the kinds of generated activity.
type ActivityMix struct {
	MergeRequests int `json:"merge_requests"`
	Issues        int `json:"issues"`
	Pushes        int `json:"pushes"`
	Pipelines     int `json:"pipelines"`
}

// ParseActivityMix parses "mrs=4,issues=3,pushes=2,pipelines=1"; kinds not
// named weigh 0, and an empty spec weighs all kinds equally.
func ParseActivityMix(spec string) (ActivityMix, error) {
	var m ActivityMix
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return m, fmt.Errorf("sandbox: activity mix %q: want a weight of 0 or more", part)
		}
		switch k {
		case "mrs", "merge_requests":
			m.MergeRequests = n
		case "issues":
			m.Issues = n
		case "pushes":
			m.Pushes = n
		case "pipelines":
			m.Pipelines = n
		default:
			return m, fmt.Errorf("sandbox: unknown activity kind %q (mrs, issues, pushes, pipelines)", k)
		}
	}
	return m, nil
}

// Faults are failures injected on demand. The zero value injects nothing.
type Faults struct {
	// ErrorRate is the share (0..1) of API requests answered with a 500 or 502.
	ErrorRate float64 `json:"error_rate"`
	// StallRate is the share of API requests held for StallFor before being
	// answered normally (longer than a client timeout, they look hung).
	StallRate float64       `json:"stall_rate"`
	StallFor  time.Duration `json:"stall_for"`
	// Latency is added to every request on top of Config.Latency.
	Latency time.Duration `json:"latency"`
	// DropWebhooks silently skips webhook deliveries (activity still happens).
	DropWebhooks bool `json:"drop_webhooks"`
	// DropWebhooksOf silently skips the deliveries of these projects' hooks
	// only (their activity still happens); other projects deliver normally.
	DropWebhooksOf []int64 `json:"drop_webhooks_of,omitempty"`
	// ExpireTokensAfter, when > 0, makes every token used for the first time
	// after SetFaults expire that long after that first use (on the sandbox
	// clock): a token that expires mid-run.
	ExpireTokensAfter time.Duration `json:"expire_tokens_after"`
}

// ParseFaults parses a comma-separated fault spec as the CLI takes it:
// "errors=0.1,stall=0.05:30s,latency=50ms,drop-webhooks,expire-tokens=2m";
// "drop-webhooks=3:17" drops only projects 3's and 17's deliveries.
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		var err error
		switch k {
		case "errors":
			f.ErrorRate, err = strconv.ParseFloat(v, 64)
		case "stall":
			rate, dur, ok := strings.Cut(v, ":")
			if f.StallRate, err = strconv.ParseFloat(rate, 64); err == nil {
				f.StallFor = 30 * time.Second
				if ok {
					f.StallFor, err = time.ParseDuration(dur)
				}
			}
		case "latency":
			f.Latency, err = time.ParseDuration(v)
		case "drop-webhooks":
			if v == "" {
				f.DropWebhooks = true
				break
			}
			// drop-webhooks=3:17 drops only projects 3's and 17's deliveries.
			for id := range strings.SplitSeq(v, ":") {
				var n int64
				if n, err = strconv.ParseInt(id, 10, 64); err != nil || n < 1 {
					err = fmt.Errorf("want project ids separated by ':'")
					break
				}
				f.DropWebhooksOf = append(f.DropWebhooksOf, n)
			}
		case "expire-tokens":
			f.ExpireTokensAfter, err = time.ParseDuration(v)
		default:
			return f, fmt.Errorf("sandbox: unknown fault %q (errors=R, stall=R[:D], latency=D, drop-webhooks[=ID:ID…], expire-tokens=D)", k)
		}
		if err != nil {
			return f, fmt.Errorf("sandbox: fault %q: %w", part, err)
		}
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.StallRate < 0 || f.StallRate > 1 {
		return f, errors.New("sandbox: fault rates must be between 0 and 1")
	}
	return f, nil
}

// version is a parsed "major.minor" profile.
type version struct{ major, minor int }

func parseVersion(s string) (version, error) {
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil || a < 9 || b < 0 {
		return version{}, fmt.Errorf("sandbox: Version %q is not a GitLab major.minor such as 17.11", s)
	}
	return version{a, b}, nil
}

func (v version) atLeast(major, minor int) bool {
	return v.major > major || (v.major == major && v.minor >= minor)
}

func (v version) String() string { return fmt.Sprintf("%d.%d.0", v.major, v.minor) }

// Feature gates, named after what appears in that GitLab version.
func (v version) hasDraft() bool              { return v.atLeast(14, 0) }
func (v version) hasMergeUser() bool          { return v.atLeast(14, 7) }
func (v version) hasDetailedStatus() bool     { return v.atLeast(15, 6) }
func (v version) hasMetadata() bool           { return v.atLeast(15, 2) }
func (v version) hasMetadataEnterprise() bool { return v.atLeast(15, 6) }
func (v version) hasPATSelf() bool            { return v.atLeast(15, 5) }
func (v version) patMustExpire() bool         { return v.atLeast(16, 0) }
func (v version) hasObjectFormat() bool       { return v.atLeast(16, 9) }
func (v version) hasEventUUID() bool          { return v.atLeast(14, 8) }
func (v version) hasInstanceHeader() bool     { return v.atLeast(15, 5) }
func (v version) hasWebhookUUID() bool        { return v.atLeast(16, 2) }
func (v version) hasIdempotencyKey() bool     { return v.atLeast(17, 4) }
func (v version) hasSigning() bool            { return v.atLeast(19, 0) }
func (v version) oauthExpires() bool          { return v.atLeast(15, 0) }
func (v version) defaultBranch() string {
	if v.atLeast(14, 0) {
		return "main"
	}
	return "master"
}
