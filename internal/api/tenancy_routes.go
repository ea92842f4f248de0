package api

import (
	"net"
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
	a.route(mux, "POST /api/v1/invitations/accept", anyMember, a.acceptInvitation)
	a.public(mux, "POST /api/v1/invitations/redeem", a.redeemInvitation)
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

// addMember invites an address into the caller's organisation. The
// answer is the same whether or not labsync knows the address: an
// invitation and its code, shown once, to pass on. Nothing of the
// address's other organisations (its name, its sign-ins) is shown.
func (a *API) addMember(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
		Name  string `json:"name"` // accepted and ignored: invitees name themselves
		Role  string `json:"role"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	inv, err := a.Accounts.AddMember(r.Context(), caller(r), in.Email, in.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"invitation": inv.Invitation, "code": inv.Code,
		"note": "Pass this code on privately; it is shown only now. The invitee joins with POST /api/v1/invitations/redeem " +
			"(their own password if they already use labsync, else the one they choose), or POST /api/v1/invitations/accept while signed in."})
	return nil
}

// acceptInvitation lets the caller join the organisation of an invitation
// for their own address.
func (a *API) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	inv, err := a.Accounts.AcceptInvitation(r.Context(), caller(r), in.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"joined": true, "organization_id": inv.OrgID, "role": inv.Role})
	return nil
}

// redeemInvitation joins without a session: {code, password, name}. The
// client address is the connection's peer (the API trusts no forwarded
// header); attempts are throttled per code and address.
func (a *API) redeemInvitation(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code     string `json:"code"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	inv, err := a.Accounts.RedeemInvitation(r.Context(), in.Code, in.Name, in.Password, host)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"joined": true, "organization_id": inv.OrgID, "email": inv.Email, "role": inv.Role,
		"note": "Sign in at /signin with this address and password."})
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
