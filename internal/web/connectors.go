package web

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// connectorWarning is one thing about an integration that needs someone to
// act, and where to act.
type connectorWarning struct {
	Kind    string // token, sync, webhook, status
	Message string
	Link    string
	Action  string
}

// connectorRow is one integration in the Connectors list.
type connectorRow struct {
	integrations.View
	Warnings []connectorWarning
}

type connectorsView struct {
	// Connected are the integrations that are not disconnected, each with
	// its warnings; Disconnected are listed apart, below them.
	Connected    []connectorRow
	Disconnected []connectorRow
	Admin        bool
}

// PageTitle is the page's title.
func (connectorsView) PageTitle() string { return "Connectors" }

// expirySoonDays is how close to its expiry an access token gets a warning
// in the Connectors list.
const expirySoonDays = 14

func (u *UI) connectors(w http.ResponseWriter, r *http.Request) error {
	s := sessionFrom(r.Context())
	v := connectorsView{Admin: adminLevel.allows(s.Role)}
	if u.Integrations != nil {
		list, err := u.Integrations.List(r.Context(), s.OrgID)
		if err != nil {
			return err
		}
		for _, in := range list {
			row := connectorRow{View: in}
			if in.Status == store.StatusDisconnected {
				v.Disconnected = append(v.Disconnected, row)
				continue
			}
			if row.Warnings, err = u.warnings(r.Context(), s.OrgID, in, v.Admin); err != nil {
				return err
			}
			v.Connected = append(v.Connected, row)
		}
	}
	u.render(w, r, http.StatusOK, "connectors", v)
	return nil
}

// warnings lists what needs acting on for a connected integration: a state
// that stops syncing, an access token near or past its expiry, a last sync
// that ended with errors, and webhooks gone quiet while polling carries the
// load. Links go where an admin acts (a member is sent to the page that
// explains).
func (u *UI) warnings(ctx context.Context, orgID int64, in integrations.View, admin bool) ([]connectorWarning, error) {
	page := "/integrations/" + itoa(in.ID)
	creds := page
	if admin {
		creds = page + "/credentials"
	}
	var out []connectorWarning
	switch in.Status {
	case store.StatusActive:
	case store.StatusNeedsNewToken:
		out = append(out, connectorWarning{Kind: "status", Message: "Needs a new token: labsync cannot read this GitLab, syncing is paused.", Link: creds, Action: "Replace the token"})
	case store.StatusNeedsReauthorization:
		action := "See what to do"
		if admin {
			action = "Authorise again"
		}
		out = append(out, connectorWarning{Kind: "status", Message: "GitLab must authorise labsync again (re-authorisation): syncing is paused.", Link: page + "#attention", Action: action})
	default:
		out = append(out, connectorWarning{Kind: "status", Message: "Needs attention: " + in.StatusText + "; syncing is paused.", Link: page + "#attention", Action: "See what to do"})
	}
	if t := in.Token; t != nil && !t.AutoRefresh && t.DaysLeft != nil && t.ExpiresAt != nil && *t.DaysLeft <= expirySoonDays {
		msg := fmt.Sprintf("The access token expires on %s (in %d days).", t.ExpiresAt.UTC().Format("2006-01-02"), *t.DaysLeft)
		switch {
		case *t.DaysLeft < 0 || !t.ExpiresAt.After(u.st.Now()):
			msg = fmt.Sprintf("The access token expired on %s.", t.ExpiresAt.UTC().Format("2006-01-02"))
		case *t.DaysLeft == 0:
			msg = fmt.Sprintf("The access token expires within a day (on %s).", t.ExpiresAt.UTC().Format("2006-01-02"))
		}
		out = append(out, connectorWarning{Kind: "token", Message: msg, Link: creds, Action: "Replace the token"})
	}
	if u.Sync != nil {
		rep, err := u.Sync.Progress(ctx, orgID, in.ID, true)
		if err != nil {
			return nil, err
		}
		failed := 0
		for _, p := range rep.Projects {
			for _, r := range p.Resources {
				if r.Status == store.ProgressForbidden || r.Status == store.ProgressNotFound || r.Status == store.ProgressFailed {
					failed++
					break
				}
			}
		}
		if failed > 0 && rep.State == store.SyncIdle {
			out = append(out, connectorWarning{Kind: "sync", Message: fmt.Sprintf("The last sync ended with errors in %d of %d %s.", failed, len(rep.Projects), plural(len(rep.Projects), "project", "projects")),
				Link: page + "#prob-h", Action: "See the problems"})
		}
	}
	if in.Status == store.StatusActive {
		i, err := u.st.Integration(ctx, orgID, in.ID)
		if err != nil {
			return nil, err
		}
		sel, err := u.st.SelectionFor(ctx, orgID, in.ID)
		if err != nil {
			return nil, err
		}
		quiet := i.WebhookLastReceivedAt == nil || u.st.Now().Sub(*i.WebhookLastReceivedAt) > syncer.WebhooksQuietAfter
		if quiet && !sel.UpdatedAt.IsZero() {
			msg := "No webhook delivery yet: labsync polls every minute instead, so data can lag and GitLab's rate limits are spent."
			if i.WebhookLastReceivedAt != nil {
				msg = "No webhook delivery since " + whenWords(*i.WebhookLastReceivedAt) + ": polling carries the load."
			}
			out = append(out, connectorWarning{Kind: "webhook", Message: msg, Link: page + "#hook-h", Action: "Check the webhook"})
		}
	}
	return out, nil
}
