package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/auth"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// registerTenancy mounts the organisation, members and API token routes.
func (a *API) registerTenancy(mux Mux) {
	a.route(mux, "GET /api/v1/organization", anyMember, a.showOrganization)
	a.route(mux, "DELETE /api/v1/organization", ownerOnly, a.deleteOrganization)
	a.route(mux, "GET /api/v1/members", anyMember, a.listMembers)
	a.route(mux, "POST /api/v1/members", adminOnly, a.addMember)
	a.route(mux, "PATCH /api/v1/members/{user_id}", adminOnly, a.changeMember)
	a.route(mux, "DELETE /api/v1/members/{user_id}", adminOnly, a.removeMember)
	a.route(mux, "GET /api/v1/tokens", anyMember, a.listTokens)
	a.route(mux, "POST /api/v1/tokens", anyMember, a.createToken)
	a.route(mux, "DELETE /api/v1/tokens/{id}", anyMember, a.revokeToken)
}

// auditAs writes an audit entry for the caller; detail holds no secret.
func (a *API) auditAs(r *http.Request, action, target string, detail map[string]any) {
	p := caller(r)
	b, _ := json.Marshal(detail)
	uid := p.UserID
	if err := a.store.Audit(r.Context(), store.AuditEntry{OrgID: p.OrgID, ActorUserID: &uid, Actor: "user",
		Action: action, Target: target, Detail: b}); err != nil {
		a.log.Warn("unable to write the audit log", "action", action, "err", err)
	}
}

func (a *API) showOrganization(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	o, err := a.store.Organization(r.Context(), p.OrgID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": o.ID, "name": o.Name, "created_at": o.CreatedAt, "your_role": p.Role})
	return nil
}

// deleteOrganization needs {"confirm": "<the organisation's name>"}: it
// disconnects every integration, destroys the organisation's keys, then
// deletes its rows. There is no undo.
func (a *API) deleteOrganization(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Confirm string `json:"confirm"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	p := caller(r)
	o, err := a.store.Organization(r.Context(), p.OrgID)
	if err != nil {
		return err
	}
	if in.Confirm != o.Name {
		return &problem.Error{Kind: problem.Malformed, Code: "confirmation_required", Field: "confirm",
			Message: "deleting an organisation destroys its keys and every row it owns, with no undo",
			Remedy:  fmt.Sprintf("send {\"confirm\": %q} to confirm", o.Name)}
	}
	if a.Integrations == nil {
		return errSyncUnavailable
	}
	if err := a.Integrations.DeleteOrganization(r.Context(), actor(r)); err != nil {
		return err
	}
	a.log.Info("organisation deleted", "org", o.ID, "by_user", p.UserID)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": true, "id": o.ID,
		"note": "The organisation's data keys are destroyed, so its sealed secrets are unreadable everywhere, backups included; its rows are deleted."})
	return nil
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := a.store.Members(r.Context(), caller(r).OrgID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": ms})
	return nil
}

func parseRole(s string) (store.Role, error) {
	switch r := store.Role(strings.TrimSpace(s)); r {
	case store.RoleOwner, store.RoleAdmin, store.RoleMember:
		return r, nil
	}
	return "", &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "role",
		Message: fmt.Sprintf("role %q is not one of owner, admin, member", s)}
}

var errOwnersOnly = &problem.Error{Kind: problem.Forbidden, Code: "forbidden",
	Message: "only an owner may make someone an owner or change an owner", Remedy: "ask an owner of your organisation"}

var errLastOwner = &problem.Error{Kind: problem.Conflict, Code: "last_owner",
	Message: "an organisation must keep at least one owner", Remedy: "make someone else an owner first"}

// addMember adds a user by email. A new user gets a one-time password in
// this response only, to pass on; an existing user just joins.
func (a *API) addMember(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
		Name  string `json:"name"`
		Role  string `json:"role"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(in.Email))
	if err != nil || addr.Address != strings.TrimSpace(in.Email) {
		return &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "email", Message: "email must be a plain address such as ada@example.com"}
	}
	if in.Role == "" {
		in.Role = string(store.RoleMember)
	}
	role, err := parseRole(in.Role)
	if err != nil {
		return err
	}
	p := caller(r)
	if role == store.RoleOwner && p.Role != store.RoleOwner {
		return errOwnersOnly
	}
	ctx := r.Context()
	out := map[string]any{}
	u, err := a.store.UserByEmail(ctx, addr.Address)
	switch {
	case errors.Is(err, store.ErrNotFound):
		password, err := auth.RandomPassword()
		if err != nil {
			return err
		}
		hash, err := auth.HashPassword(password)
		if err != nil {
			return err
		}
		if u, err = a.store.CreateUser(ctx, addr.Address, strings.TrimSpace(in.Name), hash); err != nil {
			return err
		}
		out["one_time_password"] = password
		out["note"] = "Pass this password on privately; it is shown only now. The user signs in with it and chooses their own."
	case err != nil:
		return err
	default:
		if _, err := a.store.MemberRole(ctx, p.OrgID, u.ID); err == nil {
			return fmt.Errorf("%s is already a member: %w", u.Email, store.ErrConflict)
		}
	}
	if err := a.store.AddMember(ctx, p.OrgID, u.ID, role); err != nil {
		return err
	}
	a.auditAs(r, "member.added", fmt.Sprintf("user:%d", u.ID), map[string]any{"email": u.Email, "role": role})
	out["member"] = map[string]any{"user_id": u.ID, "email": u.Email, "name": u.Name, "role": role}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// memberOf resolves {user_id} to a member of the caller's organisation and
// checks that the caller may change them.
func (a *API) memberOf(r *http.Request) (int64, store.Role, error) {
	uid, err := pathID(r, "user_id")
	if err != nil {
		return 0, "", err
	}
	p := caller(r)
	role, err := a.store.MemberRole(r.Context(), p.OrgID, uid)
	if err != nil {
		return 0, "", err
	}
	if role == store.RoleOwner && p.Role != store.RoleOwner {
		return 0, "", errOwnersOnly
	}
	return uid, role, nil
}

func (a *API) changeMember(w http.ResponseWriter, r *http.Request) error {
	uid, old, err := a.memberOf(r)
	if err != nil {
		return err
	}
	var in struct {
		Role string `json:"role"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	role, err := parseRole(in.Role)
	if err != nil {
		return err
	}
	if role == store.RoleOwner && caller(r).Role != store.RoleOwner {
		return errOwnersOnly
	}
	if err := a.store.SetMemberRole(r.Context(), caller(r).OrgID, uid, role); err != nil {
		if errors.Is(err, store.ErrLastOwner) {
			return errLastOwner
		}
		return err
	}
	a.auditAs(r, "member.role_changed", fmt.Sprintf("user:%d", uid), map[string]any{"from": old, "to": role})
	writeJSON(w, http.StatusOK, map[string]any{"user_id": uid, "role": role})
	return nil
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request) error {
	uid, old, err := a.memberOf(r)
	if err != nil {
		return err
	}
	if err := a.store.RemoveMember(r.Context(), caller(r).OrgID, uid); err != nil {
		if errors.Is(err, store.ErrLastOwner) {
			return errLastOwner
		}
		return err
	}
	a.auditAs(r, "member.removed", fmt.Sprintf("user:%d", uid), map[string]any{"role": old})
	writeJSON(w, http.StatusOK, map[string]any{"user_id": uid, "removed": true, "note": "Their API tokens in this organisation are revoked."})
	return nil
}

// listTokens shows owners and admins every token of the organisation and
// members their own; never a token itself.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	user := p.UserID
	if adminOnly.allows(p.Role) {
		user = 0
	}
	ts, err := a.store.APITokens(r.Context(), p.OrgID, user)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

// maxTokenDays bounds an API token's lifetime when one is asked for.
const maxTokenDays = 366

// createToken makes a token for the caller, acting with the caller's role,
// and shows it in this response only.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name          string `json:"name"`
		ExpiresInDays int    `json:"expires_in_days"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 100 {
		return &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "name", Message: "name must be 1 to 100 characters, to recognise the token by"}
	}
	if in.ExpiresInDays < 0 || in.ExpiresInDays > maxTokenDays {
		return &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "expires_in_days",
			Message: fmt.Sprintf("expires_in_days must be between 1 and %d, or 0 for a token that does not expire", maxTokenDays)}
	}
	var exp *time.Time
	if in.ExpiresInDays > 0 {
		t := a.store.Now().Add(time.Duration(in.ExpiresInDays) * 24 * time.Hour)
		exp = &t
	}
	tok, prefix, hash, err := auth.NewAPIToken()
	if err != nil {
		return err
	}
	p := caller(r)
	t, err := a.store.CreateExpiringAPIToken(r.Context(), p.OrgID, p.UserID, in.Name, prefix, hash, exp)
	if err != nil {
		return err
	}
	a.auditAs(r, "api_token.created", fmt.Sprintf("api_token:%d", t.ID), map[string]any{"name": t.Name, "prefix": t.Prefix})
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "api_token": t,
		"note": "This is the only time the token is shown; labsync keeps only its hash."})
	return nil
}

// revokeToken revokes one of the caller's tokens; owners and admins may
// revoke any token of the organisation. Another's token is "not found".
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p := caller(r)
	holder, err := a.store.APITokenOwner(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	if holder != p.UserID && !adminOnly.allows(p.Role) {
		return store.ErrNotFound
	}
	if err := a.store.RevokeAPIToken(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	a.auditAs(r, "api_token.revoked", fmt.Sprintf("api_token:%d", id), nil)
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
	return nil
}
