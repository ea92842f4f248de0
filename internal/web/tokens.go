package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// tokenRow is one API token as the list shows it: never the token, only
// its prefix and its state.
type tokenRow struct {
	store.APIToken
	Holder string
	State  string
	Mine   bool
}

// tokensView is what templates/tokens.html shows. Members see their own
// tokens; owners and admins see every token of the organisation.
type tokensView struct {
	Tokens  []tokenRow
	All     bool
	MaxDays int
	Created *accounts.IssuedToken
	Gone    bool
	Error   *problem.Error
	Form    struct{ Name, Days string }
}

// PageTitle is the page's title.
func (tokensView) PageTitle() string { return "API tokens" }

// tokenState names a token's state at now.
func tokenState(t store.APIToken, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	}
	return "active"
}

func (u *UI) tokensView(r *http.Request) (tokensView, error) {
	p := sessionFrom(r.Context()).Principal()
	ts, err := u.Accounts.Tokens(r.Context(), p)
	if err != nil {
		return tokensView{}, err
	}
	v := tokensView{All: p.IsAdmin(), MaxDays: accounts.MaxTokenDays}
	v.Form.Days = "90"
	holders := map[int64]string{}
	if v.All {
		ms, err := u.Accounts.Members(r.Context(), p)
		if err != nil {
			return tokensView{}, err
		}
		for _, m := range ms {
			holders[m.UserID] = m.Email
		}
	}
	now := u.st.Now()
	for _, t := range ts {
		row := tokenRow{APIToken: t, State: tokenState(t, now), Mine: t.UserID == p.UserID, Holder: holders[t.UserID]}
		if row.Holder == "" {
			row.Holder = "user " + itoa(t.UserID)
		}
		v.Tokens = append(v.Tokens, row)
	}
	return v, nil
}

func (u *UI) tokensPage(w http.ResponseWriter, r *http.Request) error {
	v, err := u.tokensView(r)
	if err != nil {
		return err
	}
	if t, ok := u.flash.take(sessionFrom(r.Context()), "tokens").(accounts.IssuedToken); ok {
		v.Created = &t
	} else if r.URL.Query().Get("notice") == "token" {
		v.Gone = true
	}
	u.render(w, r, http.StatusOK, "tokens", v)
	return nil
}

// createToken makes a token for the signed-in user; it waits for the
// redirected GET, which shows it once.
func (u *UI) createToken(w http.ResponseWriter, r *http.Request) error {
	s := sessionFrom(r.Context())
	name, daysText := r.PostFormValue("name"), strings.TrimSpace(r.PostFormValue("expires_in_days"))
	days, err := strconv.Atoi(daysText)
	if err != nil {
		return u.tokensFailed(w, r, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "expires_in_days",
			Message: "Expires in must be a whole number of days (0 for a token that does not expire)."}, name, daysText)
	}
	t, err := u.Accounts.CreateToken(r.Context(), s.Principal(), name, days)
	if err != nil {
		return u.tokensFailed(w, r, err, name, daysText)
	}
	u.flash.put(s, "tokens", t)
	http.Redirect(w, r, "/tokens?notice=token", http.StatusSeeOther)
	return nil
}

// revokeToken revokes one of the user's tokens (any of the organisation's
// for owners and admins; another's is "not found" to a member).
func (u *UI) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := store.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := u.Accounts.RevokeToken(r.Context(), sessionFrom(r.Context()).Principal(), id); err != nil {
		return err
	}
	http.Redirect(w, r, "/tokens?notice=revoked", http.StatusSeeOther)
	return nil
}

func (u *UI) tokensFailed(w http.ResponseWriter, r *http.Request, err error, name, days string) error {
	p, ok := userProblem(err)
	if !ok {
		return err
	}
	v, verr := u.tokensView(r)
	if verr != nil {
		return verr
	}
	v.Error = p
	v.Form.Name, v.Form.Days = name, days
	u.render(w, r, statusOf(p.Kind), "tokens", v)
	return nil
}
