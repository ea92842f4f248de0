package api

import (
	"net/http"

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

func (a *API) showOrganization(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	o, err := a.Accounts.Organization(r.Context(), p)
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
	o, err := a.Accounts.DeleteOrganization(r.Context(), p, in.Confirm)
	if err != nil {
		return err
	}
	a.log.Info("organisation deleted", "org", o.ID, "by_user", p.UserID)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": true, "id": o.ID,
		"note": "The organisation's data keys are destroyed, so its sealed secrets are unreadable everywhere, backups included; its rows are deleted."})
	return nil
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := a.Accounts.Members(r.Context(), caller(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": ms})
	return nil
}

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
	m, err := a.Accounts.AddMember(r.Context(), caller(r), in.Email, in.Name, in.Role)
	if err != nil {
		return err
	}
	out := map[string]any{}
	if m.OneTimePassword != "" {
		out["one_time_password"] = m.OneTimePassword
		out["note"] = "Pass this password on privately; it is shown only now. The user signs in with it and chooses their own."
	}
	out["member"] = map[string]any{"user_id": m.User.ID, "email": m.User.Email, "name": m.User.Name, "role": m.Role}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) changeMember(w http.ResponseWriter, r *http.Request) error {
	uid, err := store.ParseID(r.PathValue("user_id"))
	if err != nil {
		return err
	}
	// Who may be changed is checked before the body is read.
	if _, err := a.Accounts.Member(r.Context(), caller(r), uid); err != nil {
		return err
	}
	var in struct {
		Role string `json:"role"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	_, role, err := a.Accounts.ChangeMember(r.Context(), caller(r), uid, in.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": uid, "role": role})
	return nil
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request) error {
	uid, err := store.ParseID(r.PathValue("user_id"))
	if err != nil {
		return err
	}
	if _, err := a.Accounts.RemoveMember(r.Context(), caller(r), uid); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": uid, "removed": true, "note": "Their API tokens in this organisation are revoked."})
	return nil
}

// listTokens shows owners and admins every token of the organisation and
// members their own; never a token itself.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.Accounts.Tokens(r.Context(), caller(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

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
	t, err := a.Accounts.CreateToken(r.Context(), caller(r), in.Name, in.ExpiresInDays)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": t.Token, "api_token": t.APIToken,
		"note": "This is the only time the token is shown; labsync keeps only its hash."})
	return nil
}

// revokeToken revokes one of the caller's tokens; owners and admins may
// revoke any token of the organisation. Another's token is "not found".
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := store.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := a.Accounts.RevokeToken(r.Context(), caller(r), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
	return nil
}
