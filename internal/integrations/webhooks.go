package integrations

import (
	"context"
	"errors"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/webhook"
)

// CodeHookRegistrationOff is RegisterWebhooks' refusal for an integration
// connected without allow_hook_registration.
const CodeHookRegistrationOff = "hook_registration_off"

var errNoWebhooks = errors.New("integrations: the webhook service is not configured")

// IssueWebhook issues (or re-issues, which stops the old secret at once)
// the webhook URL and secret of who's integration id, and a signing token
// when signing is set. The secrets are in the answer only.
func (s *Service) IssueWebhook(ctx context.Context, who Actor, id int64, signing bool) (webhook.Issued, error) {
	if s.webhooks == nil {
		return webhook.Issued{}, errNoWebhooks
	}
	if _, err := s.st.Integration(ctx, who.OrgID, id); err != nil {
		return webhook.Issued{}, err
	}
	is, err := s.webhooks.Issue(ctx, who.OrgID, id, signing)
	if err != nil {
		return webhook.Issued{}, err
	}
	return is, s.auditUse(ctx, who, "webhook.issued", id)
}

// SetWebhookSigning stores a signing token the user copied from GitLab
// (empty removes it) for who's integration id.
func (s *Service) SetWebhookSigning(ctx context.Context, who Actor, id int64, token secret.Secret) error {
	if s.webhooks == nil {
		return errNoWebhooks
	}
	if _, err := s.st.Integration(ctx, who.OrgID, id); err != nil {
		return err
	}
	if err := s.webhooks.SetSigningToken(ctx, who.OrgID, id, token); err != nil {
		return err
	}
	return s.auditUse(ctx, who, "webhook.signing_token_set", id)
}

// RegisterWebhooks registers labsync's webhook in every selected project
// of who's integration id at GitLab: the one write to GitLab besides OAuth,
// for integrations connected with allow_hook_registration (otherwise a
// Conflict problem of code hook_registration_off). A webhook not issued
// yet is webhook.ErrNotIssued; an unusable integration is the problem
// Client returns. GitLab's answer per project is in the result.
func (s *Service) RegisterWebhooks(ctx context.Context, who Actor, id int64) ([]webhook.ProjectHookResult, error) {
	if s.webhooks == nil {
		return nil, errNoWebhooks
	}
	in, err := s.st.Integration(ctx, who.OrgID, id)
	if err != nil {
		return nil, err
	}
	if !in.AllowHookRegistration {
		return nil, &problem.Error{Kind: problem.Conflict, Code: CodeHookRegistrationOff,
			Message: "labsync does not write to GitLab unless you allow it to register webhooks",
			Remedy:  "PATCH the integration with {\"allow_hook_registration\": true} (needs a token with the api scope), or add the webhook in GitLab yourself with the URL and secret shown here"}
	}
	c, err := s.Client(ctx, who.OrgID, id)
	if err != nil {
		return nil, err
	}
	res, err := s.webhooks.Register(ctx, c, who.OrgID, id)
	if err != nil {
		return nil, err
	}
	return res, s.auditUse(ctx, who, "webhook.registered", id)
}

// removeRegisteredHooks removes the project hooks labsync registered,
// before a disconnect revokes the credential it needs for that. Failures
// are reported (with what to remove by hand), not fatal to the disconnect;
// without a usable client (clientErr) each hook is reported that way.
func (s *Service) removeRegisteredHooks(ctx context.Context, c *gitlab.Client, clientErr error, orgID, id int64) ([]webhook.ProjectHookResult, error) {
	regs, err := s.st.HookRegistrations(ctx, orgID, id)
	if err != nil || len(regs) == 0 {
		return nil, err
	}
	if clientErr != nil {
		out := make([]webhook.ProjectHookResult, len(regs))
		for i, g := range regs {
			out[i] = webhook.ProjectHookResult{ProjectID: g.ProjectGitLabID, HookID: g.GitLabHookID, Status: "failed",
				Error: "no usable credential to remove it", Remedy: "Remove the webhook in GitLab yourself (Settings > Webhooks of the project)."}
		}
		return out, nil
	}
	return s.webhooks.Unregister(ctx, c, orgID, id)
}
