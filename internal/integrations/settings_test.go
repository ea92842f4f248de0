package integrations_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
)

func TestSyncSettingsOutOfRangeAreRefusedWithTheFieldAndNothingChanges(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	res, _ := e.connectToken(t, "s", "read_api")
	id := res.Integration.ID
	ptr := func(n int) *int { return &n }
	str := func(s string) *string { return &s }
	cases := []struct {
		name  string
		in    integrations.UpdateInput
		field string
	}{
		{"a negative concurrency", integrations.UpdateInput{RequestConcurrency: ptr(-1)}, "request_concurrency"},
		{"a concurrency above the maximum", integrations.UpdateInput{RequestConcurrency: ptr(store.MaxRequestConcurrency + 1)}, "request_concurrency"},
		{"a history start that is not a date", integrations.UpdateInput{HistorySince: str("2024-13-01")}, "history_since"},
		{"a history start with a time", integrations.UpdateInput{HistorySince: str("2024-01-01T00:00:00Z")}, "history_since"},
		{"a valid concurrency with an invalid date", integrations.UpdateInput{RequestConcurrency: ptr(4), HistorySince: str("soon")}, "history_since"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.Update(ctx, e.who, id, c.in)
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Kind != problem.Invalid || pe.Field != c.field || pe.Remedy == "" {
				t.Fatalf("want an invalid %s with a remedy, got %v", c.field, describe(err))
			}
			st, err := e.st.SyncSettingsFor(ctx, e.who.OrgID, id)
			if err != nil || st != (store.SyncSettings{}) {
				t.Fatalf("settings changed by a refused update: %+v %v", st, err)
			}
		})
	}
}

func TestSyncSettingsAreSavedShownAndAuditedOnce(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	res, _ := e.connectToken(t, "s", "read_api")
	id := res.Integration.ID
	if got := res.Integration.Settings; got != (integrations.Settings{}) {
		t.Fatalf("a new integration has settings %+v, want the defaults", got)
	}
	n, since, keep := 3, "2024-02-29", true
	r, err := e.svc.Update(ctx, e.who, id, integrations.UpdateInput{RequestConcurrency: &n, HistorySince: &since, KeepLostProjectData: &keep})
	if err != nil {
		t.Fatal(describe(err))
	}
	want := integrations.Settings{RequestConcurrency: 3, HistorySince: "2024-02-29", KeepLostProjectData: true}
	if r.Integration.Settings != want || strings.Join(r.Changed, ",") != "request_concurrency,history_since,keep_lost_project_data" {
		t.Fatalf("got %+v changed %v, want %+v", r.Integration.Settings, r.Changed, want)
	}
	st, err := e.st.SyncSettingsFor(ctx, e.who.OrgID, id)
	if err != nil || st.RequestConcurrency != 3 || !st.KeepLostProjectData || st.HistorySince == nil || st.HistorySince.Format("2006-01-02") != since {
		t.Fatalf("stored %+v %v", st, err)
	}
	// The same values again change nothing and write no audit entry.
	before := auditCount(t, e, "integration.updated")
	r, err = e.svc.Update(ctx, e.who, id, integrations.UpdateInput{RequestConcurrency: &n, HistorySince: &since, KeepLostProjectData: &keep})
	if err != nil || len(r.Changed) != 0 || auditCount(t, e, "integration.updated") != before {
		t.Fatalf("a no-op update changed %v (%v)", r.Changed, err)
	}
	// An empty date clears the history start.
	empty := ""
	if r, err = e.svc.Update(ctx, e.who, id, integrations.UpdateInput{HistorySince: &empty}); err != nil || r.Integration.Settings.HistorySince != "" {
		t.Fatalf("clearing the history start: %+v %v", r.Integration.Settings, err)
	}
	if got := auditCount(t, e, "integration.updated"); got != before+1 {
		t.Fatalf("audit entries: %d, want %d", got, before+1)
	}
}

func auditCount(t *testing.T, e *env, action string) int {
	t.Helper()
	log, err := e.st.AuditLog(ctxT(t), e.who.OrgID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range log {
		if a.Action == action {
			n++
		}
	}
	return n
}

func TestThePlainHTTPOptInIsRefusedForGitLabComAndForURLsThatDoNotNeedIt(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	cases := []struct {
		name, url string
		insecure  bool
		field     string
	}{
		{"http to GitLab.com with the opt-in", "http://gitlab.com", true, "base_url"},
		{"https to GitLab.com with the opt-in", "https://gitlab.com", true, "allow_insecure_http"},
		{"https to a self-managed GitLab with the opt-in", "https://git.example.invalid", true, "allow_insecure_http"},
		{"http to a self-managed GitLab without the opt-in", "http://git.example.invalid", false, "base_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.ConnectToken(ctx, e.who, integrations.TokenInput{BaseURL: c.url, Token: secret.New("glpat-xxxxxxxxxxxxxxxxxxxx"), AllowInsecureHTTP: c.insecure})
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Field != c.field || pe.Remedy == "" {
				t.Fatalf("want a refusal of %s with a remedy, got %v", c.field, describe(err))
			}
		})
	}
	if n := len(e.sb.Requests()); n != 0 {
		t.Fatalf("a refused opt-in reached the network: %d sandbox requests", n)
	}
}

func TestAnIntegrationOverPlainHTTPIsShownInsecureAndKeepsItsOptIn(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	i := &store.Integration{OrgID: e.who.OrgID, Alias: "plain", BaseURL: "http://gitlab.corp.example", AuthMethod: store.AuthMethodToken,
		AllowInsecureHTTP: true}
	if err := e.st.CreateIntegration(ctx, nil, i); err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.View(ctx, e.who.OrgID, i.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Insecure || !v.AllowInsecureHTTP || !strings.Contains(v.InsecureWarning, "unencrypted") {
		t.Fatalf("the view does not say the integration is insecure: %+v", v)
	}
	off := false
	_, err = e.svc.Update(ctx, e.who, i.ID, integrations.UpdateInput{AllowInsecureHTTP: &off})
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Field != "allow_insecure_http" {
		t.Fatalf("turning the opt-in off while the URL needs it: %v", describe(err))
	}
	// An https integration is not insecure, and cannot take the opt-in.
	res, _ := e.connectToken(t, "tls", "read_api")
	if res.Integration.Insecure || res.Integration.InsecureWarning != "" {
		t.Fatalf("an https integration is shown insecure: %+v", res.Integration)
	}
	on := true
	if _, err := e.svc.Update(ctx, e.who, res.Integration.ID, integrations.UpdateInput{AllowInsecureHTTP: &on}); !errors.As(err, &pe) || pe.Field != "allow_insecure_http" {
		t.Fatalf("the opt-in on an https integration: %v", describe(err))
	}
}

func TestTheConfiguredProxyIsUsedByTheConnectionCheckAndTheDiagnosis(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	px := gitlabtest.StartConnectProxy(t, &gitlabtest.ConnectProxy{Refuse: 403})
	p, err := gitlab.NewProxy(gitlab.ProxySettings{GitLabProxy: "http://" + px.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	// A private address the policy refuses: the check stops before any
	// connection, and the report says which proxy it would have used.
	e.cfg.GitLabProxy, e.cfg.ForbidPrivateGitLab = p, true
	svc := e.newService()
	const url = "https://10.0.0.7"
	rep := svc.Test(ctxT(t), integrations.TestInput{BaseURL: url})
	if rep.OK || !strings.Contains(rep.Proxy, px.Addr()) {
		t.Fatalf("the diagnosis did not use the configured proxy: ok=%v proxy=%q", rep.OK, rep.Proxy)
	}
	_, err = svc.ConnectToken(ctxT(t), e.who, integrations.TokenInput{BaseURL: url, Token: secret.New("glpat-xxxxxxxxxxxxxxxxxxxx")})
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Diagnosis == nil {
		t.Fatalf("want a failed check with its diagnosis, got %v", describe(err))
	}
	if d, ok := pe.Diagnosis.(*diagnose.Report); !ok || !strings.Contains(d.Proxy, px.Addr()) {
		t.Fatalf("the connection check did not use the configured proxy: %#v", pe.Diagnosis)
	}
	if n := len(px.Connects()); n != 0 {
		t.Fatalf("the proxy was asked to connect to a refused address: %v", px.Connects())
	}
}
