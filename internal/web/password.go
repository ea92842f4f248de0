package web

import (
	"errors"
	"net/http"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/problem"
)

type passwordView struct {
	Title    string
	FirstRun bool
	Error    string
}

func (u *UI) passwordPage(w http.ResponseWriter, r *http.Request) error {
	s := sessionFrom(r.Context())
	u.render(w, r, http.StatusOK, "password", passwordView{Title: "Change your password", FirstRun: !s.PasswordChanged})
	return nil
}

func (u *UI) changePassword(w http.ResponseWriter, r *http.Request) error {
	s := sessionFrom(r.Context())
	err := u.Accounts.ChangePassword(r.Context(), s, r.PostFormValue("current_password"), r.PostFormValue("new_password"), r.PostFormValue("confirm_password"), u.clientIP(r))
	var p *problem.Error
	if errors.As(err, &p) {
		var th *accounts.Throttled
		if errors.As(err, &th) {
			w.Header().Set("Retry-After", th.RetryAfter())
		}
		u.render(w, r, statusOf(p.Kind), "password", passwordView{Title: "Change your password", FirstRun: !s.PasswordChanged, Error: p.Message})
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/connectors?notice=password", http.StatusSeeOther)
	return nil
}
