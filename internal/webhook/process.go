package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/labsync/labsync/internal/store"
)

// Processor drains the inbox into the normalised tables and the change
// feed, in inbox order (so per project in the order GitLab delivered), each
// delivery in the same transaction as the rows it changes: a crash leaves
// it pending and reprocessing it changes nothing twice.
type Processor struct {
	st    *store.Store
	log   *slog.Logger
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	batch int
	// Idle is how long to wait for new deliveries before looking again
	// (other replicas' deliveries arrive without a wake-up).
	Idle time.Duration
	// onPush is called, after its batch committed, with every push and
	// tag-push delivery processed (stored or ignored); see OnPush.
	onPush func(context.Context, store.Delivery)
}

// OnPush sets f to be called with every push and tag-push delivery once
// its batch is committed, whatever the pushes service says (repository
// mirrors fetch on them). Call it before Start.
func (p *Processor) OnPush(f func(context.Context, store.Delivery)) { p.onPush = f }

// pushed hands the batch's push deliveries to onPush.
func (p *Processor) pushed(ctx context.Context, ds []store.Delivery) {
	if p.onPush == nil {
		return
	}
	for _, d := range ds {
		if d.BodyErr == nil && (d.EventKind == "push" || d.EventKind == "tag_push") {
			p.onPush(ctx, d)
		}
	}
}

// NewProcessor returns a processor; call Start.
func NewProcessor(st *store.Store, log *slog.Logger) *Processor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Processor{st: st, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		batch: 200, Idle: 500 * time.Millisecond}
}

// Wake tells the processor new deliveries are stored.
func (p *Processor) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Start processes until Stop.
func (p *Processor) Start() {
	go func() {
		defer close(p.done)
		for {
			n, err := p.ProcessOnce(context.Background())
			if err != nil {
				p.log.Error("webhook processing failed; will retry", "err", err)
			}
			if n > 0 && err == nil {
				continue
			}
			select {
			case <-p.stop:
				return
			case <-p.wake:
			case <-time.After(p.Idle):
			}
		}
	}()
}

// Stop finishes the current batch and stops.
func (p *Processor) Stop() {
	close(p.stop)
	<-p.done
}

// ProcessOnce processes up to one batch of pending deliveries and returns
// how many it took.
func (p *Processor) ProcessOnce(ctx context.Context) (int, error) {
	var ds []store.Delivery
	err := p.st.InTx(ctx, func(tx *sql.Tx) error {
		if err := p.st.LockInbox(ctx, tx); err != nil {
			return err
		}
		var err error
		if ds, err = p.st.PendingDeliveries(ctx, tx, 0, p.batch); err != nil {
			return err
		}
		sv := servicesCache{}
		for _, d := range ds {
			if err := p.one(ctx, tx, sv, d); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrBusy) {
		return 0, nil // another replica is draining
	}
	if err == nil || len(ds) == 0 {
		if err == nil {
			p.pushed(ctx, ds)
		}
		return len(ds), err
	}
	// Isolate the delivery at fault: one transaction each, a failure recorded.
	for _, d := range ds {
		err := p.st.InTx(ctx, func(tx *sql.Tx) error {
			if err := p.st.LockInbox(ctx, tx); err != nil {
				return err
			}
			return p.one(ctx, tx, servicesCache{}, d)
		})
		if errors.Is(err, store.ErrBusy) {
			return 0, nil
		}
		if err != nil {
			if ferr := p.st.FinishDelivery(ctx, nil, d.OrgID, d.ID, "failed", truncate(err.Error(), 500)); ferr != nil {
				return len(ds), ferr
			}
			continue
		}
		p.pushed(ctx, []store.Delivery{d})
	}
	return len(ds), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// servicesCache holds, for one batch, the services each integration has
// switched on, keyed by integration id. It is built afresh for every batch,
// so a toggle saved after a delivery was received is honoured when the
// delivery is processed.
type servicesCache map[int64]store.Services

// services returns which services d's integration syncs, read from its
// selection at processing time.
func (p *Processor) services(ctx context.Context, sv servicesCache, d store.Delivery) (store.Services, error) {
	if s, ok := sv[d.IntegrationID]; ok {
		return s, nil
	}
	sel, err := p.st.SelectionFor(ctx, d.OrgID, d.IntegrationID)
	if err != nil {
		return store.Services{}, fmt.Errorf("webhook: reading the services of integration %d: %w", d.IntegrationID, err)
	}
	sv[d.IntegrationID] = sel.Services
	return sel.Services, nil
}

// serviceOff returns why a delivery of kind is ignored when the service it
// belongs to is switched off in s, or "" when it is on (or kind belongs to
// no service). The receiver has answered such a delivery 2xx already: GitLab
// disables a hook after four failed deliveries in a row (temporarily, then
// for good after 40 since gitlab-org/gitlab!166329; before it, a 4xx
// disabled it for good), and a switched-off service is no failure.
func serviceOff(kind string, s store.Services) string {
	var on bool
	var name string
	switch kind {
	case "merge_request":
		on, name = s.MergeRequests, "merge requests"
	case "issue":
		on, name = s.Issues, "issues"
	case "pipeline":
		on, name = s.Pipelines, "pipelines"
	case "push", "tag_push":
		on, name = s.Pushes, "pushes"
	default:
		return ""
	}
	if on {
		return ""
	}
	return "the " + name + " service is switched off for this integration"
}

// one normalises and stores a delivery and records its outcome, in tx. A
// delivery for a service the integration has switched off is recorded as
// ignored with the reason and changes no rows.
func (p *Processor) one(ctx context.Context, tx *sql.Tx, sv servicesCache, d store.Delivery) error {
	if d.BodyErr != nil {
		return p.st.FinishDelivery(ctx, tx, d.OrgID, d.ID, "failed", truncate(d.BodyErr.Error(), 500))
	}
	if _, known := kindToEvent[d.EventKind]; known {
		s, err := p.services(ctx, sv, d)
		if err != nil {
			return err
		}
		if why := serviceOff(d.EventKind, s); why != "" {
			return p.st.FinishDelivery(ctx, tx, d.OrgID, d.ID, "ignored", why)
		}
	}
	status, why, err := p.apply(ctx, tx, d)
	if err != nil {
		var pe *payloadError
		if !errors.As(err, &pe) {
			return err
		}
		status, why = "failed", pe.Error()
	}
	return p.st.FinishDelivery(ctx, tx, d.OrgID, d.ID, status, why)
}

type payloadError struct{ msg string }

func (e *payloadError) Error() string { return e.msg }

var kindToEvent = map[string]gl.EventType{
	"merge_request": gl.EventTypeMergeRequest,
	"issue":         gl.EventTypeIssue,
	"pipeline":      gl.EventTypePipeline,
	"push":          gl.EventTypePush,
	"tag_push":      gl.EventTypeTagPush,
}

func (p *Processor) apply(ctx context.Context, tx *sql.Tx, d store.Delivery) (status, why string, err error) {
	et, ok := kindToEvent[d.EventKind]
	if !ok {
		return "ignored", d.EventKind + " events are received but not normalised", nil
	}
	ev, err := gl.ParseWebhook(et, d.Body)
	if err != nil {
		return "", "", &payloadError{"payload does not parse as a " + string(et) + ": " + err.Error()}
	}
	if pid := eventProject(ev); pid != 0 {
		proj, err := p.st.ProjectByGitLabID(ctx, d.OrgID, d.IntegrationID, pid)
		if errors.Is(err, store.ErrNotFound) {
			return "ignored", fmt.Sprintf("project %d is not known to labsync for this integration", pid), nil
		}
		if err != nil {
			return "", "", err
		}
		if !proj.Selected {
			return "ignored", "project " + proj.PathWithNamespace + " is not selected", nil
		}
	}
	const src = store.SourceWebhook
	var res store.UpsertResult
	switch e := ev.(type) {
	case *gl.MergeEvent:
		mr, err := p.mergeRequest(ctx, tx, d, e)
		if err != nil {
			return "", "", err
		}
		res, err = p.st.UpsertMergeRequests(ctx, tx, d.OrgID, d.IntegrationID, src, []store.MergeRequest{mr})
		if err != nil {
			return "", "", err
		}
	case *gl.IssueEvent:
		is, err := p.issue(ctx, tx, d, e)
		if err != nil {
			return "", "", err
		}
		if res, err = p.st.UpsertIssues(ctx, tx, d.OrgID, d.IntegrationID, src, []store.Issue{is}); err != nil {
			return "", "", err
		}
	case *gl.PipelineEvent:
		pl, err := pipeline(d, e)
		if err != nil {
			return "", "", err
		}
		if res, err = p.st.UpsertPipelines(ctx, tx, d.OrgID, d.IntegrationID, src, []store.Pipeline{pl}); err != nil {
			return "", "", err
		}
	case *gl.PushEvent:
		commits := make([]pushCommit, len(e.Commits))
		for i, c := range e.Commits {
			commits[i] = pushCommit{c.ID, c.Title, c.Message, c.Author.Name, c.Author.Email, c.Timestamp, c.URL}
		}
		if res, err = p.push(ctx, tx, d, e.ProjectID, e.Ref, "branch", e.Before, e.After, e.UserUsername, e.TotalCommitsCount, commits); err != nil {
			return "", "", err
		}
	case *gl.TagEvent:
		commits := make([]pushCommit, len(e.Commits))
		for i, c := range e.Commits {
			commits[i] = pushCommit{c.ID, c.Title, c.Message, c.Author.Name, c.Author.Email, c.Timestamp, c.URL}
		}
		if res, err = p.push(ctx, tx, d, e.ProjectID, e.Ref, "tag", e.Before, e.After, e.UserUsername, e.TotalCommitsCount, commits); err != nil {
			return "", "", err
		}
	default:
		return "ignored", fmt.Sprintf("%T is not normalised", ev), nil
	}
	if res.SkippedUnknownProject > 0 {
		return "ignored", "the project is not known to labsync for this integration (not discovered or not selected)", nil
	}
	return "processed", "", nil
}

// eventProject returns the GitLab project id of a parsed event, or 0.
func eventProject(ev any) int64 {
	switch e := ev.(type) {
	case *gl.MergeEvent:
		return e.Project.ID
	case *gl.IssueEvent:
		return e.Project.ID
	case *gl.PipelineEvent:
		return e.Project.ID
	case *gl.PushEvent:
		return e.ProjectID
	case *gl.TagEvent:
		return e.ProjectID
	}
	return 0
}

// webhookTime parses the time formats GitLab's payloads use across versions.
func webhookTime(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", "2006-01-02T15:04:05.000-07:00", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, &payloadError{fmt.Sprintf("unrecognised time %q", truncate(s, 40))}
}

func usernames(us []*gl.EventUser) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		if u != nil && u.Username != "" {
			out = append(out, u.Username)
		}
	}
	return out
}

func labels(ls []*gl.EventLabel) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		if l != nil {
			out = append(out, l.Title)
		}
	}
	return out
}

// author is the payload's actor when it opened the object, else what is
// stored (payloads carry only the author's id).
func (p *Processor) author(ctx context.Context, tx *sql.Tx, d store.Delivery, table string, gitlabID int64, action string, actor *gl.EventUser) (string, error) {
	if action == "open" && actor != nil {
		return actor.Username, nil
	}
	return p.st.KnownAuthor(ctx, tx, table, d.OrgID, d.IntegrationID, gitlabID)
}

func (p *Processor) mergeRequest(ctx context.Context, tx *sql.Tx, d store.Delivery, e *gl.MergeEvent) (store.MergeRequest, error) {
	a := e.ObjectAttributes
	if a.ID == 0 || e.Project.ID == 0 {
		return store.MergeRequest{}, &payloadError{"merge request payload without object or project id"}
	}
	created, err := webhookTime(a.CreatedAt)
	if err != nil {
		return store.MergeRequest{}, err
	}
	updated, err := webhookTime(a.UpdatedAt)
	if err != nil || updated == nil {
		return store.MergeRequest{}, &payloadError{"merge request payload without a valid updated_at"}
	}
	author, err := p.author(ctx, tx, d, "merge_requests", a.ID, a.Action, e.User)
	if err != nil {
		return store.MergeRequest{}, err
	}
	mr := store.MergeRequest{
		IntegrationID: d.IntegrationID, ProjectGitLabID: e.Project.ID, GitLabID: a.ID, IID: a.IID, Title: a.Title,
		State: a.State, Draft: a.Draft || a.WorkInProgress, Author: author, Assignees: usernames(e.Assignees),
		Reviewers: usernames(e.Reviewers), Labels: labels(e.Labels), SourceBranch: a.SourceBranch, TargetBranch: a.TargetBranch,
		MergeStatus: a.MergeStatus, DetailedMergeStatus: a.DetailedMergeStatus, SHA: a.LastCommit.ID, WebURL: a.URL,
		CreatedAt: created, UpdatedAt: *updated, Raw: d.Body,
	}
	if a.State == "merged" && a.Action == "merge" {
		mr.MergedAt = updated
		if e.User != nil {
			mr.MergeUser = e.User.Username
		}
	}
	if a.State == "closed" {
		mr.ClosedAt = updated
	}
	return mr, nil
}

func (p *Processor) issue(ctx context.Context, tx *sql.Tx, d store.Delivery, e *gl.IssueEvent) (store.Issue, error) {
	a := e.ObjectAttributes
	if a.ID == 0 || e.Project.ID == 0 {
		return store.Issue{}, &payloadError{"issue payload without object or project id"}
	}
	created, err := webhookTime(a.CreatedAt)
	if err != nil {
		return store.Issue{}, err
	}
	updated, err := webhookTime(a.UpdatedAt)
	if err != nil || updated == nil {
		return store.Issue{}, &payloadError{"issue payload without a valid updated_at"}
	}
	author, err := p.author(ctx, tx, d, "issues", a.ID, a.Action, e.User)
	if err != nil {
		return store.Issue{}, err
	}
	var assignees []string
	if e.Assignees != nil {
		for _, u := range *e.Assignees {
			assignees = append(assignees, u.Username)
		}
	}
	is := store.Issue{
		IntegrationID: d.IntegrationID, ProjectGitLabID: e.Project.ID, GitLabID: a.ID, IID: a.IID, Title: a.Title,
		State: a.State, Confidential: a.Confidential, Author: author, Assignees: assignees, Labels: labels(e.Labels),
		WebURL: a.URL, CreatedAt: created, UpdatedAt: *updated, Raw: d.Body,
	}
	if a.State == "closed" {
		is.ClosedAt = updated
	}
	return is, nil
}

func pipeline(d store.Delivery, e *gl.PipelineEvent) (store.Pipeline, error) {
	a := e.ObjectAttributes
	if a.ID == 0 || e.Project.ID == 0 {
		return store.Pipeline{}, &payloadError{"pipeline payload without object or project id"}
	}
	created, err := webhookTime(a.CreatedAt)
	if err != nil {
		return store.Pipeline{}, err
	}
	finished, err := webhookTime(a.FinishedAt)
	if err != nil {
		return store.Pipeline{}, err
	}
	// Pipeline payloads have no updated_at: the latest time they carry
	// orders them; equal times let the later delivery win.
	updated := created
	if finished != nil {
		updated = finished
	}
	if updated == nil {
		return store.Pipeline{}, &payloadError{"pipeline payload without created_at"}
	}
	pl := store.Pipeline{
		IntegrationID: d.IntegrationID, ProjectGitLabID: e.Project.ID, GitLabID: a.ID, Status: a.Status, Ref: a.Ref,
		SHA: a.SHA, Source: a.Source, WebURL: a.URL, CreatedAt: created, FinishedAt: finished, UpdatedAt: *updated, Raw: d.Body,
	}
	if a.IID != 0 {
		iid := a.IID
		pl.IID = &iid
	}
	if a.Duration > 0 {
		dur := a.Duration
		pl.DurationS = &dur
	}
	return pl, nil
}

type pushCommit struct {
	id, title, message, authorName, authorEmail string
	at                                          *time.Time
	url                                         string
}

func (p *Processor) push(ctx context.Context, tx *sql.Tx, d store.Delivery, projectID int64, ref, refType, before, after, user string, total int64, cs []pushCommit) (store.UpsertResult, error) {
	if projectID == 0 || ref == "" {
		return store.UpsertResult{}, &payloadError{"push payload without project id or ref"}
	}
	name, _ := store.ShortRef(ref)
	pu := store.Push{
		IntegrationID: d.IntegrationID, ProjectGitLabID: projectID, Ref: name, RefType: refType,
		BeforeSHA: before, AfterSHA: after, Author: user, CommitCount: total, PushedAt: d.ReceivedAt, Raw: d.Body,
	}
	switch {
	case isZeroSHA(before):
		pu.Action = "created"
	case isZeroSHA(after):
		pu.Action = "deleted"
	default:
		pu.Action = "pushed"
	}
	if len(cs) > 0 {
		pu.CommitTitle = cs[len(cs)-1].title
	}
	res, err := p.st.UpsertPushes(ctx, tx, d.OrgID, d.IntegrationID, store.SourceWebhook, []store.Push{pu})
	if err != nil || res.SkippedUnknownProject > 0 || len(cs) == 0 {
		return res, err
	}
	commits := make([]store.Commit, 0, len(cs))
	for _, c := range cs {
		title := c.title
		if title == "" {
			title, _, _ = strings.Cut(c.message, "\n")
		}
		commits = append(commits, store.Commit{ProjectGitLabID: projectID, SHA: c.id, Title: title,
			AuthorName: c.authorName, AuthorEmail: c.authorEmail, AuthoredAt: c.at, WebURL: c.url})
	}
	if _, err := p.st.UpsertCommits(ctx, tx, d.OrgID, d.IntegrationID, store.SourceWebhook, commits); err != nil {
		return res, err
	}
	return res, nil
}

func isZeroSHA(s string) bool { return s != "" && strings.Trim(s, "0") == "" }
