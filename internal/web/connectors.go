package web

import (
	"net/http"

	"github.com/labsync/labsync/internal/integrations"
)

type connectorsView struct {
	Integrations []integrations.View
	Admin        bool
}

// PageTitle is the page's title.
func (connectorsView) PageTitle() string { return "Connectors" }

func (u *UI) connectors(w http.ResponseWriter, r *http.Request) error {
	s := sessionFrom(r.Context())
	v := connectorsView{Admin: adminLevel.allows(s.Role)}
	if u.Integrations != nil {
		list, err := u.Integrations.List(r.Context(), s.OrgID)
		if err != nil {
			return err
		}
		v.Integrations = list
	}
	u.render(w, r, http.StatusOK, "connectors", v)
	return nil
}
