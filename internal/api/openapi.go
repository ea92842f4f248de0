package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/buildinfo"
	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/repository"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/webhook"
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
	"POST /api/v1/invitations/redeem":                        "Join an organisation with an invitation code (no API token: the invitee's own password, or the one they choose)",
	"GET /api/v1/integrations/{id}/webhook/health":           "Why webhooks may not arrive: last delivery, public URL, each registered hook's state at GitLab, with what to do",
	"POST /api/v1/integrations/{id}/webhook/test":            "Ask GitLab for a test delivery through labsync's hook (only where hook registration is allowed)",
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// openAPI serves an OpenAPI 3.1 document built from the mounted routes,
// with request and response schemas generated from the Go types in
// endpoints.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, a.openAPIDocument())
	return nil
}

// openAPIDocument builds the document.
func (a *API) openAPIDocument() map[string]any {
	g := newSchemaGen()
	// Every route's error answer is one shared component.
	g.components["Error"] = g.response(reflect.TypeFor[errorAnswer]())
	errRef := map[string]any{"$ref": "#/components/schemas/Error"}
	paths := map[string]map[string]any{}
	add := func(pattern string, secured bool, access string) {
		method, path, _ := strings.Cut(pattern, " ")
		responses := map[string]any{"default": map[string]any{"description": "An error: {\"error\": {code, message, remedy, field}}",
			"content": map[string]any{"application/json": map[string]any{"schema": errRef}}}}
		op := map[string]any{"summary": summaries[pattern], "responses": responses}
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
		if e, ok := endpoints[pattern]; ok {
			if e.request != nil {
				op["requestBody"] = map[string]any{"required": !e.optionalBody, "content": map[string]any{"application/json": map[string]any{"schema": g.request(e.request)}}}
			}
			if e.response != nil {
				status, media := e.status, e.media
				if status == 0 {
					status = http.StatusOK
				}
				if media == "" {
					media = "application/json"
				}
				responses[strconv.Itoa(status)] = map[string]any{"description": http.StatusText(status),
					"content": map[string]any{media: map[string]any{"schema": g.response(e.response)}}}
			}
			if e.note != "" {
				op["description"] = e.note
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
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]string{"title": "labsync API", "version": buildinfo.Version},
		"paths":   paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"bearer":  map[string]string{"type": "http", "scheme": "bearer", "description": "an API token, lsk_…"},
				"session": map[string]string{"type": "apiKey", "in": "cookie", "name": "labsync_session", "description": "the web UI's session; unsafe methods need X-CSRF-Token"},
			}},
	}
}

// publicPatterns are the endpoints that take no API token.
var publicPatterns = []string{
	"POST /api/v1/webhooks/gitlab/{hook_id}",
	"GET /api/v1/connectors/gitlab/callback",
	"GET /api/v1/openapi.json",
	"POST /api/v1/invitations/redeem",
}

// endpoint names the Go types a route decodes and answers.
type endpoint struct {
	// request is the type the handler decodes (nil: no body).
	request reflect.Type
	// optionalBody is true when the body may be left out.
	optionalBody bool
	// response is the type the handler encodes on success.
	response reflect.Type
	// status is the success status (200 when 0).
	status int
	// media is the success media type (application/json when empty).
	media string
	note  string
}

func typ[T any]() reflect.Type { return reflect.TypeFor[T]() }

// endpoints documents every route's bodies. The answers a handler builds as
// a map have a named type here with the same keys; TestEveryRouteHasSchemas
// checks that every mounted route is described and that real answers
// validate against their schemas.
var endpoints = map[string]endpoint{
	"GET /api/v1/me":                   {response: typ[meAnswer]()},
	"GET /api/v1/audit":                {response: typ[auditAnswer]()},
	"GET /api/v1/organization":         {response: typ[organizationAnswer]()},
	"DELETE /api/v1/organization":      {request: typ[confirmRequest](), response: typ[deletedOrganization]()},
	"GET /api/v1/members":              {response: typ[membersAnswer]()},
	"POST /api/v1/members":             {request: typ[inviteRequest](), response: typ[invitedAnswer](), status: http.StatusCreated},
	"POST /api/v1/invitations/accept":  {request: typ[codeRequest](), response: typ[joinedAnswer]()},
	"POST /api/v1/invitations/redeem":  {request: typ[redeemRequest](), response: typ[redeemedAnswer]()},
	"PATCH /api/v1/members/{user_id}":  {request: typ[roleRequest](), response: typ[roleAnswer]()},
	"DELETE /api/v1/members/{user_id}": {response: typ[removedAnswer]()},
	"GET /api/v1/tokens":               {response: typ[tokensAnswer]()},
	"POST /api/v1/tokens":              {request: typ[tokenRequest](), response: typ[tokenCreated](), status: http.StatusCreated},
	"DELETE /api/v1/tokens/{id}":       {response: typ[revokedAnswer]()},

	"POST /api/v1/integrations/gitlab/token":     {request: typ[integrations.TokenInput](), response: typ[integrations.ConnectResult](), status: http.StatusCreated},
	"POST /api/v1/integrations/gitlab/start":     {request: typ[integrations.StartInput](), response: typ[integrations.StartResult]()},
	"POST /api/v1/integrations/gitlab/authorize": {request: typ[authorizeRequest](), response: typ[integrationAnswer](), status: http.StatusCreated},
	"GET /api/v1/connectors/gitlab/callback": {response: typ[integrationAnswer](), status: http.StatusCreated,
		note: "Browsers are redirected (303) to the integration page, or to /connect?error=… on failure; with Accept: application/json the answer is JSON."},
	"POST /api/v1/integrations/gitlab/test":  {request: typ[integrations.TestInput](), response: typ[diagnose.Report]()},
	"GET /api/v1/integrations":               {response: typ[integrationsAnswer]()},
	"GET /api/v1/integrations/{id}":          {response: typ[integrations.View]()},
	"PATCH /api/v1/integrations/{id}":        {request: typ[integrations.UpdateInput](), response: typ[integrations.UpdateResult]()},
	"DELETE /api/v1/integrations/{id}":       {response: typ[integrations.DisconnectResult]()},
	"POST /api/v1/integrations/{id}/test":    {response: typ[diagnose.Report]()},
	"POST /api/v1/integrations/{id}/refresh": {response: typ[integrationAnswer]()},
	"GET /api/v1/oauth-apps":                 {response: typ[oauthAppsAnswer]()},
	"PUT /api/v1/oauth-apps":                 {request: typ[integrations.OAuthAppInput](), response: typ[oauthAppSaved]()},

	"GET /api/v1/integrations/{id}/repositories": {response: typ[repositoriesAnswer]()},
	"GET /api/v1/integrations/{id}/groups":       {response: typ[groupsAnswer]()},
	"GET /api/v1/integrations/{id}/selection":    {response: typ[store.Selection]()},
	"PUT /api/v1/integrations/{id}/selection": {request: typ[selectionRequest](), response: typ[store.Selection](),
		note: "A field left out keeps its current value; services change key by key."},
	"GET /api/v1/integrations/{id}/sync":      {response: typ[syncer.Report]()},
	"POST /api/v1/integrations/{id}/sync":     {response: typ[syncStarted](), status: http.StatusAccepted},
	"GET /api/v1/integrations/{id}/freshness": {response: typ[freshnessAnswer]()},
	"GET /api/v1/merge_requests":              {response: typ[itemsAnswer[store.MergeRequest]]()},
	"GET /api/v1/issues":                      {response: typ[itemsAnswer[store.Issue]]()},
	"GET /api/v1/pipelines":                   {response: typ[itemsAnswer[store.Pipeline]]()},
	"GET /api/v1/pushes":                      {response: typ[itemsAnswer[store.Push]]()},
	"GET /api/v1/events":                      {response: typ[eventsAnswer]()},
	"GET /api/v1/events/stream": {response: typ[store.FeedEntry](), media: "text/event-stream",
		note: "Each event is named change, its id the feed id (reconnect with Last-Event-ID), its data one feed entry as JSON; a comment every 15 s keeps proxies from closing the stream."},

	"GET /api/v1/integrations/{id}/webhook":                  {response: typ[webhookView]()},
	"POST /api/v1/integrations/{id}/webhook":                 {request: typ[webhookIssueRequest](), optionalBody: true, response: typ[webhookView](), status: http.StatusCreated},
	"PUT /api/v1/integrations/{id}/webhook/signing":          {request: typ[signingRequest](), response: typ[webhookView]()},
	"POST /api/v1/integrations/{id}/webhook/register":        {response: typ[registeredAnswer]()},
	"GET /api/v1/integrations/{id}/webhook/health":           {response: typ[integrations.WebhookHealth]()},
	"POST /api/v1/integrations/{id}/webhook/test":            {request: typ[webhookTestRequest](), optionalBody: true, response: typ[integrations.WebhookTestResult]()},
	"GET /api/v1/integrations/{id}/mirrors":                  {response: typ[repository.MirrorList]()},
	"POST /api/v1/integrations/{id}/mirrors/{project}/fetch": {response: typ[repository.Mirror]()},
	"POST /api/v1/webhooks/gitlab/{hook_id}": {request: typ[map[string]any](), response: typ[deliveryAnswer](),
		note: "GitLab's delivery: any JSON object, authenticated by X-Gitlab-Token or a Standard Webhooks signature."},
	"GET /api/v1/openapi.json": {response: typ[map[string]any]()},
	"GET /api/v1/metrics/dora": {response: typ[DoraResponse]()},
	// The review and delivery lists (delivery_routes.go).
	"GET /api/v1/notes":        {response: typ[itemsAnswer[store.Note]]()},
	"GET /api/v1/approvals":    {response: typ[itemsAnswer[store.Approval]]()},
	"GET /api/v1/jobs":         {response: typ[itemsAnswer[store.Job]]()},
	"GET /api/v1/deployments":  {response: typ[itemsAnswer[store.Deployment]]()},
	"GET /api/v1/environments": {response: typ[itemsAnswer[store.Environment]]()},
	"GET /api/v1/releases":     {response: typ[itemsAnswer[store.Release]]()},
	"GET /api/v1/tags":         {response: typ[itemsAnswer[store.Tag]]()},
	"GET /api/v1/people":       {response: typ[itemsAnswer[store.Person]]()},
}

// The answers handlers build as maps, and the request bodies they decode
// into anonymous structs, as named types with the same JSON keys.
type (
	errorAnswer struct {
		Error     ErrorBody        `json:"error"`
		Diagnosis *diagnose.Report `json:"diagnosis,omitempty"`
	}
	meAnswer struct {
		OrgID  int64  `json:"org_id"`
		UserID int64  `json:"user_id"`
		Role   string `json:"role"`
	}
	auditAnswer struct {
		Entries []store.AuditEntry `json:"entries"`
	}
	organizationAnswer struct {
		ID        int64     `json:"id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
		YourRole  string    `json:"your_role"`
	}
	confirmRequest struct {
		Confirm string `json:"confirm"`
	}
	deletedOrganization struct {
		Deleted bool   `json:"deleted"`
		ID      int64  `json:"id"`
		Note    string `json:"note"`
	}
	membersAnswer struct {
		Members []store.Member `json:"members"`
	}
	inviteRequest struct {
		Email string `json:"email"`
		Name  string `json:"name,omitempty"`
		Role  string `json:"role"`
	}
	invitedAnswer struct {
		Invitation store.Invitation `json:"invitation"`
		Code       string           `json:"code"`
		Note       string           `json:"note"`
	}
	codeRequest struct {
		Code string `json:"code"`
	}
	joinedAnswer struct {
		Joined         bool   `json:"joined"`
		OrganizationID int64  `json:"organization_id"`
		Role           string `json:"role"`
	}
	redeemRequest struct {
		Code     string `json:"code"`
		Name     string `json:"name,omitempty"`
		Password string `json:"password"`
	}
	redeemedAnswer struct {
		Joined         bool   `json:"joined"`
		OrganizationID int64  `json:"organization_id"`
		Email          string `json:"email"`
		Role           string `json:"role"`
		Note           string `json:"note"`
	}
	roleRequest struct {
		Role string `json:"role"`
	}
	roleAnswer struct {
		UserID int64  `json:"user_id"`
		Role   string `json:"role"`
	}
	removedAnswer struct {
		UserID  int64  `json:"user_id"`
		Removed bool   `json:"removed"`
		Note    string `json:"note"`
	}
	tokensAnswer struct {
		Tokens []store.APIToken `json:"tokens"`
	}
	tokenRequest struct {
		Name          string `json:"name"`
		ExpiresInDays int    `json:"expires_in_days,omitempty"`
	}
	tokenCreated struct {
		Token    string         `json:"token"`
		APIToken store.APIToken `json:"api_token"`
		Note     string         `json:"note"`
	}
	revokedAnswer struct {
		ID      int64 `json:"id"`
		Revoked bool  `json:"revoked"`
	}
	authorizeRequest struct {
		Code  secret.Secret `json:"code"`
		State string        `json:"state"`
	}
	integrationAnswer struct {
		Integration integrations.View `json:"integration"`
	}
	integrationsAnswer struct {
		Integrations []integrations.View `json:"integrations"`
	}
	oauthAppsAnswer struct {
		RedirectURI string                      `json:"redirect_uri"`
		Scopes      []string                    `json:"scopes"`
		ScopesNote  string                      `json:"scopes_note"`
		Apps        []integrations.OAuthAppView `json:"apps"`
	}
	oauthAppSaved struct {
		App         integrations.OAuthAppView `json:"app"`
		RedirectURI string                    `json:"redirect_uri"`
	}
	repositoriesAnswer struct {
		Repositories []store.Project `json:"repositories"`
		NextCursor   string          `json:"next_cursor"`
		DiscoveredAt *time.Time      `json:"discovered_at"`
	}
	groupsAnswer struct {
		Groups []store.Group `json:"groups"`
	}
	selectionRequest struct {
		Projects        []int64                `json:"projects,omitempty"`
		Groups          []store.GroupSelection `json:"groups,omitempty"`
		Exclusions      []string               `json:"exclusions,omitempty"`
		IncludeArchived *bool                  `json:"include_archived,omitempty"`
		Services        *store.Services        `json:"services,omitempty"`
		UpdatedAt       *time.Time             `json:"updated_at,omitempty"`
	}
	freshnessAnswer struct {
		Projects []syncer.ProjectFreshness `json:"projects"`
	}
	itemsAnswer[T any] struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	eventsAnswer struct {
		Events    []store.FeedEntry `json:"events"`
		NextAfter int64             `json:"next_after"`
	}
	webhookIssueRequest struct {
		Signing bool `json:"signing,omitempty"`
	}
	signingRequest struct {
		SigningToken secret.Secret `json:"signing_token"`
	}
	registeredAnswer struct {
		Projects []webhook.ProjectHookResult `json:"projects"`
	}
	deliveryAnswer struct {
		Status string `json:"status"`
	}
)

// schemaGen turns Go types into JSON Schemas (OpenAPI 3.1) by reflection
// over their json tags: a field without omitempty is required in answers
// (the server always sends it); pointers, slices and maps may be null;
// request bodies refuse unknown fields as decode does. Recursive types go
// to components.
type schemaGen struct {
	components map[string]any
	stack      map[reflect.Type]bool
	recursive  map[reflect.Type]bool
}

func newSchemaGen() *schemaGen {
	return &schemaGen{components: map[string]any{}, stack: map[reflect.Type]bool{}, recursive: map[reflect.Type]bool{}}
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	secretType    = reflect.TypeFor[secret.Secret]()
	unmarshalerTy = reflect.TypeFor[json.Unmarshaler]()
)

func (g *schemaGen) request(t reflect.Type) map[string]any  { return g.schema(t, true) }
func (g *schemaGen) response(t reflect.Type) map[string]any { return g.schema(t, false) }

func (g *schemaGen) schema(t reflect.Type, req bool) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{}
	case secretType:
		if req {
			return map[string]any{"type": "string", "writeOnly": true}
		}
		return map[string]any{"type": "string", "description": "always [redacted]"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.schema(t.Elem(), req))
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return nullable(map[string]any{"type": "array", "items": g.schema(t.Elem(), req)})
	case reflect.Map:
		return nullable(map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem(), req)})
	case reflect.Struct:
		return g.structSchema(t, req)
	}
	return map[string]any{}
}

// nullable lets s be null too (nil pointers, slices and maps).
func nullable(s map[string]any) map[string]any {
	if ty, ok := s["type"].(string); ok {
		out := maps.Clone(s)
		out["type"] = []string{ty, "null"}
		return out
	}
	if len(s) == 0 {
		return s
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

func (g *schemaGen) structSchema(t reflect.Type, req bool) map[string]any {
	// A type that decodes itself from a list (a replacement list) is that list.
	if reflect.PointerTo(t).Implements(unmarshalerTy) {
		if f, ok := t.FieldByName("list"); ok && f.Type.Kind() == reflect.Slice {
			return g.schema(f.Type, req)
		}
	}
	name := componentName(t, req)
	if g.stack[t] {
		g.recursive[t] = true
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	g.stack[t] = true
	props := map[string]any{}
	var required []string
	g.fields(t, req, props, &required)
	delete(g.stack, t)
	s := map[string]any{"type": "object", "properties": props}
	if req {
		s["additionalProperties"] = false
	} else if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	if g.recursive[t] {
		g.components[name] = s
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return s
}

// fields adds t's JSON fields (embedded structs flattened) to props.
func (g *schemaGen) fields(t reflect.Type, req bool, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && !hasTag {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, req, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.schema(f.Type, req)
		if strings.Contains(","+opts+",", ",string,") {
			s = map[string]any{"type": "string"}
		}
		props[name] = s
		if !strings.Contains(","+opts+",", ",omitempty,") && !strings.Contains(","+opts+",", ",omitzero,") {
			*required = append(*required, name)
		}
	}
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// componentName names a Go type in components/schemas.
func componentName(t reflect.Type, req bool) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	n := nonName.ReplaceAllString(pkg+"."+t.Name(), "_")
	if req {
		n += "_request"
	}
	return n
}
