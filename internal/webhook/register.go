package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
)

// ProjectHookResult is what happened at one project.
type ProjectHookResult struct {
	ProjectID int64  `json:"project_id"`
	Path      string `json:"path_with_namespace"`
	HookID    int64  `json:"hook_id,omitempty"`
	Status    string `json:"status"` // registered, updated, verified, failed, removed
	Error     string `json:"error,omitempty"`
	Remedy    string `json:"remedy,omitempty"`
}

// Register creates (or updates) a project hook pointing at the
// integration's webhook URL in every selected project, then reads each back
// to verify it. The client must allow hook writes (the user opted in, the
// token has the api scope); GitLab's refusals are reported per project. A
// project already carrying a hook with labsync's URL is updated in place,
// never duplicated.
func (s *Service) Register(ctx context.Context, c *gitlab.Client, orgID, integrationID int64) ([]ProjectHookResult, error) {
	e, err := s.st.WebhookEndpointFor(ctx, orgID, integrationID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotIssued
	}
	if err != nil {
		return nil, err
	}
	row := "integration:" + strconv.FormatInt(integrationID, 10)
	tok, err := s.vault.Open(ctx, orgID, vault.Binding{Table: "webhook_endpoints", Row: row, Field: "secret"}, e.SecretSealed)
	if err != nil {
		return nil, err
	}
	defer clear(tok)
	spec := gitlab.HookSpec{URL: s.URLFor(e.HookID), Token: string(tok)}
	if len(e.SigningSealed) > 0 {
		sig, err := s.vault.Open(ctx, orgID, vault.Binding{Table: "webhook_endpoints", Row: row, Field: "signing"}, e.SigningSealed)
		if err != nil {
			return nil, err
		}
		defer clear(sig)
		spec.SigningToken = string(sig)
	}
	projects, err := s.st.AllProjects(ctx, orgID, integrationID)
	if err != nil {
		return nil, err
	}
	var out []ProjectHookResult
	for _, p := range projects {
		if !p.Selected {
			continue
		}
		res := ProjectHookResult{ProjectID: p.GitLabID, Path: p.PathWithNamespace}
		hook, status, err := s.registerOne(ctx, c, p.GitLabID, spec)
		if err != nil {
			res.Status, res.Error = "failed", err.Error()
			if ae := gitlab.ClassifyError(err); ae != nil {
				res.Error, res.Remedy = ae.Error(), ae.Remedy()
				if ae.Status == http.StatusForbidden || ae.Status == http.StatusNotFound {
					res.Remedy = "Registering a project hook needs the Maintainer role in this project and a token with the api scope; or add the webhook in GitLab yourself."
				}
			}
			out = append(out, res)
			continue
		}
		if err := s.st.SaveHookRegistration(ctx, orgID, integrationID, store.HookRegistration{ProjectGitLabID: p.GitLabID, GitLabHookID: hook}); err != nil {
			return out, err
		}
		res.HookID, res.Status = hook, status
		out = append(out, res)
	}
	return out, nil
}

func (s *Service) registerOne(ctx context.Context, c *gitlab.Client, pid int64, spec gitlab.HookSpec) (int64, string, error) {
	hooks, err := c.ProjectHooks(ctx, pid)
	if err != nil {
		return 0, "", err
	}
	var id int64
	status := "registered"
	for _, h := range hooks {
		if h.URL == spec.URL {
			id, status = h.ID, "updated"
			break
		}
	}
	if id == 0 {
		h, err := c.AddProjectHook(ctx, pid, spec)
		if err != nil {
			return 0, "", err
		}
		id = h.ID
	} else if err := c.EditProjectHook(ctx, pid, id, spec); err != nil {
		return 0, "", err
	}
	// Verify: read it back as GitLab stored it.
	h, err := c.ProjectHook(ctx, pid, id)
	if err != nil {
		return 0, "", fmt.Errorf("the hook was created but could not be read back: %w", err)
	}
	if h.URL != spec.URL || !h.MergeRequestsEvents || !h.PushEvents || !h.PipelineEvents || !h.IssuesEvents {
		return 0, "", fmt.Errorf("GitLab stored the hook differently from what was asked (URL or events)")
	}
	return id, status, nil
}

// Unregister removes the hooks labsync registered for an integration. A
// hook already gone at GitLab counts as removed.
func (s *Service) Unregister(ctx context.Context, c *gitlab.Client, orgID, integrationID int64) ([]ProjectHookResult, error) {
	regs, err := s.st.HookRegistrations(ctx, orgID, integrationID)
	if err != nil {
		return nil, err
	}
	var out []ProjectHookResult
	for _, r := range regs {
		res := ProjectHookResult{ProjectID: r.ProjectGitLabID, HookID: r.GitLabHookID, Status: "removed"}
		if _, err := c.DeleteProjectHook(ctx, r.ProjectGitLabID, r.GitLabHookID); err != nil {
			res.Status, res.Error = "failed", err.Error()
			if ae := gitlab.ClassifyError(err); ae != nil {
				res.Error, res.Remedy = ae.Error(), "Remove the webhook in GitLab yourself (Settings > Webhooks of the project)."
			}
			out = append(out, res)
			continue
		}
		if err := s.st.DeleteHookRegistration(ctx, orgID, integrationID, r.ProjectGitLabID); err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}
