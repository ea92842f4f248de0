package web

import (
	"net/http"
	"unicode/utf8"

	"github.com/labsync/labsync/internal/auth"
)

// MinPasswordLength is the shortest password a user may choose.
const MinPasswordLength = 12

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
	ctx := r.Context()
	cur, next, confirm := r.PostFormValue("current_password"), r.PostFormValue("new_password"), r.PostFormValue("confirm_password")
	v := passwordView{Title: "Change your password", FirstRun: !s.PasswordChanged}
	fail := func(msg string) error {
		v.Error = msg
		u.render(w, r, http.StatusUnprocessableEntity, "password", v)
		return nil
	}
	hash, err := u.st.UserPasswordHash(ctx, s.UserID)
	if err != nil {
		return err
	}
	if hash == "" || auth.VerifyPassword(hash, cur) != nil {
		u.audit(r, s.OrgID, &s.UserID, "user.password_change_failed", "user:"+itoa(s.UserID), `{"reason":"current password wrong"}`)
		return fail("The current password is not right.")
	}
	switch {
	case utf8.RuneCountInString(next) < MinPasswordLength:
		return fail("Choose a new password of at least 12 characters.")
	case next != confirm:
		return fail("The two new passwords differ; type the same one twice.")
	case next == cur:
		return fail("The new password must differ from the current one.")
	}
	newHash, err := auth.HashPassword(next)
	if err != nil {
		return err
	}
	if err := u.st.SetUserPassword(ctx, s.UserID, newHash); err != nil {
		return err
	}
	// Other browsers signed in with the old password are signed out.
	if err := u.st.DeleteUserSessions(ctx, s.UserID, s.IDHash); err != nil {
		return err
	}
	u.audit(r, s.OrgID, &s.UserID, "user.password_changed", "user:"+itoa(s.UserID), "")
	http.Redirect(w, r, "/connectors?notice=password", http.StatusSeeOther)
	return nil
}
