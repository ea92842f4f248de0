package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// registerSync mounts discovery, selection, sync progress, data and feed routes.
func (a *API) registerSync(mux Mux) {
	a.route(mux, "GET /api/v1/integrations/{id}/repositories", anyMember, a.listRepositories)
	a.route(mux, "GET /api/v1/integrations/{id}/groups", anyMember, a.listGroups)
	a.route(mux, "GET /api/v1/integrations/{id}/selection", anyMember, a.getSelection)
	a.route(mux, "PUT /api/v1/integrations/{id}/selection", adminOnly, a.putSelection)
	a.route(mux, "GET /api/v1/integrations/{id}/sync", anyMember, a.syncProgress)
	a.route(mux, "POST /api/v1/integrations/{id}/sync", adminOnly, a.startSync)
	a.route(mux, "GET /api/v1/integrations/{id}/freshness", anyMember, a.projectFreshness)
	a.route(mux, "GET /api/v1/merge_requests", anyMember, a.listMergeRequests)
	a.route(mux, "GET /api/v1/issues", anyMember, a.listIssues)
	a.route(mux, "GET /api/v1/pipelines", anyMember, a.listPipelines)
	a.route(mux, "GET /api/v1/pushes", anyMember, a.listPushes)
	a.route(mux, "GET /api/v1/events", anyMember, a.listEvents)
	a.route(mux, "GET /api/v1/events/stream", anyMember, a.streamEvents)
}

var errSyncUnavailable = integrations.ErrSyncUnavailable

// integration resolves {id} to one of the caller's integrations; another
// organisation's integration is 404.
func (a *API) integration(r *http.Request) (store.Integration, error) {
	id, err := store.ParseID(r.PathValue("id"))
	if err != nil {
		return store.Integration{}, err
	}
	return a.store.Integration(r.Context(), caller(r).OrgID, id)
}

// listRepositories serves the discovery cache: ?search=, ?selected=,
// ?archived=, ?limit= (≤ 1000) and ?cursor=. ?refresh=true (admins)
// refreshes it from GitLab first; an empty cache is filled on first use.
func (a *API) listRepositories(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	p := caller(r)
	ctx := r.Context()
	q := store.ProjectQuery{Search: strings.TrimSpace(r.URL.Query().Get("search"))}
	if q.Selected, err = boolParam(r, "selected"); err != nil {
		return err
	}
	if q.Archived, err = boolParam(r, "archived"); err != nil {
		return err
	}
	if q.Limit, err = intParam(r, "limit"); err != nil {
		return err
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		path, id, ok := strings.Cut(string(b), "\x00")
		n, perr := strconv.ParseInt(id, 10, 64)
		if err != nil || !ok || perr != nil {
			return &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "cursor", Message: "cursor is not one this API returned"}
		}
		q.AfterPath, q.AfterID = path, n
	}
	state, err := a.store.SyncStateFor(ctx, p.OrgID, in.ID)
	if err != nil {
		return err
	}
	refresh := r.URL.Query().Get("refresh") == "true"
	if refresh && !adminOnly.allows(p.Role) {
		return errForbidden
	}
	if (refresh || state.DiscoveredAt == nil) && a.Sync != nil {
		if err := a.Sync.Discover(ctx, p.OrgID, in.ID); err != nil {
			return err
		}
		if state, err = a.store.SyncStateFor(ctx, p.OrgID, in.ID); err != nil {
			return err
		}
	}
	ps, err := a.store.Projects(ctx, p.OrgID, in.ID, q)
	if err != nil {
		return err
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	next := ""
	if len(ps) == limit {
		last := ps[len(ps)-1]
		next = base64.RawURLEncoding.EncodeToString([]byte(last.PathWithNamespace + "\x00" + strconv.FormatInt(last.ID, 10)))
	}
	writeJSON(w, http.StatusOK, map[string]any{"repositories": ps, "next_cursor": next, "discovered_at": state.DiscoveredAt})
	return nil
}

// listGroups serves the groups tree.
func (a *API) listGroups(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	gs, err := a.store.Groups(r.Context(), caller(r).OrgID, in.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": store.GroupTree(gs)})
	return nil
}

func (a *API) getSelection(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	sel, err := a.store.SelectionFor(r.Context(), caller(r).OrgID, in.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sel)
	return nil
}

// putSelection sets the selection: {"projects": [ids], "groups":
// [{"id", "auto_import"}], "exclusions": [globs], "include_archived",
// "services": {"merge_requests", "issues", "pipelines", "pushes"}}. A field
// left out keeps its current value (services are all on until changed), so
// sending only "groups" never switches the services off by omission.
func (a *API) putSelection(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	if a.Sync == nil || a.Integrations == nil {
		return errSyncUnavailable
	}
	p := caller(r)
	sel, err := a.store.SelectionFor(r.Context(), p.OrgID, in.ID)
	if err != nil {
		return err
	}
	// Services are decoded over the stored ones, so they change key by key;
	// a list is decoded fresh, never over the stored entries (a group sent
	// without auto_import must not inherit the flag of the group stored at
	// its position).
	body := struct {
		Projects        replacement[int64]                `json:"projects"`
		Groups          replacement[store.GroupSelection] `json:"groups"`
		Exclusions      replacement[string]               `json:"exclusions"`
		IncludeArchived *bool                             `json:"include_archived"`
		Services        store.Services                    `json:"services"`
		// UpdatedAt is accepted from clients that PUT back what they GET.
		UpdatedAt json.RawMessage `json:"updated_at"`
	}{Services: sel.Services}
	if err := decode(r, &body); err != nil {
		return err
	}
	out, err := a.Integrations.ChangeSelection(r.Context(), p.Actor(), in.ID, syncer.SelectionChange{Projects: body.Projects.change(),
		Groups: body.Groups.change(), Exclusions: body.Exclusions.change(), IncludeArchived: body.IncludeArchived, Services: &body.Services})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// syncProgress reports the sync: state, totals per resource and, unless
// ?detail=false, every project's chains (pages, items, rate, ETA, errors).
func (a *API) syncProgress(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	if a.Sync == nil {
		return errSyncUnavailable
	}
	rep, err := a.Sync.Progress(r.Context(), caller(r).OrgID, in.ID, r.URL.Query().Get("detail") != "false")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// projectFreshness lists every selected or gone project of the
// integration with its last webhook delivery, last poll, the time its data
// is fresh as of, its poll plan, whether CI/CD is disabled (pipelines
// skipped, not an error) and, for a gone project, why.
func (a *API) projectFreshness(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	if a.Sync == nil {
		return errSyncUnavailable
	}
	ps, err := a.Sync.ProjectFreshness(r.Context(), caller(r).OrgID, in.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": ps})
	return nil
}

// startSync queues a full sync (discovery, selection, backfill of what is
// new, resumption of what is unfinished). It answers 202.
func (a *API) startSync(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	if a.Sync == nil || a.Integrations == nil {
		return errSyncUnavailable
	}
	p := caller(r)
	// Milliseconds: a run's start is stored to the microsecond at best,
	// and no run starts within a millisecond of being queued.
	queued := a.store.Now().UTC().Truncate(time.Millisecond)
	if err := a.Integrations.StartSync(r.Context(), p.Actor(), in.ID); err != nil {
		return err
	}
	rep, err := a.Sync.Progress(r.Context(), p.OrgID, in.ID, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, syncStarted{Report: rep, QueuedAt: queued})
	return nil
}

// syncStarted answers a sync request: the progress as it stands (another
// run's, until the queued one starts) and when the request was queued, by
// the server's clock. The queued run is the first to start at or after
// QueuedAt; a client following it waits for that one, not a periodic
// poll that happened to be running.
type syncStarted struct {
	syncer.Report
	QueuedAt time.Time `json:"queued_at"`
}

func boolParam(r *http.Request, name string) (*bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: name, Message: name + " must be true or false"}
	}
	return &b, nil
}

func intParam(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: name, Message: name + " must be a positive integer"}
	}
	return n, nil
}

// replacement is a list a request may set: left out keeps the stored list,
// null clears it, and a list replaces it.
type replacement[T any] struct {
	set  bool
	list []T
}

func (r *replacement[T]) UnmarshalJSON(b []byte) error {
	r.set, r.list = true, []T{}
	if string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, &r.list)
}

// change is the list to set, or nil to keep the stored one.
func (r replacement[T]) change() *[]T {
	if !r.set {
		return nil
	}
	return &r.list
}
