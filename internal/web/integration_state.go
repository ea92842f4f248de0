package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/webhook"
)

// The integration page is drawn in exactly one of these states, and the
// state decides every section: a page never says "disconnected" beside a
// green webhook or a poll interval.
const (
	// stateConnected: labsync reads the GitLab; sync, webhook and poller
	// sections show what they do.
	stateConnected = "connected"
	// stateAttention: the integration exists but labsync cannot read the
	// GitLab (a new token, a new authorisation, or GitLab unreachable):
	// polling is paused, the page says what to do.
	stateAttention = "attention"
	// stateDisconnected: the credential and webhook secret are gone; the
	// page says who ended it, when, what was destroyed and the purge.
	stateDisconnected = "disconnected"
)

// pageState is the state the integration page is drawn in for status.
func pageState(status string) string {
	switch status {
	case store.StatusActive:
		return stateConnected
	case store.StatusDisconnected:
		return stateDisconnected
	}
	return stateAttention
}

// endedView is what a disconnected integration's page says happened.
type endedView struct {
	// By names who disconnected it: "Name (e-mail)", or the actor the
	// audit log recorded when it was no user.
	By string
	At time.Time
	// Destroyed lists, in sentences, what went at the disconnect.
	Destroyed []string
	// Purge says, once, when the synced data was or will be deleted.
	Purge string
	// PurgeFailed is the purge's last failure, while it retries.
	PurgeFailed string
	// Hooks is what removing labsync's webhooks from GitLab did, shown
	// on the first view after the disconnect only.
	Hooks []webhook.ProjectHookResult
}

// disconnectDetail is what the "integration.disconnected" audit entry
// records.
type disconnectDetail struct {
	Revoked         bool   `json:"revoked"`
	RevocationError string `json:"revocation_error"`
	AuthMethod      string `json:"auth_method"`
	OAuthAppDeleted bool   `json:"oauth_app_deleted"`
}

// ended reads what happened to a disconnected integration from its record
// and the audit log.
func (u *UI) ended(ctx context.Context, orgID int64, v integrations.View, counts store.DataCounts) (*endedView, error) {
	e := &endedView{By: "someone"}
	var d disconnectDetail
	d.AuthMethod = v.AuthMethod
	entry, err := u.st.LastAudit(ctx, orgID, "integration.disconnected", fmt.Sprintf("integration:%d", v.ID))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		e.At = entry.At
		_ = json.Unmarshal(entry.Detail, &d)
		if entry.Actor != "" {
			e.By = entry.Actor
		}
		if entry.ActorUserID != nil {
			usr, err := u.st.UserByID(ctx, *entry.ActorUserID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				e.By = "a user no longer in labsync"
			case err != nil:
				return nil, err
			case usr.Name != "":
				e.By = usr.Name + " (" + usr.Email + ")"
			default:
				e.By = usr.Email
			}
		}
	}
	if v.Purge != nil {
		e.At = v.Purge.DisconnectedAt
	}
	switch {
	case d.AuthMethod == store.AuthMethodOAuth && d.Revoked:
		e.Destroyed = append(e.Destroyed, "The OAuth token: revoked at GitLab, and labsync's copy deleted.")
	case d.AuthMethod == store.AuthMethodOAuth:
		why := "GitLab did not confirm the revocation"
		if d.RevocationError != "" {
			why += " (" + d.RevocationError + ")"
		}
		e.Destroyed = append(e.Destroyed, "labsync's copy of the OAuth token. "+why+
			": remove labsync's access in GitLab under User settings → Applications → Authorized applications.")
	default:
		e.Destroyed = append(e.Destroyed, "labsync's copy of the access token. labsync never writes to GitLab, so the token itself still works: "+
			"revoke it in GitLab (User settings → Access tokens) if nothing else uses it.")
	}
	if d.OAuthAppDeleted {
		e.Destroyed = append(e.Destroyed, "The OAuth application's secret saved in labsync (no other integration used it).")
	}
	e.Destroyed = append(e.Destroyed, "The webhook secret and signing token: deliveries to the webhook URL are answered 404.")
	if v.AllowHookRegistration {
		e.Destroyed = append(e.Destroyed, "The webhooks labsync had registered in GitLab's projects (removed while the credential still worked).")
	}
	if u.Repository != nil {
		e.Destroyed = append(e.Destroyed, "The Git mirrors of its repositories.")
	}
	e.Destroyed = append(e.Destroyed, "Syncing and polling: labsync no longer reads "+v.BaseURL+".")
	switch p := v.Purge; {
	case p != nil && p.PurgedAt != nil:
		e.Purge = "The purge ran on " + whenWords(*p.PurgedAt) + ": everything synced from this GitLab is deleted."
	case p != nil:
		e.Purge = fmt.Sprintf("The purge deletes what is still stored — %s — by %s.", storedWords(counts), whenWords(p.Deadline))
		if p.LastError != "" {
			e.PurgeFailed = fmt.Sprintf("The purge has failed %d time(s), last with: %s. labsync tries again every few minutes until it succeeds.", p.Attempts, p.LastError)
		}
	default:
		e.Purge = "No purge is recorded for this integration."
	}
	return e, nil
}

// whenWords is the one format the pages give a moment in.
func whenWords(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// capabilityWords says what a capability's status means for the user.
var capabilityWords = map[gitlab.CapabilityStatus]string{
	gitlab.CapOK:          "available",
	gitlab.CapDegraded:    "partly",
	gitlab.CapUnavailable: "unavailable",
}

// syncBar is one bar of the sync section: one resource's share (or every
// resource's, under "all") of the selected projects' latest passes, with
// its units named.
type syncBar struct {
	Resource string `json:"resource"`
	Label    string `json:"label"`
	// Percent is the share done: a project whose pass ended counts in
	// full, a running one for the share of its announced items fetched.
	Percent int `json:"percent"`
	// Text says it in words: "7 of 10 projects · 120 pipelines fetched by
	// the latest sync · 1 with errors".
	Text string `json:"text"`
}

// syncBars are the bars of rep (which must carry its projects' detail):
// one per resource in name order, then "all".
func syncBars(rep syncer.Report) []syncBar {
	type acc struct {
		projects map[int64]bool // project → every chain closed
		failed   map[int64]bool
		share    float64
		chains   int
		items    int64
	}
	accs := map[string]*acc{}
	get := func(k string) *acc {
		a := accs[k]
		if a == nil {
			a = &acc{projects: map[int64]bool{}, failed: map[int64]bool{}}
			accs[k] = a
		}
		return a
	}
	for _, p := range rep.Projects {
		for _, r := range p.Resources {
			open := r.Status == store.ProgressPending || r.Status == store.ProgressRunning
			failed := r.Status == store.ProgressForbidden || r.Status == store.ProgressNotFound || r.Status == store.ProgressFailed
			known := r.ItemsDone
			if r.ItemsKnown != nil && *r.ItemsKnown > known {
				known = *r.ItemsKnown
			}
			for _, k := range []string{r.Resource, "all"} {
				a := get(k)
				closed, seen := a.projects[p.ProjectID]
				a.projects[p.ProjectID] = (closed || !seen) && !open
				if failed {
					a.failed[p.ProjectID] = true
				}
				a.chains++
				a.items += r.ItemsDone
				switch {
				case !open:
					a.share++
				case known > 0:
					a.share += float64(r.ItemsDone) / float64(known)
				}
			}
		}
	}
	keys := make([]string, 0, len(accs))
	for k := range accs {
		if k != "all" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(accs) > 0 {
		keys = append(keys, "all")
	}
	out := make([]syncBar, 0, len(keys))
	for _, k := range keys {
		a := accs[k]
		done := 0
		for _, closed := range a.projects {
			if closed {
				done++
			}
		}
		unit, label := resourceWords(k), resourceWords(k)
		if k == "all" {
			unit, label = "items", "all"
		}
		b := syncBar{Resource: k, Label: label}
		if a.chains > 0 {
			b.Percent = int(min(100, 100*a.share/float64(a.chains)))
		}
		if one, ok := singular[unit]; ok && a.items == 1 {
			unit = one
		}
		b.Text = fmt.Sprintf("%d of %d %s · %d %s fetched by the latest sync", done, len(a.projects), plural(len(a.projects), "project", "projects"), a.items, unit)
		if n := len(a.failed); n > 0 {
			b.Text += fmt.Sprintf(" · %d %s with errors", n, plural(n, "project", "projects"))
		}
		out = append(out, b)
	}
	return out
}

// singular names one item of a resource.
var singular = map[string]string{"merge requests": "merge request", "issues": "issue", "pipelines": "pipeline",
	"pushes": "push", "commits": "commit", "items": "item", "notes": "note", "approvals": "approval",
	"merge request commits": "merge request commit", "jobs": "job", "environments": "environment",
	"deployments": "deployment", "releases": "release", "tags": "tag", "pipeline times": "pipeline time"}

// resourceWords names a sync resource (a chain's key) in words: its key
// with spaces, but for the abbreviated ones.
func resourceWords(key string) string {
	if key == "mr_commits" {
		return "merge request commits"
	}
	return strings.ReplaceAll(key, "_", " ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// storedWords says what is stored of an integration's data: the four
// first resources always, the others (commits, review and delivery data)
// where there are any.
func storedWords(c store.DataCounts) string {
	parts := []string{fmt.Sprintf("%d merge requests, %d issues, %d pipelines, %d pushes", c.MergeRequests, c.Issues, c.Pipelines, c.Pushes)}
	for _, x := range []struct {
		n         int64
		one, many string
	}{{c.Commits, "commit", "commits"}, {c.Notes, "note", "notes"}, {c.Approvals, "approval", "approvals"},
		{c.Jobs, "job", "jobs"}, {c.Deployments, "deployment", "deployments"}, {c.Environments, "environment", "environments"},
		{c.Releases, "release", "releases"}, {c.Tags, "tag", "tags"}} {
		if x.n > 0 {
			parts = append(parts, counted(int(x.n), x.one, x.many))
		}
	}
	return strings.Join(parts, ", ")
}
