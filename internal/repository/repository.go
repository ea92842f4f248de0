// Package repository is the use-cases of code access: which projects have a
// repository mirror (the integration's "repository" service and its
// selection), when mirrors are fetched (push and tag-push webhooks, pushes the
// poller sees, hourly), who may clone them through labsync (a live API
// token of the organisation that selected the project), the audit entry of
// every clone, and each project's mirror status for the faces.
//
// The disk work is internal/mirror's; Git's protocol is internal/gitserve's.
//
// This package must never hand a mirror to a caller of another
// organisation, or of a project its organisation did not select; never keep
// a mirror of a project that is not selected with the repository service on
// (the hourly sweep removes those); never put a credential anywhere but into
// the mirror manager's RemoteFunc; and never choose an HTTP status.
package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/gitserve"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/mirror"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// Service runs the repository use-cases. Safe for concurrent use.
type Service struct {
	st  *store.Store
	m   *mirror.Manager
	acc *accounts.Service
	log *slog.Logger
	now func() time.Time
}

// New returns the service over the mirror manager m, built with
// [RemoteFor] as its RemoteFunc; acc checks the API tokens of clones.
func New(st *store.Store, m *mirror.Manager, acc *accounts.Service, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{st: st, m: m, acc: acc, log: log, now: time.Now}
	m.OnResult(s.record)
	return s
}

// record saves a clone's or fetch's outcome where every replica reads it.
func (s *Service) record(p mirror.Project, st mirror.Status) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ms := store.MirrorStatus{OrgID: p.OrgID, IntegrationID: p.IntegrationID, ProjectGitLabID: p.ProjectID, State: string(st.State),
		ObjectFormat: st.ObjectFormat, SizeBytes: st.SizeBytes, LastFetchAt: st.LastFetchAt, LastFetchMS: st.LastFetchDuration.Milliseconds(),
		LastAttemptAt: st.LastAttemptAt, LastPushAt: st.LastPushAt, Fetches: int64(st.Fetches)}
	if st.Error != nil {
		ms.ErrorKind, ms.ErrorMessage, ms.ErrorRemedy = string(st.Error.Kind), st.Error.Message, st.Error.Remedy
	}
	if err := s.st.SaveMirrorStatus(ctx, ms); err != nil {
		s.log.Warn("repository: unable to record a mirror's status", "integration", p.IntegrationID, "project", p.ProjectID, "err", err)
	}
}

// merged is this process's view of a mirror, or the recorded one when
// another replica attempted a fetch more recently.
func merged(mem mirror.Status, rec store.MirrorStatus, ok bool) mirror.Status {
	if !ok {
		return mem
	}
	if mem.LastAttemptAt != nil && (rec.LastAttemptAt == nil || !mem.LastAttemptAt.Before(*rec.LastAttemptAt)) {
		return mem // ours is as new: it may also say a fetch runs now
	}
	out := mem
	out.State, out.LastFetchAt, out.LastAttemptAt, out.Fetches = mirror.State(rec.State), rec.LastFetchAt, rec.LastAttemptAt, int(rec.Fetches)
	out.LastFetchDuration = time.Duration(rec.LastFetchMS) * time.Millisecond
	if rec.SizeBytes > 0 {
		out.SizeBytes = rec.SizeBytes
	}
	if rec.ObjectFormat != "" {
		out.ObjectFormat = rec.ObjectFormat
	}
	out.Error = nil
	if rec.ErrorKind != "" {
		out.Error = &mirror.FetchError{Kind: mirror.Kind(rec.ErrorKind), Message: rec.ErrorMessage, Remedy: rec.ErrorRemedy}
	}
	if rec.LastPushAt != nil && (out.LastPushAt == nil || rec.LastPushAt.After(*out.LastPushAt)) {
		out.LastPushAt = rec.LastPushAt
	}
	return out
}

// RemoteFor returns the manager's RemoteFunc over integ's credentials.
func RemoteFor(integ *integrations.Service) mirror.RemoteFunc {
	return func(ctx context.Context, orgID, integrationID int64) (mirror.Remote, error) {
		c, err := integ.GitCredential(ctx, orgID, integrationID)
		if err != nil {
			return mirror.Remote{}, err
		}
		return mirror.Remote{BaseURL: c.BaseURL, Username: c.Username, Token: c.Token, CAPEM: c.CAPEM}, nil
	}
}

// Manager returns the mirror manager.
func (s *Service) Manager() *mirror.Manager { return s.m }

func project(p store.Project) mirror.Project {
	return mirror.Project{Key: mirror.Key{IntegrationID: p.IntegrationID, ProjectID: p.GitLabID}, OrgID: p.OrgID,
		PathWithNamespace: p.PathWithNamespace, ObjectFormat: p.ObjectFormat, DefaultBranch: p.DefaultBranch}
}

// mirrored returns p when org's integration mirrors it: the repository
// service is on, the integration is usable and p is selected.
func (s *Service) mirrored(ctx context.Context, orgID, integrationID, gitlabID int64) (store.Project, bool, error) {
	sel, err := s.st.SelectionFor(ctx, orgID, integrationID)
	if err != nil || !sel.Services.Repository {
		return store.Project{}, false, err
	}
	p, err := s.st.ProjectByGitLabID(ctx, orgID, integrationID, gitlabID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, false, nil
	}
	if err != nil {
		return store.Project{}, false, err
	}
	return p, p.Selected, nil
}

// PushSeen asks for a debounced fetch of a project GitLab reported a push or
// tag push to at pushedAt. Projects not mirrored are ignored.
func (s *Service) PushSeen(ctx context.Context, orgID, integrationID, gitlabID int64, pushedAt time.Time) {
	p, ok, err := s.mirrored(ctx, orgID, integrationID, gitlabID)
	if err != nil {
		s.log.Warn("repository: unable to check whether a pushed project is mirrored", "integration", integrationID, "project", gitlabID, "err", err)
		return
	}
	if ok {
		s.m.Request(project(p), pushedAt)
	}
}

// OnDelivery is the webhook processor's hook: push and tag-push deliveries
// ask for a fetch, whether or not the pushes service stores them.
func (s *Service) OnDelivery(ctx context.Context, d store.Delivery) {
	if d.EventKind != "push" && d.EventKind != "tag_push" {
		return
	}
	id := int64(0)
	if d.ProjectGitLabID != nil {
		id = *d.ProjectGitLabID
	} else {
		var body struct {
			ProjectID int64 `json:"project_id"`
		}
		if json.Unmarshal(d.Body, &body) != nil {
			return
		}
		id = body.ProjectID
	}
	if id > 0 {
		s.PushSeen(ctx, d.OrgID, d.IntegrationID, id, d.ReceivedAt)
	}
}

// OnPushes is the poller's hook: pushes it stored ask for a fetch of their
// projects.
func (s *Service) OnPushes(ctx context.Context, orgID, integrationID int64, ps []store.Push) {
	latest := map[int64]time.Time{}
	for _, p := range ps {
		if p.PushedAt.After(latest[p.ProjectGitLabID]) {
			latest[p.ProjectGitLabID] = p.PushedAt
		}
	}
	for id, at := range latest {
		s.PushSeen(ctx, orgID, integrationID, id, at)
	}
}

// Mirror is one selected project's mirror as the faces show it.
type Mirror struct {
	ProjectID         int64              `json:"project_id"`
	PathWithNamespace string             `json:"path_with_namespace"`
	State             mirror.State       `json:"state"`
	ObjectFormat      string             `json:"object_format"`
	SizeBytes         int64              `json:"size_bytes"`
	LastFetchAt       *time.Time         `json:"last_fetch_at,omitempty"`
	LastAttemptAt     *time.Time         `json:"last_attempt_at,omitempty"`
	LastPushAt        *time.Time         `json:"last_push_at,omitempty"`
	LagSeconds        float64            `json:"lag_seconds"`
	Error             *mirror.FetchError `json:"error,omitempty"`
	// CloneURL is where a runner clones it from labsync.
	CloneURL string `json:"clone_url"`
}

// MirrorList is an integration's mirrors.
type MirrorList struct {
	// Enabled reports whether the integration's repository service is on.
	Enabled bool     `json:"enabled"`
	Mirrors []Mirror `json:"mirrors"`
}

// Mirrors lists the mirror of every project org's integration selected,
// with its state, size, last fetch, lag behind the last push seen and last
// error with a remedy. publicURL builds the clone URLs.
func (s *Service) Mirrors(ctx context.Context, orgID, integrationID int64, publicURL string) (MirrorList, error) {
	if _, err := s.st.Integration(ctx, orgID, integrationID); err != nil {
		return MirrorList{}, err
	}
	sel, err := s.st.SelectionFor(ctx, orgID, integrationID)
	if err != nil {
		return MirrorList{}, err
	}
	yes := true
	ps, err := s.selected(ctx, orgID, integrationID, &yes)
	if err != nil {
		return MirrorList{}, err
	}
	recorded, err := s.st.MirrorStatuses(ctx, orgID, integrationID)
	if err != nil {
		return MirrorList{}, err
	}
	out := MirrorList{Enabled: sel.Services.Repository, Mirrors: make([]Mirror, 0, len(ps))}
	now := s.now()
	for _, p := range ps {
		rec, ok := recorded[p.GitLabID]
		st := merged(s.m.Status(mirror.Key{IntegrationID: integrationID, ProjectID: p.GitLabID}), rec, ok)
		if st.LastPushAt == nil && p.LastActivityAt != nil && st.LastFetchAt != nil && p.LastActivityAt.After(*st.LastFetchAt) {
			// No push seen by this process: GitLab's last activity stands in.
			st.LastPushAt = p.LastActivityAt
		}
		format := p.ObjectFormat
		if format == "" {
			format = "sha1"
		}
		out.Mirrors = append(out.Mirrors, Mirror{ProjectID: p.GitLabID, PathWithNamespace: p.PathWithNamespace, State: st.State,
			ObjectFormat: format, SizeBytes: st.SizeBytes, LastFetchAt: st.LastFetchAt, LastAttemptAt: st.LastAttemptAt,
			LastPushAt: st.LastPushAt, LagSeconds: st.Lag(now).Seconds(), Error: st.Error,
			CloneURL: fmt.Sprintf("%s/git/%d/%s.git", publicURL, integrationID, p.PathWithNamespace)})
	}
	return out, nil
}

func (s *Service) selected(ctx context.Context, orgID, integrationID int64, sel *bool) ([]store.Project, error) {
	var out []store.Project
	q := store.ProjectQuery{Selected: sel, Limit: 500}
	for range 1000 { // at most 500,000 projects
		page, err := s.st.Projects(ctx, orgID, integrationID, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			return out, nil
		}
		last := page[len(page)-1]
		q.AfterPath, q.AfterID = last.PathWithNamespace, last.ID
	}
	return out, nil
}

// CodeNotMirrored refuses a fetch of a project that has no mirror.
const CodeNotMirrored = "not_mirrored"

// FetchNow clones or fetches one selected project's mirror now and returns
// its status; the fetch and its outcome are audited. A failed fetch is not
// an error of the call: the status carries it with its remedy.
func (s *Service) FetchNow(ctx context.Context, who integrations.Actor, integrationID, gitlabID int64, publicURL string) (Mirror, error) {
	if _, err := s.st.Integration(ctx, who.OrgID, integrationID); err != nil {
		return Mirror{}, err
	}
	p, ok, err := s.mirrored(ctx, who.OrgID, integrationID, gitlabID)
	if err != nil {
		return Mirror{}, err
	}
	if !ok {
		return Mirror{}, &problem.Error{Kind: problem.NotFound, Code: CodeNotMirrored,
			Message: fmt.Sprintf("project %d is not mirrored by this integration", gitlabID),
			Remedy:  "Select the project and switch the integration's repository service on (PUT …/selection with services.repository=true)."}
	}
	ferr := s.m.Sync(ctx, project(p))
	detail := map[string]any{"project_id": gitlabID, "path": p.PathWithNamespace, "ok": ferr == nil}
	var fe *mirror.FetchError
	if errors.As(ferr, &fe) {
		detail["error_kind"] = fe.Kind
	} else if ferr != nil {
		return Mirror{}, ferr
	}
	s.audit(ctx, who.OrgID, &who.UserID, "user", "repository.fetch", integrationID, detail)
	list, err := s.Mirrors(ctx, who.OrgID, integrationID, publicURL)
	if err != nil {
		return Mirror{}, err
	}
	for _, m := range list.Mirrors {
		if m.ProjectID == gitlabID {
			return m, nil
		}
	}
	return Mirror{}, store.ErrNotFound
}

func (s *Service) audit(ctx context.Context, orgID int64, userID *int64, actor, action string, integrationID int64, detail map[string]any) {
	b, _ := json.Marshal(detail)
	if err := s.st.Audit(ctx, store.AuditEntry{OrgID: orgID, ActorUserID: userID, Actor: actor, Action: action,
		Target: fmt.Sprintf("integration:%d", integrationID), Detail: b}); err != nil {
		s.log.Error("repository: unable to write an audit entry", "action", action, "err", err)
	}
}

// Authorize implements gitserve.Authorizer: a live API token, an
// integration of its organisation with the repository service on, and a
// selected project at path. Everything else is ErrNotFound, so a caller
// learns nothing about other organisations.
func (s *Service) Authorize(ctx context.Context, token string, integrationID int64, path string) (gitserve.Grant, error) {
	p, err := s.acc.APIToken(ctx, token)
	if errors.Is(err, accounts.ErrUnauthenticated) {
		return gitserve.Grant{}, gitserve.ErrUnauthenticated
	}
	if err != nil {
		return gitserve.Grant{}, fmt.Errorf("repository: checking a clone's token: %w", err)
	}
	i, err := s.st.Integration(ctx, p.OrgID, integrationID)
	if errors.Is(err, store.ErrNotFound) || err == nil && i.Status == store.StatusDisconnected {
		return gitserve.Grant{}, gitserve.ErrNotFound
	}
	if err != nil {
		return gitserve.Grant{}, fmt.Errorf("repository: reading integration %d: %w", integrationID, err)
	}
	sel, err := s.st.SelectionFor(ctx, p.OrgID, integrationID)
	if err != nil {
		return gitserve.Grant{}, fmt.Errorf("repository: reading the selection of integration %d: %w", integrationID, err)
	}
	if !sel.Services.Repository {
		return gitserve.Grant{}, gitserve.ErrNotFound
	}
	proj, err := s.st.ProjectByPath(ctx, p.OrgID, integrationID, path)
	if errors.Is(err, store.ErrNotFound) || err == nil && !proj.Selected {
		return gitserve.Grant{}, gitserve.ErrNotFound
	}
	if err != nil {
		return gitserve.Grant{}, fmt.Errorf("repository: reading project %s: %w", path, err)
	}
	uid := p.UserID
	return gitserve.Grant{OrgID: p.OrgID, Key: mirror.Key{IntegrationID: integrationID, ProjectID: proj.GitLabID},
		PathWithNamespace: proj.PathWithNamespace, Who: fmt.Sprintf("user:%d token:%d", uid, p.TokenID), UserID: uid, TokenID: p.TokenID}, nil
}

// Audit implements gitserve.Authorizer: one audit entry per clone or fetch
// through labsync, with who, which project and when.
func (s *Service) Audit(ctx context.Context, g gitserve.Grant, at time.Time) error {
	uid := g.UserID
	b, _ := json.Marshal(map[string]any{"project_id": g.Key.ProjectID, "path": g.PathWithNamespace, "token_id": g.TokenID, "at": at.UTC()})
	if err := s.st.Audit(ctx, store.AuditEntry{OrgID: g.OrgID, ActorUserID: &uid, Actor: "token", Action: "repository.clone",
		Target: fmt.Sprintf("integration:%d", g.Key.IntegrationID), Detail: b}); err != nil {
		return fmt.Errorf("repository: %w", err)
	}
	return nil
}

// Sweep fetches every mirrored project of every connected integration
// (debounced like a push, so the per-integration bound applies), deletes
// mirrors of projects no longer mirrored and first clones whose process
// died. It returns how many fetches it
// asked for.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	var n int
	// A replica killed mid-clone leaves a half-made clone on the shared
	// volume; the surviving replicas clear it here, their own restart
	// clears it at start.
	first := s.m.RemoveAbandoned()
	for _, status := range []string{store.StatusActive, store.StatusUnreachable} {
		is, err := s.st.AllIntegrations(ctx, status)
		if err != nil {
			return n, err
		}
		for _, i := range is {
			c, err := s.sweepOne(ctx, i)
			n += c
			if err != nil && first == nil {
				first = err
			}
		}
	}
	return n, first
}

func (s *Service) sweepOne(ctx context.Context, i store.Integration) (int, error) {
	sel, err := s.st.SelectionFor(ctx, i.OrgID, i.ID)
	if err != nil {
		return 0, err
	}
	keep := map[int64]bool{}
	n := 0
	if sel.Services.Repository {
		yes := true
		ps, err := s.selected(ctx, i.OrgID, i.ID, &yes)
		if err != nil {
			return 0, err
		}
		for _, p := range ps {
			keep[p.GitLabID] = true
			s.m.Request(project(p), time.Time{})
			n++
		}
	}
	for _, st := range s.m.List(i.ID) {
		if !keep[st.ProjectID] {
			if err := s.m.Remove(ctx, st.Key); err != nil {
				return n, err
			}
			s.log.Info("repository: deleted the mirror of a project no longer mirrored", "integration", i.ID, "project", st.ProjectID)
		}
	}
	return n, nil
}

// SelectionChanged implements integrations.MirrorRemover: after org's
// integration's selection changed, projects now mirrored are cloned (after
// the debounce delay) and mirrors no longer wanted are deleted.
func (s *Service) SelectionChanged(ctx context.Context, orgID, integrationID int64) {
	i, err := s.st.Integration(ctx, orgID, integrationID)
	if err == nil {
		_, err = s.sweepOne(ctx, i)
	}
	if err != nil {
		s.log.Warn("repository: unable to apply a selection change to the mirrors; the hourly sweep will", "integration", integrationID, "err", err)
	}
}

// RemoveIntegration implements integrations.MirrorRemover.
func (s *Service) RemoveIntegration(ctx context.Context, integrationID int64) error {
	return s.m.RemoveIntegration(ctx, integrationID)
}

// SweepArgs is the hourly job that runs Sweep.
type SweepArgs struct{}

// Kind names the job in River.
func (SweepArgs) Kind() string { return "repository_mirror_sweep" }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	s *Service
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := w.s.Sweep(ctx)
	return err
}

// SweepEvery is how often every mirror is fetched even without a push.
const SweepEvery = time.Hour

// RegisterJobs adds the hourly sweep (run once across replicas by the
// leader, and once at start).
func (s *Service) RegisterJobs(r *jobs.Runner) {
	jobs.Add(r, &sweepWorker{s: s})
	r.AddPeriodic(river.NewPeriodicJob(river.PeriodicInterval(SweepEvery),
		func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
		&river.PeriodicJobOpts{ID: "repository_mirror_sweep", RunOnStart: true}))
}
