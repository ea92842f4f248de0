package api

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/labsync/labsync/internal/buildinfo"
	"github.com/labsync/labsync/internal/store"
)

// summaries say what each endpoint does, for the OpenAPI document.
var summaries = map[string]string{
	"GET /api/v1/me":                                         "Who is calling: organisation, user and role",
	"GET /api/v1/audit":                                      "The organisation's audit log, newest first",
	"GET /api/v1/organization":                               "The caller's organisation",
	"DELETE /api/v1/organization":                            "Delete the organisation: destroy its keys, then its rows (body: {\"confirm\": name})",
	"GET /api/v1/members":                                    "List members and their roles",
	"POST /api/v1/members":                                   "Invite an address (the same answer for known and unknown addresses; the code is returned once)",
	"POST /api/v1/invitations/accept":                        "Join the organisation of an invitation for the caller's own address",
	"PATCH /api/v1/members/{user_id}":                        "Change a member's role",
	"DELETE /api/v1/members/{user_id}":                       "Remove a member and revoke their API tokens",
	"GET /api/v1/tokens":                                     "List API tokens (never the tokens themselves)",
	"POST /api/v1/tokens":                                    "Create an API token for the caller; shown once",
	"DELETE /api/v1/tokens/{id}":                             "Revoke an API token",
	"POST /api/v1/integrations/gitlab/token":                 "Connect a GitLab with an access token",
	"POST /api/v1/integrations/gitlab/start":                 "Begin OAuth: returns the authorize URL",
	"POST /api/v1/integrations/gitlab/authorize":             "Complete OAuth with code and state",
	"POST /api/v1/integrations/gitlab/test":                  "Diagnose a connection without saving it",
	"GET /api/v1/integrations":                               "List integrations (never a secret)",
	"GET /api/v1/integrations/{id}":                          "Show an integration: status, version, token expiry, purge state",
	"PATCH /api/v1/integrations/{id}":                        "Change an integration's settings",
	"DELETE /api/v1/integrations/{id}":                       "Disconnect: revoke, delete every secret now, purge synced data within 24 h",
	"POST /api/v1/integrations/{id}/test":                    "Diagnose a saved integration",
	"POST /api/v1/integrations/{id}/refresh":                 "Refresh an OAuth token now",
	"GET /api/v1/oauth-apps":                                 "The organisation's OAuth applications and the redirect URI",
	"PUT /api/v1/oauth-apps":                                 "Save an OAuth application for a GitLab",
	"GET /api/v1/integrations/{id}/repositories":             "Projects the credential can see (search, cursor pages)",
	"GET /api/v1/integrations/{id}/groups":                   "The groups tree",
	"GET /api/v1/integrations/{id}/selection":                "What is selected for sync",
	"PUT /api/v1/integrations/{id}/selection":                "Select projects, groups (auto-import), exclusions and services",
	"GET /api/v1/integrations/{id}/sync":                     "Sync progress per project and resource",
	"POST /api/v1/integrations/{id}/sync":                    "Start a sync",
	"GET /api/v1/integrations/{id}/freshness":                "Per selected or gone project: last webhook, last poll, fresh as of, poll plan, CI/CD, gone reason",
	"GET /api/v1/integrations/{id}/webhook":                  "Webhook URL, health and last delivery",
	"POST /api/v1/integrations/{id}/webhook":                 "Issue or re-issue the webhook secret (shown once)",
	"PUT /api/v1/integrations/{id}/webhook/signing":          "Set the Standard Webhooks signing token",
	"POST /api/v1/integrations/{id}/webhook/register":        "Register project hooks in GitLab (opt-in)",
	"GET /api/v1/integrations/{id}/mirrors":                  "Repository mirrors: state, size, last fetch, lag, last error with a remedy",
	"POST /api/v1/integrations/{id}/mirrors/{project}/fetch": "Fetch one project's mirror now",
	"GET /api/v1/merge_requests":                             "Ingested merge requests (filters, cursor pages)",
	"GET /api/v1/issues":                                     "Ingested issues",
	"GET /api/v1/pipelines":                                  "Ingested pipelines",
	"GET /api/v1/pushes":                                     "Ingested pushes",
	"GET /api/v1/metrics/dora":                               "DORA metrics of an integration (and project) and tier: four series by day, week or month; explain=true lists the rows behind each point",
	"GET /api/v1/events":                                     "The change feed (cursor)",
	"GET /api/v1/events/stream":                              "The change feed as Server-Sent Events",
	"POST /api/v1/webhooks/gitlab/{hook_id}":                 "The webhook receiver (authenticated by the hook's secret)",
	"GET /api/v1/connectors/gitlab/callback":                 "OAuth redirect target for browsers",
	"GET /api/v1/openapi.json":                               "This document",
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// openAPI serves an OpenAPI 3.1 document built from the mounted routes.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	paths := map[string]map[string]any{}
	add := func(pattern string, secured bool, access string) {
		method, path, _ := strings.Cut(pattern, " ")
		op := map[string]any{"summary": summaries[pattern], "responses": map[string]any{
			"default": map[string]any{"description": "JSON; errors are {\"error\": {code, message, remedy, field}}"}}}
		if secured {
			op["security"] = []map[string][]string{{"bearer": {}}, {"session": {}}}
			op["x-labsync-role"] = access
		} else {
			op["security"] = []map[string][]string{}
		}
		var params []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if s, ok := requestSchemas[pattern]; ok {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": s}}}
		}
		if s, ok := responseSchemas[pattern]; ok {
			op["responses"] = map[string]any{
				"200":     map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": s}}},
				"default": op["responses"].(map[string]any)["default"],
			}
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = op
	}
	for _, rt := range a.routes {
		add(rt.Pattern, true, rt.Access)
	}
	for _, p := range publicPatterns {
		add(p, false, "")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]string{"title": "labsync API", "version": buildinfo.Version},
		"paths":   paths,
		"components": map[string]any{"securitySchemes": map[string]any{
			"bearer":  map[string]string{"type": "http", "scheme": "bearer", "description": "an API token, lsk_…"},
			"session": map[string]string{"type": "apiKey", "in": "cookie", "name": "labsync_session", "description": "the web UI's session; unsafe methods need X-CSRF-Token"},
		}},
	})
	return nil
}

// publicPatterns are the endpoints that take no API token.
var publicPatterns = []string{
	"POST /api/v1/webhooks/gitlab/{hook_id}",
	"GET /api/v1/connectors/gitlab/callback",
	"GET /api/v1/openapi.json",
}

// Schemas of the bodies documented field by field. A field a client may
// leave out is not required; a field the server always sends is.
var (
	dateTime       = map[string]any{"type": "string", "format": "date-time"}
	settingsSchema = map[string]any{"type": "object", "properties": map[string]any{
		"request_concurrency":    map[string]any{"type": "integer", "minimum": 0, "maximum": store.MaxRequestConcurrency, "description": "simultaneous requests to this GitLab; 0 = the default. Lower it when GitLab answers 429"},
		"history_since":          map[string]any{"type": "string", "format": "date", "description": "earliest date the backfill fetches (YYYY-MM-DD); empty or absent = the whole history"},
		"keep_lost_project_data": map[string]any{"type": "boolean", "description": "keep the data of projects the credential can no longer see instead of purging it"},
	}}
	requestSchemas = map[string]any{
		"PATCH /api/v1/integrations/{id}": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
			"alias":                   map[string]any{"type": "string"},
			"ca_pem":                  map[string]any{"type": "string", "description": "extra CA certificates (PEM); empty removes them"},
			"allow_hook_registration": map[string]any{"type": "boolean"},
			"token":                   map[string]any{"type": "string", "writeOnly": true, "description": "a new access token (token integrations)"},
			"allow_insecure_http":     map[string]any{"type": "boolean", "description": "opt-in to plain http to a self-managed GitLab at an http:// URL on another machine; refused for GitLab.com and https URLs"},
			"request_concurrency":     settingsSchema["properties"].(map[string]any)["request_concurrency"],
			"history_since":           settingsSchema["properties"].(map[string]any)["history_since"],
			"keep_lost_project_data":  settingsSchema["properties"].(map[string]any)["keep_lost_project_data"],
		}},
	}
	integrationSchema = map[string]any{"type": "object", "properties": map[string]any{
		"id": map[string]any{"type": "integer"}, "alias": map[string]any{"type": "string"}, "base_url": map[string]any{"type": "string"},
		"is_gitlab_com": map[string]any{"type": "boolean"}, "status": map[string]any{"type": "string"},
		"allow_insecure_http": map[string]any{"type": "boolean"},
		"insecure":            map[string]any{"type": "boolean", "description": "GitLab is reached over plain http: the token and data travel unencrypted"},
		"insecure_warning":    map[string]any{"type": "string"},
		"settings":            settingsSchema,
	}}
	freshnessSchema = map[string]any{"type": "object", "properties": map[string]any{"projects": map[string]any{"type": "array", "items": map[string]any{
		"type": "object", "properties": map[string]any{
			"project_id": map[string]any{"type": "integer", "description": "GitLab's project id"}, "path_with_namespace": map[string]any{"type": "string"},
			"selected": map[string]any{"type": "boolean"}, "last_webhook_at": dateTime, "last_poll_at": dateTime,
			"fresh_as_of": map[string]any{"type": "string", "format": "date-time", "description": "the project's data is complete up to this time"},
			"poll_plan":   map[string]any{"type": "object", "description": "how often the project is polled now (every_seconds) and why (reason)"},
			"ci_enabled":  map[string]any{"type": "boolean", "description": "false: CI/CD is disabled in GitLab and pipelines are skipped (not an error)"},
			"archived":    map[string]any{"type": "boolean"},
			"gone":        map[string]any{"type": "string", "enum": []string{store.GoneNotFound, store.GoneForbidden, store.GoneNotMember}, "description": "set when the project is no longer synced"},
			"gone_reason": map[string]any{"type": "string"}, "gone_at": dateTime, "data_purged_at": dateTime,
			"previous_path": map[string]any{"type": "string", "description": "the path before the last rename or transfer"}, "path_changed_at": dateTime,
		}}}}}
	repositoriesSchema = map[string]any{"type": "object", "properties": map[string]any{
		"next_cursor": map[string]any{"type": "string"}, "discovered_at": dateTime,
		"repositories": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
			"id": map[string]any{"type": "integer", "description": "GitLab's project id"}, "path_with_namespace": map[string]any{"type": "string"},
			"archived": map[string]any{"type": "boolean"}, "ci_enabled": map[string]any{"type": "boolean"}, "selected": map[string]any{"type": "boolean"},
			"last_webhook_at": dateTime, "last_poll_at": dateTime, "fresh_as_of": dateTime, "poll_found_changes_at": dateTime,
			"gone":        map[string]any{"type": "string", "enum": []string{store.GoneNotFound, store.GoneForbidden, store.GoneNotMember}},
			"gone_reason": map[string]any{"type": "string"}, "gone_at": dateTime, "previous_path": map[string]any{"type": "string"},
			"path_changed_at": dateTime, "data_purged_at": dateTime,
		}}},
	}}
	responseSchemas = map[string]any{
		"GET /api/v1/integrations/{id}/repositories": repositoriesSchema,
		"GET /api/v1/integrations/{id}":              integrationSchema,
		"PATCH /api/v1/integrations/{id}":            map[string]any{"type": "object", "properties": map[string]any{"integration": integrationSchema, "changed": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}}},
		"GET /api/v1/integrations/{id}/freshness":    freshnessSchema,
	}
)
