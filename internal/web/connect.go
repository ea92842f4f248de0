package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
)

// gitlabCom is the address used when the user picks gitlab.com.
const gitlabCom = "https://gitlab.com"

// maxCAFile bounds an uploaded CA certificate file.
const maxCAFile = 256 << 10

// connectForm is what the install page asks. The secrets (client secret,
// access token) are never sent back to the browser: a page shown again
// after a test asks for them again.
type connectForm struct {
	Hosting    string // "gitlab.com" or "self-managed"
	Method     string // "oauth" or "token"
	BaseURL    string
	ClientID   string
	Alias      string
	CAPEM      string
	AllowHooks bool
	// AllowInsecureHTTP is the plain-http opt-in, for a self-managed
	// GitLab only.
	AllowInsecureHTTP bool

	clientSecret secret.Secret
	token        secret.Secret
}

func (f connectForm) baseURL() string {
	if f.Hosting == "gitlab.com" {
		return gitlabCom
	}
	return strings.TrimSpace(f.BaseURL)
}

// scopeWhy explains each scope the install page asks to tick.
type scopeWhy struct {
	Scope, Why string
	Optional   bool
}

var scopeList = []scopeWhy{
	{"read_api", "Read projects, merge requests, issues, pipelines and pushes: everything labsync syncs.", false},
	{"read_user", "Read the account the connection acts as, to show who connected it.", false},
	{"read_repository", "Read repository metadata (branches and commits of pushes).", false},
	{"api", "Only if labsync should register its webhooks in your projects itself. Without it, you add the webhook in GitLab by hand.", true},
}

type connectView struct {
	Title       string
	Form        connectForm
	RedirectURI string
	Scopes      []scopeWhy
	Report      *diagnose.Report
	Tested      bool
	Error       *problem.Error
	// SecretAgain says that a secret field must be filled in again.
	SecretAgain bool
	CallbackErr string
}

// PageTitle is the page's title.
func (v connectView) PageTitle() string { return v.Title }

// verdict is the connection test's headline: "all checks passed" only when
// every step ran and passed.
type verdict struct {
	OK   bool
	Text string
	// Skipped explains the skipped steps, if any.
	Skipped string
}

// Verdict sums up the diagnosis in words.
func (v connectView) Verdict() verdict {
	if v.Report == nil {
		return verdict{}
	}
	var pass, fail, warn, skip int
	for _, s := range v.Report.Steps {
		switch s.Status {
		case diagnose.Pass:
			pass++
		case diagnose.Fail:
			fail++
		case diagnose.Warn:
			warn++
		case diagnose.Skip:
			skip++
		}
	}
	n := len(v.Report.Steps)
	out := verdict{OK: fail == 0}
	switch {
	case fail > 0:
		out.Text = fmt.Sprintf("%d of %d checks failed", fail, n)
	case skip == 0 && warn == 0:
		out.Text = "all checks passed"
	default:
		out.Text = fmt.Sprintf("%d of %d checks passed", pass, n)
		if warn > 0 {
			out.Text += fmt.Sprintf(", %d with a warning", warn)
		}
	}
	if skip > 0 {
		out.Text += fmt.Sprintf(", %d not run", skip)
		if v.Form.Method == "oauth" && fail == 0 {
			out.Skipped = "The token, account and project checks need a token: with OAuth you get one when you approve labsync at GitLab, so they run after \"Continue to GitLab\"."
		} else if fail > 0 {
			out.Skipped = "The checks after a failed one were not run."
		}
	}
	return out
}

func (u *UI) connectView(f connectForm) connectView {
	if f.Hosting == "" {
		f.Hosting = "gitlab.com"
	}
	if f.Method == "" {
		f.Method = "oauth"
	}
	return connectView{Title: "Install GitLab", Form: f, RedirectURI: u.Integrations.RedirectURI(), Scopes: scopeList}
}

func (u *UI) connectPage(w http.ResponseWriter, r *http.Request) error {
	if u.Integrations == nil {
		return errNotFound
	}
	q := r.URL.Query()
	v := u.connectView(connectForm{Hosting: q.Get("hosting"), Method: q.Get("method")})
	v.CallbackErr = q.Get("error") // what the OAuth callback could not complete; escaped by the template
	u.render(w, r, http.StatusOK, "connect", v)
	return nil
}

// readConnectForm reads the install form, urlencoded or multipart (the CA
// certificate may come as a file).
func readConnectForm(r *http.Request) (connectForm, error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			return connectForm{}, &problem.Error{Kind: problem.Malformed, Title: "Form not accepted", Message: "The form could not be read (is the CA file over 256 KiB?)."}
		}
	}
	f := connectForm{
		Hosting: r.PostFormValue("hosting"), Method: r.PostFormValue("method"), BaseURL: r.PostFormValue("base_url"),
		ClientID: strings.TrimSpace(r.PostFormValue("client_id")), Alias: strings.TrimSpace(r.PostFormValue("alias")),
		CAPEM: strings.TrimSpace(r.PostFormValue("ca_pem")), AllowHooks: r.PostFormValue("allow_hooks") == "on",
		clientSecret: secret.New(strings.TrimSpace(r.PostFormValue("client_secret"))),
		token:        secret.New(r.PostFormValue("token")),
	}
	if r.MultipartForm != nil {
		if fh, _, err := r.FormFile("ca_file"); err == nil {
			defer fh.Close()
			b, err := io.ReadAll(io.LimitReader(fh, maxCAFile+1))
			if err != nil || len(b) > maxCAFile {
				return f, &problem.Error{Kind: problem.Malformed, Title: "CA file not accepted", Message: "The CA certificate file could not be read or is over 256 KiB."}
			}
			if s := strings.TrimSpace(string(b)); s != "" {
				f.CAPEM = strings.TrimSpace(f.CAPEM + "\n" + s)
			}
		}
	}
	if f.Hosting != "self-managed" {
		f.Hosting = "gitlab.com"
	}
	f.AllowInsecureHTTP = f.Hosting == "self-managed" && r.PostFormValue("allow_insecure_http") == "on"
	if f.Method != "token" {
		f.Method = "oauth"
	}
	return f, nil
}

// connectTest runs the diagnosis on the form without saving anything.
func (u *UI) connectTest(w http.ResponseWriter, r *http.Request) error {
	f, err := readConnectForm(r)
	if err != nil {
		return err
	}
	in := integrations.TestInput{BaseURL: f.baseURL(), CAPEM: f.CAPEM, AllowInsecureHTTP: f.AllowInsecureHTTP}
	if f.Method == "token" {
		in.Token = f.token
	}
	rep := u.Integrations.Test(r.Context(), in)
	v := u.connectView(f)
	v.Report, v.Tested = &rep, true
	v.SecretAgain = !f.token.IsZero() || !f.clientSecret.IsZero()
	u.render(w, r, http.StatusOK, "connect", v)
	return nil
}

// connectOAuth starts the OAuth round trip: the browser goes to GitLab's
// consent page and comes back to the API's callback, which sends it to the
// integration's page (the project picker on a new integration).
func (u *UI) connectOAuth(w http.ResponseWriter, r *http.Request) error {
	f, err := readConnectForm(r)
	if err != nil {
		return err
	}
	res, err := u.Integrations.StartOAuth(r.Context(), actor(r), integrations.StartInput{
		BaseURL: f.baseURL(), ClientID: f.ClientID, ClientSecret: f.clientSecret, Alias: f.Alias, CAPEM: f.CAPEM,
		AllowHookRegistration: f.AllowHooks, AllowInsecureHTTP: f.AllowInsecureHTTP})
	if err != nil {
		return u.connectFailed(w, r, f, err)
	}
	http.Redirect(w, r, res.AuthorizeURL, http.StatusSeeOther)
	return nil
}

// connectToken connects with an access token; the service runs the
// diagnosis first and saves nothing when it fails.
func (u *UI) connectToken(w http.ResponseWriter, r *http.Request) error {
	f, err := readConnectForm(r)
	if err != nil {
		return err
	}
	res, err := u.Integrations.ConnectToken(r.Context(), actor(r), integrations.TokenInput{
		BaseURL: f.baseURL(), Token: f.token, Alias: f.Alias, CAPEM: f.CAPEM, AllowHookRegistration: f.AllowHooks,
		AllowInsecureHTTP: f.AllowInsecureHTTP})
	if err != nil {
		return u.connectFailed(w, r, f, err)
	}
	http.Redirect(w, r, "/integrations/"+itoa(res.Integration.ID)+"/projects?notice=connected", http.StatusSeeOther)
	return nil
}

// connectFailed shows the install page again with what went wrong and,
// when the service ran it, the diagnosis.
func (u *UI) connectFailed(w http.ResponseWriter, r *http.Request, f connectForm, err error) error {
	var ie *problem.Error
	if !errors.As(err, &ie) {
		return err
	}
	v := u.connectView(f)
	v.Error, v.SecretAgain = ie, true
	v.Report, _ = ie.Diagnosis.(*diagnose.Report)
	u.render(w, r, statusOf(ie.Kind), "connect", v)
	return nil
}
