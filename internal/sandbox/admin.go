package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// adminRoutes serves the sandbox's own control API under /-/sandbox/, a
// prefix GitLab's API never uses. Every call needs Sandbox.ControlToken: on
// the gitlab.com profile the control credential, elsewhere a token of an
// administrator with the api scope (Sandbox.AdminToken).
//
//	GET    /-/sandbox/manifest          Manifest as JSON
//	GET    /-/sandbox/requests          request log (?by=route: counts per route); DELETE empties it
//	GET    /-/sandbox/deliveries        webhook deliveries
//	GET    /-/sandbox/faults            faults in force; PUT replaces them
//	                                    (body: a spec as ParseFaults takes, or Faults JSON)
//	POST   /-/sandbox/activity          {"action": "open_mr|update_mr|merge_mr|close_mr|open_issue|close_issue|push|run_pipeline",
//	                                     "project_id": 1, "iid": 2, "title": "", "branch": "", "commits": 1, "status": ""}
//	                                     review and delivery: {"action": "comment_mr|approve_mr|create_release|open_incident", "project_id": 1,
//	                                     "iid": 2, "title": "", "user": "alice", "name": "v1.0.0"}
//	                                    lifecycle: {"action": "delete_project|archive_project|unarchive_project", "project_id": 1}
//	                                     {"action": "rename_project", "project_id": 1, "path": "new-path", "name": "New name"}
//	                                     {"action": "transfer_project", "project_id": 1, "group_id": 2}
//	                                     {"action": "remove_member", "project_id": 1 or "group_id": 2, "user": "alice"}
//	                                     {"action": "delete_issue", "project_id": 1, "iid": 2}
//	                                     {"action": "move_issue", "project_id": 1, "iid": 2, "to_project_id": 3}
//	POST   /-/sandbox/tokens            {"user": "alice", "scopes": ["read_api"], "expires_at": "2030-01-01T00:00:00Z"} → {"token": …}
//	                                    {"kind": "project|group|service_account", "project_id": 1, "group_id": 2,
//	                                     "access_level": 40, "name": "", "scopes": […], "expires_at": …} → AccessToken
//	POST   /-/sandbox/tokens/revoke     {"token": …}
//	POST   /-/sandbox/tokens/expire     {"token": …}
func (s *Sandbox) adminRoutes(mux *http.ServeMux) {
	admin := func(pattern string, h func(r *http.Request) (any, error)) {
		mux.Handle(pattern, s.plain(func(w http.ResponseWriter, r *http.Request) {
			if v := tokenFromRequest(r); !s.controlTokenOK(v) {
				t, aerr := s.authenticate(v)
				if aerr != nil {
					writeErr(w, aerr)
					return
				}
				if !t.user.admin || !slices.Contains(t.scopes, "api") {
					writeErr(w, errForbidden)
					return
				}
			}
			out, err := h(r)
			switch {
			case errors.Is(err, ErrNotFound):
				writeErr(w, msgErr(http.StatusNotFound, err.Error()))
			case errors.Is(err, ErrInvalid):
				writeErr(w, msgErr(http.StatusUnprocessableEntity, err.Error()))
			case err != nil:
				writeErr(w, msgErr(http.StatusBadRequest, err.Error()))
			case out == nil:
				w.WriteHeader(http.StatusNoContent)
			default:
				writeJSON(w, http.StatusOK, out)
			}
		}))
	}
	admin("GET /-/sandbox/manifest", func(*http.Request) (any, error) { return s.Manifest(), nil })
	admin("GET /-/sandbox/requests", func(r *http.Request) (any, error) {
		if r.URL.Query().Get("by") == "route" {
			return s.RequestsByRoute(), nil
		}
		return s.Requests(), nil
	})
	admin("DELETE /-/sandbox/requests", func(*http.Request) (any, error) { s.ResetRequests(); return nil, nil })
	admin("GET /-/sandbox/deliveries", func(*http.Request) (any, error) { return s.Deliveries(), nil })
	admin("GET /-/sandbox/faults", func(*http.Request) (any, error) { return s.Faults(), nil })
	admin("PUT /-/sandbox/faults", func(r *http.Request) (any, error) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			return nil, err
		}
		var f Faults
		if len(body) > 0 && body[0] == '{' {
			err = json.Unmarshal(body, &f)
		} else {
			f, err = ParseFaults(string(body))
		}
		if err != nil {
			return nil, err
		}
		s.SetFaults(f)
		return f, nil
	})
	admin("POST /-/sandbox/activity", func(r *http.Request) (any, error) {
		var a activityRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&a); err != nil {
			return nil, err
		}
		do, ok := s.activityActions()[a.Action]
		if !ok {
			return nil, errors.New("unknown action " + strconv.Quote(a.Action))
		}
		return do(a)
	})
	admin("GET /-/sandbox/settings", func(*http.Request) (any, error) {
		return map[string]bool{"allow_local_requests_from_web_hooks_and_services": s.AllowLocalWebhooks()}, nil
	})
	admin("PUT /-/sandbox/settings", func(r *http.Request) (any, error) {
		var b struct {
			Allow *bool `json:"allow_local_requests_from_web_hooks_and_services"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&b); err != nil {
			return nil, err
		}
		if b.Allow == nil {
			return nil, fmt.Errorf("%w: allow_local_requests_from_web_hooks_and_services is missing", ErrInvalid)
		}
		s.SetAllowLocalWebhooks(*b.Allow)
		return map[string]bool{"allow_local_requests_from_web_hooks_and_services": s.AllowLocalWebhooks()}, nil
	})
	admin("POST /-/sandbox/tokens", func(r *http.Request) (any, error) {
		var spec AccessTokenSpec
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&spec); err != nil {
			return nil, err
		}
		if spec.Kind == "" || spec.Kind == TokenPersonal {
			// Personal tokens keep their old contract: unknown users fall back to root.
			v := s.CreateToken(TokenSpec{User: spec.User, Name: spec.Name, Scopes: spec.Scopes, ExpiresAt: spec.ExpiresAt})
			return map[string]string{"token": v}, nil
		}
		return s.CreateAccessToken(spec)
	})
	tokenOp := func(op func(string) bool) func(r *http.Request) (any, error) {
		return func(r *http.Request) (any, error) {
			var b struct {
				Token string `json:"token"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&b); err != nil {
				return nil, err
			}
			if !op(b.Token) {
				return nil, ErrNotFound
			}
			return nil, nil
		}
	}
	admin("POST /-/sandbox/tokens/revoke", tokenOp(s.RevokeToken))
	admin("POST /-/sandbox/tokens/expire", tokenOp(s.ExpireToken))
}

var homePage = template.Must(template.New("home").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>labsync GitLab sandbox</title>
<style>body{font-family:sans-serif;max-width:44em;margin:3em auto;color:#333}code{background:#f4f4f4;padding:0 .2em}</style></head>
<body><h1>labsync GitLab sandbox ({{.Version}})</h1>
<p>This is a simulated GitLab for tests and demos. The REST API is at <code>{{.URL}}/api/v4</code>.</p>
<p><a id="consent" href="{{.Authorize}}">Try the OAuth consent page</a> (redirects to the labsync callback).</p>
<p>Sandbox controls (admin token required) are under <code>/-/sandbox/</code>: manifest, requests, deliveries, faults, activity, tokens.</p>
</body></html>
`))

func (s *Sandbox) homePage(w http.ResponseWriter, r *http.Request) {
	id, _ := s.OAuthApp()
	q := url.Values{"client_id": {id}, "redirect_uri": {s.defaultApp.redirects[0]}, "response_type": {"code"}, "state": {"demo"}, "scope": {"api"}}
	auth := s.baseURL + "/oauth/authorize?" + q.Encode()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homePage.Execute(w, map[string]any{"Version": s.cfg.Version, "URL": s.baseURL, "Authorize": template.URL(auth)})
}

// activityRequest is the body of POST /-/sandbox/activity.
type activityRequest struct {
	Action    string `json:"action"`
	ProjectID int64  `json:"project_id"`
	IID       int64  `json:"iid"`
	Title     string `json:"title"`
	Branch    string `json:"branch"`
	Commits   int    `json:"commits"`
	Status    string `json:"status"`
	Path      string `json:"path"`
	Name      string `json:"name"`
	GroupID   int64  `json:"group_id"`
	ToProject int64  `json:"to_project_id"`
	User      string `json:"user"`
}

// activityActions are the control API's activity actions by name; every
// one is documented in ControlsHelp (a test keeps the two in step).
func (s *Sandbox) activityActions() map[string]func(a activityRequest) (any, error) {
	return map[string]func(a activityRequest) (any, error){
		"open_mr":        func(a activityRequest) (any, error) { return s.OpenMR(a.ProjectID, a.Title) },
		"update_mr":      func(a activityRequest) (any, error) { return s.UpdateMR(a.ProjectID, a.IID, a.Title) },
		"merge_mr":       func(a activityRequest) (any, error) { return s.MergeMR(a.ProjectID, a.IID) },
		"close_mr":       func(a activityRequest) (any, error) { return s.CloseMR(a.ProjectID, a.IID) },
		"open_issue":     func(a activityRequest) (any, error) { return s.OpenIssue(a.ProjectID, a.Title) },
		"close_issue":    func(a activityRequest) (any, error) { return s.CloseIssue(a.ProjectID, a.IID) },
		"push":           func(a activityRequest) (any, error) { return s.Push(a.ProjectID, a.Branch, max(a.Commits, 1)) },
		"run_pipeline":   func(a activityRequest) (any, error) { return s.RunPipeline(a.ProjectID, a.Branch, a.Status) },
		"delete_project": func(a activityRequest) (any, error) { return s.DeleteProject(a.ProjectID) },
		"rename_project": func(a activityRequest) (any, error) { return s.RenameProject(a.ProjectID, a.Path, a.Name) },
		"transfer_project": func(a activityRequest) (any, error) {
			return s.TransferProject(a.ProjectID, a.GroupID)
		},
		"archive_project":   func(a activityRequest) (any, error) { return s.ArchiveProject(a.ProjectID, true) },
		"unarchive_project": func(a activityRequest) (any, error) { return s.ArchiveProject(a.ProjectID, false) },
		"remove_member": func(a activityRequest) (any, error) {
			if a.GroupID != 0 {
				return s.RemoveMember(MemberOfGroup, a.GroupID, a.User)
			}
			return s.RemoveMember(MemberOfProject, a.ProjectID, a.User)
		},
		"delete_issue": func(a activityRequest) (any, error) { return s.DeleteIssue(a.ProjectID, a.IID) },
		"move_issue":   func(a activityRequest) (any, error) { return s.MoveIssue(a.ProjectID, a.IID, a.ToProject) },
		// Review and delivery data (delivery_hooks.go).
		"comment_mr":     func(a activityRequest) (any, error) { return s.CommentMR(a.ProjectID, a.IID, a.Title) },
		"approve_mr":     func(a activityRequest) (any, error) { return s.ApproveMR(a.ProjectID, a.IID, a.User) },
		"create_release": func(a activityRequest) (any, error) { return s.CreateRelease(a.ProjectID, a.Name) },
		"open_incident":  func(a activityRequest) (any, error) { return s.OpenIncident(a.ProjectID, a.Title) },
	}
}
