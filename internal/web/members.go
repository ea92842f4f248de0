package web

import (
	"errors"
	"net/http"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// membersView is what templates/members.html shows: the organisation's
// members (facts of this organisation only: role, when they joined, when
// they last signed in here) and, once, the invitation code just made.
type membersView struct {
	Members []store.Member
	Me      int64
	Owner   bool
	Roles   []store.Role
	Invited *accounts.Invited
	// Gone says an invitation was made but its code can no longer be
	// shown (already shown, or the server restarted in between).
	Gone  bool
	Error *problem.Error
	Form  struct{ Email, Role string }
}

// PageTitle is the page's title.
func (membersView) PageTitle() string { return "Members" }

func (u *UI) membersView(r *http.Request) (membersView, error) {
	s := sessionFrom(r.Context())
	p := s.Principal()
	ms, err := u.Accounts.Members(r.Context(), p)
	if err != nil {
		return membersView{}, err
	}
	v := membersView{Members: ms, Me: p.UserID, Owner: p.Role == store.RoleOwner,
		Roles: []store.Role{store.RoleMember, store.RoleAdmin}}
	if v.Owner {
		v.Roles = append(v.Roles, store.RoleOwner)
	}
	return v, nil
}

// membersPage lists the members, with the invitation code the last POST
// made if this is the one view that may show it.
func (u *UI) membersPage(w http.ResponseWriter, r *http.Request) error {
	v, err := u.membersView(r)
	if err != nil {
		return err
	}
	if inv, ok := u.flash.take(sessionFrom(r.Context()), "members").(accounts.Invited); ok {
		v.Invited = &inv
	} else if r.URL.Query().Get("notice") == "invited" {
		v.Gone = true
	}
	u.render(w, r, http.StatusOK, "members", v)
	return nil
}

// invite invites an address; its code waits for the redirected GET.
func (u *UI) invite(w http.ResponseWriter, r *http.Request) error {
	s := sessionFrom(r.Context())
	email, role := r.PostFormValue("email"), r.PostFormValue("role")
	inv, err := u.Accounts.AddMember(r.Context(), s.Principal(), email, role)
	if err != nil {
		return u.membersFailed(w, r, err, email, role)
	}
	u.flash.put(s, "members", inv)
	http.Redirect(w, r, "/members?notice=invited", http.StatusSeeOther)
	return nil
}

func (u *UI) changeRole(w http.ResponseWriter, r *http.Request) error {
	uid, err := store.ParseID(r.PathValue("uid"))
	if err != nil {
		return err
	}
	if _, _, err := u.Accounts.ChangeMember(r.Context(), sessionFrom(r.Context()).Principal(), uid, r.PostFormValue("role")); err != nil {
		return u.membersFailed(w, r, err, "", "")
	}
	http.Redirect(w, r, "/members?notice=role", http.StatusSeeOther)
	return nil
}

// removeView is what templates/member_remove.html asks: remove this
// member? Removing also revokes their API tokens here.
type removeView struct {
	Member store.Member
	Tokens int
}

// PageTitle is the page's title.
func (v removeView) PageTitle() string { return "Remove " + v.Member.Email }

// removePage asks before a member is removed, saying what goes with them.
func (u *UI) removePage(w http.ResponseWriter, r *http.Request) error {
	uid, err := store.ParseID(r.PathValue("uid"))
	if err != nil {
		return err
	}
	p := sessionFrom(r.Context()).Principal()
	if _, err := u.Accounts.Member(r.Context(), p, uid); err != nil {
		return err
	}
	ms, err := u.Accounts.Members(r.Context(), p)
	if err != nil {
		return err
	}
	v := removeView{}
	for _, m := range ms {
		if m.UserID == uid {
			v.Member = m
		}
	}
	ts, err := u.Accounts.Tokens(r.Context(), p)
	if err != nil {
		return err
	}
	now := u.st.Now()
	for _, t := range ts {
		if t.UserID == uid && tokenState(t, now) == "active" {
			v.Tokens++
		}
	}
	u.render(w, r, http.StatusOK, "member_remove", v)
	return nil
}

func (u *UI) removeMember(w http.ResponseWriter, r *http.Request) error {
	uid, err := store.ParseID(r.PathValue("uid"))
	if err != nil {
		return err
	}
	if _, err := u.Accounts.RemoveMember(r.Context(), sessionFrom(r.Context()).Principal(), uid); err != nil {
		return u.membersFailed(w, r, err, "", "")
	}
	http.Redirect(w, r, "/members?notice=removed", http.StatusSeeOther)
	return nil
}

// membersFailed shows the list again with a refusal the user can act on
// (an invalid address, the last owner, an owner-only change); anything
// else is an error page.
func (u *UI) membersFailed(w http.ResponseWriter, r *http.Request, err error, email, role string) error {
	p, ok := userProblem(err)
	if !ok {
		return err
	}
	v, verr := u.membersView(r)
	if verr != nil {
		return verr
	}
	v.Error = p
	v.Form.Email, v.Form.Role = email, role
	u.render(w, r, statusOf(p.Kind), "members", v)
	return nil
}

// userProblem is err as a problem a form shows beside itself: invalid
// input, a conflict or a refusal. Not-found and internal errors are for
// the error page.
func userProblem(err error) (*problem.Error, bool) {
	var p *problem.Error
	switch {
	case errors.As(err, &p):
	case errors.Is(err, store.ErrConflict):
		// "ada@example.com is already a member: already exists" and the like.
		p = &problem.Error{Kind: problem.Conflict, Code: "conflict", Message: err.Error()}
	case errors.Is(err, store.ErrNotFound):
		return nil, false
	default:
		p, _ = problem.From(err)
	}
	if p == nil {
		return nil, false
	}
	switch p.Kind {
	case problem.Malformed, problem.Invalid, problem.Conflict, problem.Forbidden:
		return p, true
	}
	return nil, false
}
