package web

import (
	"net/http"
	"time"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/store"
)

type disconnectView struct {
	V      integrations.View
	Counts store.DataCounts
	// PurgeWithin is how long after disconnecting the synced data is gone.
	PurgeWithin string
}

// PageTitle is the page's title.
func (v disconnectView) PageTitle() string { return "Disconnect " + v.V.Alias }

func (u *UI) disconnectView(r *http.Request) (disconnectView, error) {
	in, err := u.integration(r)
	if err != nil {
		return disconnectView{}, err
	}
	s := sessionFrom(r.Context())
	v := disconnectView{PurgeWithin: purgeWords(integrations.PurgeWindow)}
	if v.V, err = u.Integrations.View(r.Context(), s.OrgID, in.ID); err != nil {
		return v, err
	}
	if v.Counts, err = u.st.CountData(r.Context(), s.OrgID, in.ID); err != nil {
		return v, err
	}
	return v, nil
}

func purgeWords(d time.Duration) string {
	if d%time.Hour == 0 {
		return itoa(int64(d/time.Hour)) + " hours"
	}
	return d.String()
}

// disconnectPage asks for confirmation, saying what goes now and what later.
// An integration already disconnected has nothing to ask: its page says
// what happened.
func (u *UI) disconnectPage(w http.ResponseWriter, r *http.Request) error {
	v, err := u.disconnectView(r)
	if err != nil {
		return err
	}
	if v.V.Status == store.StatusDisconnected {
		http.Redirect(w, r, "/integrations/"+itoa(v.V.ID), http.StatusSeeOther)
		return nil
	}
	u.render(w, r, http.StatusOK, "disconnect", v)
	return nil
}

// disconnect runs the service's disconnect (webhooks labsync registered
// removed, OAuth token revoked, secrets deleted, purge scheduled) and
// redirects to the integration's page, which says what was destroyed; what
// removing the webhooks did waits for that one GET.
func (u *UI) disconnect(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	res, err := u.Integrations.Disconnect(r.Context(), actor(r), in.ID)
	if err != nil {
		return err
	}
	u.flash.put(sessionFrom(r.Context()), flashPage(in.ID), res)
	http.Redirect(w, r, "/integrations/"+itoa(in.ID)+"?notice=disconnected", http.StatusSeeOther)
	return nil
}
