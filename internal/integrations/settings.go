package integrations

import (
	"errors"
	"fmt"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// InsecureWarning is what API and UI say about an integration reached over
// plain http.
const InsecureWarning = "This GitLab is reached over plain http: the access token and every synced item cross the network unencrypted. Use https as soon as the GitLab serves it."

// Settings are an integration's sync settings as faces show them.
type Settings struct {
	// RequestConcurrency bounds the simultaneous requests labsync sends to
	// this GitLab; 0 means the service default. Lower it when GitLab
	// answers 429 (too many requests).
	RequestConcurrency int `json:"request_concurrency"`
	// HistorySince is the earliest date (YYYY-MM-DD, UTC) the backfill
	// fetches; empty fetches the whole history.
	HistorySince string `json:"history_since,omitempty"`
	// KeepLostProjectData keeps the synced data of a project the
	// credential can no longer see instead of purging it.
	KeepLostProjectData bool `json:"keep_lost_project_data"`
}

func settingsView(st store.SyncSettings) Settings {
	out := Settings{RequestConcurrency: st.RequestConcurrency, KeepLostProjectData: st.KeepLostProjectData}
	if st.HistorySince != nil {
		out.HistorySince = st.HistorySince.UTC().Format(time.DateOnly)
	}
	return out
}

// applySettings changes st by in's sync settings and lists the fields that
// changed; a value out of range is refused with the field at fault.
func applySettings(st *store.SyncSettings, in UpdateInput) ([]string, error) {
	var changed []string
	if in.RequestConcurrency != nil && *in.RequestConcurrency != st.RequestConcurrency {
		n := *in.RequestConcurrency
		if n < 0 || n > store.MaxRequestConcurrency {
			return nil, invalid("request_concurrency", fmt.Sprintf("Give a whole number from 1 to %d, or 0 for the default.", store.MaxRequestConcurrency),
				"the request concurrency %d is outside 0..%d", n, store.MaxRequestConcurrency)
		}
		st.RequestConcurrency = n
		changed = append(changed, "request_concurrency")
	}
	if in.HistorySince != nil {
		var next *time.Time
		if *in.HistorySince != "" {
			t, err := time.Parse(time.DateOnly, *in.HistorySince)
			if err != nil {
				return nil, invalid("history_since", "Give a date as YYYY-MM-DD, or an empty value to fetch the whole history.",
					"%q is not a date", *in.HistorySince)
			}
			next = &t
		}
		if !sameDay(next, st.HistorySince) {
			st.HistorySince = next
			changed = append(changed, "history_since")
		}
	}
	if in.KeepLostProjectData != nil && *in.KeepLostProjectData != st.KeepLostProjectData {
		st.KeepLostProjectData = *in.KeepLostProjectData
		changed = append(changed, "keep_lost_project_data")
	}
	return changed, nil
}

func sameDay(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.UTC().Format(time.DateOnly) == b.UTC().Format(time.DateOnly)
}

// checkInsecureOptIn refuses the plain-http opt-in where it has no place:
// on GitLab.com, which serves https only, and on a URL that is not http.
// raw is the URL as given or stored.
func checkInsecureOptIn(raw string) error {
	b, err := gitlab.NormalizeBaseURL(raw, gitlab.AllowInsecureHTTP())
	if err != nil {
		var ue *gitlab.URLError
		if errors.As(err, &ue) {
			return invalid("base_url", ue.Remedy(), "%s", ue.Error())
		}
		return invalid("base_url", "", "the GitLab URL cannot be used")
	}
	if b.IsGitLabCom() {
		return &problem.Error{Kind: problem.Invalid, Code: CodeInvalid, Field: "allow_insecure_http",
			Message: "GitLab.com is served over https only; plain http cannot be allowed for it",
			Remedy:  "Use https://gitlab.com and leave allow_insecure_http off."}
	}
	if !b.Insecure() {
		return invalid("allow_insecure_http", "Leave allow_insecure_http off: it is only for a self-managed GitLab reached at an http:// URL on another machine.",
			"%s does not use plain http to another machine; the opt-in does not apply", b.String())
	}
	return nil
}
