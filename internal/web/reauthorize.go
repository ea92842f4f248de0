package web

import (
	"net/http"

	"github.com/labsync/labsync/internal/integrations"
)

// reauthorize sends the browser to GitLab's consent page again for an OAuth
// integration (its saved application, URL, CA and options kept); GitLab
// sends it back to the callback, which returns to the integration's page.
// This is the UI's way out of "needs reauthorization".
func (u *UI) reauthorize(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	if u.Integrations == nil {
		return errNotFound
	}
	res, err := u.Integrations.StartOAuth(r.Context(), actor(r), integrations.StartInput{IntegrationID: in.ID})
	if err != nil {
		return err
	}
	http.Redirect(w, r, res.AuthorizeURL, http.StatusSeeOther)
	return nil
}
