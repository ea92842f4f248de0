package accounts

import (
	"context"
	"errors"
	"fmt"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// Organization returns p's organisation.
func (s *Service) Organization(ctx context.Context, p Principal) (store.Organization, error) {
	return s.st.Organization(ctx, p.OrgID)
}

// CodeConfirmationRequired is the code of DeleteOrganization's refusal
// when confirm is not the organisation's name.
const CodeConfirmationRequired = "confirmation_required"

// errNoIntegrations refuses deleting where no integrations service runs.
var errNoIntegrations = &problem.Error{Kind: problem.Unavailable, Code: "sync_unavailable",
	Message: "this server does not run the sync service"}

// DeleteOrganization deletes p's organisation when confirm is its name:
// it disconnects every integration, destroys the organisation's keys, then
// deletes its rows. There is no undo. It returns the organisation deleted;
// a wrong confirm is a Malformed problem of code confirmation_required
// about the field "confirm", and nothing is changed.
func (s *Service) DeleteOrganization(ctx context.Context, p Principal, confirm string) (store.Organization, error) {
	o, err := s.st.Organization(ctx, p.OrgID)
	if err != nil {
		return store.Organization{}, err
	}
	if confirm != o.Name {
		return o, &problem.Error{Kind: problem.Malformed, Code: CodeConfirmationRequired, Field: "confirm",
			Message: "deleting an organisation destroys its keys and every row it owns, with no undo",
			Remedy:  fmt.Sprintf("send {\"confirm\": %q} to confirm", o.Name)}
	}
	if s.integrations == nil {
		return o, errNoIntegrations
	}
	if err := s.integrations.DeleteOrganization(ctx, p.Actor()); err != nil {
		return o, err
	}
	return o, nil
}

// FirstStart is what Setup created: the first organisation, its owner and
// the owner's one-time password, to be shown once.
type FirstStart struct {
	Org      store.Organization
	Owner    store.User
	Password string
}

// Setup creates the first organisation ("Default") and its owner
// (owner@localhost, with a one-time password) on an empty database.
// created is false, and nothing is done, when an organisation exists —
// also when another replica created it at the same moment.
func Setup(ctx context.Context, st *store.Store) (first FirstStart, created bool, err error) {
	if n, err := st.CountOrganizations(ctx); err != nil || n > 0 {
		return FirstStart{}, false, err
	}
	password, err := RandomPassword()
	if err != nil {
		return FirstStart{}, false, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return FirstStart{}, false, err
	}
	b, created, err := st.BootstrapIfEmpty(ctx, "Default", "owner@localhost", hash)
	if err != nil || !created {
		return FirstStart{}, false, err
	}
	return FirstStart{Org: b.Org, Owner: b.Owner, Password: password}, true, nil
}

// CreatedOrganization is what CreateOrganization made; Password is set
// only when the owner was created, to be shown once.
type CreatedOrganization struct {
	Org      store.Organization
	Owner    store.User
	Password string
}

// CreateOrganization creates an organisation named name owned by the user
// with ownerEmail: an existing user joins as owner, a new one is created
// with a one-time password. It is the operator's use-case (the command
// line): the audit entry's actor is "cli".
func (s *Service) CreateOrganization(ctx context.Context, name, ownerEmail string) (CreatedOrganization, error) {
	var out CreatedOrganization
	u, err := s.st.UserByEmail(ctx, ownerEmail)
	if errors.Is(err, store.ErrNotFound) {
		u, out.Password, err = s.createUser(ctx, ownerEmail, "Owner")
	}
	if err != nil {
		return CreatedOrganization{}, err
	}
	o, err := s.st.CreateOrganization(ctx, name, u.ID)
	if err != nil {
		return CreatedOrganization{}, err
	}
	uid := u.ID
	if err := s.st.Audit(ctx, store.AuditEntry{OrgID: o.ID, ActorUserID: &uid, Actor: "cli", Action: "organization.created",
		Target: fmt.Sprintf("organization:%d", o.ID)}); err != nil {
		return CreatedOrganization{}, err
	}
	out.Org, out.Owner = o, u
	return out, nil
}

// ErrNoOrganization means no organisation exists yet.
var ErrNoOrganization = errors.New("no organisation yet: start `labsync serve` once to create the first one")

// OperatorToken is a token IssueOperatorToken made, with whom it acts as.
type OperatorToken struct {
	IssuedToken
	Org  store.Organization
	User store.User
}

// IssueOperatorToken makes an API token from the command line for the user
// with email (empty: the first organisation's first owner), in the first
// organisation. The audit entry's actor is "cli".
func (s *Service) IssueOperatorToken(ctx context.Context, email, name string) (OperatorToken, error) {
	org, user, err := s.st.FirstOwner(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return OperatorToken{}, ErrNoOrganization
	}
	if err != nil {
		return OperatorToken{}, err
	}
	if email != "" {
		if user, err = s.st.UserByEmail(ctx, email); err != nil {
			return OperatorToken{}, fmt.Errorf("user %s: %w", email, err)
		}
		if _, err := s.st.MemberRole(ctx, org.ID, user.ID); err != nil {
			return OperatorToken{}, fmt.Errorf("user %s is not a member of organisation %q", email, org.Name)
		}
	}
	tok, prefix, hash, err := NewAPIToken()
	if err != nil {
		return OperatorToken{}, err
	}
	t, err := s.st.CreateAPIToken(ctx, org.ID, user.ID, name, prefix, hash)
	if err != nil {
		return OperatorToken{}, err
	}
	if err := s.st.Audit(ctx, store.AuditEntry{OrgID: org.ID, Actor: "cli", Action: "api_token.created",
		Target: fmt.Sprintf("api_token:%d", t.ID), Detail: []byte(fmt.Sprintf(`{"name":%q,"user":%q}`, name, user.Email))}); err != nil {
		return OperatorToken{}, err
	}
	return OperatorToken{IssuedToken: IssuedToken{Token: tok, APIToken: t}, Org: org, User: user}, nil
}

// RevokeOperatorToken revokes token id of organisation orgID from the
// command line (actor "cli"); a token that is not live there is
// store.ErrNotFound.
func (s *Service) RevokeOperatorToken(ctx context.Context, orgID, id int64) error {
	if err := s.st.RevokeAPIToken(ctx, orgID, id); err != nil {
		return err
	}
	return s.st.Audit(ctx, store.AuditEntry{OrgID: orgID, Actor: "cli", Action: "api_token.revoked", Target: fmt.Sprintf("api_token:%d", id)})
}
