package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/ingest"
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

	// mu makes ProcessOnce calls on one processor take turns.
	mu sync.Mutex
	// ahead is the next batch, read and planned while the previous one
	// was being written (nil: none).
	ahead *readAhead
	// onPush is called, after its transaction committed, with every push
	// and tag-push delivery processed (stored or ignored); see OnPush.
	onPush func(context.Context, store.Delivery)
}

// OnPush sets f to be called with every push and tag-push delivery once
// its transaction is committed, whatever the pushes service says
// (repository mirrors fetch on them). Call it before Start.
func (p *Processor) OnPush(f func(context.Context, store.Delivery)) { p.onPush = f }

// pushed hands the committed push deliveries among plans to onPush.
func (p *Processor) pushed(ctx context.Context, plans []plan) {
	if p.onPush == nil {
		return
	}
	for _, pl := range plans {
		if d := pl.d; d.BodyErr == nil && (d.EventKind == "push" || d.EventKind == "tag_push") {
			p.onPush(ctx, d)
		}
	}
}

// pushedDeliveries hands push deliveries committed at intake to onPush.
func (p *Processor) pushedDeliveries(ctx context.Context, ds []store.Delivery) {
	if p.onPush == nil {
		return
	}
	for _, d := range ds {
		p.onPush(ctx, d)
	}
}

// readAhead is a batch read and planned while the batch before it was
// being written.
type readAhead struct {
	plans []plan
	at    time.Time // when the call that planned it returned
}

// aheadFresh bounds how long after the call that planned it a batch
// planned ahead may still be taken: later, it is planned again, so that
// services and selections are read when the deliveries are processed, not
// long before. The processor's own loop asks for the next batch at once
// after a non-empty one.
const aheadFresh = 50 * time.Millisecond

// NewProcessor returns a processor; call Start.
func NewProcessor(st *store.Store, log *slog.Logger) *Processor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// On PostgreSQL the processor writes beside the intake on its own
	// connection, and a batch's cost is mostly per batch (the change
	// feed's lock, the pending check, a handful of statements): 500 a
	// transaction drained 4,886-5,101 deliveries/s where 200 drained
	// 4,313-4,800 (labsync bench webhooks -n 20000 -c 64, same load).
	batch := 500
	if st.Dialect() == store.SQLite {
		// The processor's transaction holds the one writer the intake's
		// group commit waits for: shorter ones keep acknowledgements
		// quick (labsync bench webhooks: lower p99 at 64 than at 200).
		batch = 64
	}
	return &Processor{st: st, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		batch: batch, Idle: 500 * time.Millisecond}
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
//
// The batch is read, its payloads parsed and routed (service toggles,
// project selection) before the write transaction, from the read pool: the
// write transaction, which on SQLite holds the one writer the intake's
// group commit also needs, only checks which deliveries are still pending,
// writes their rows (consecutive deliveries of one kind and integration in
// one upsert) and records every outcome in a few statements. A batch that
// fails is retried one delivery per transaction, so a failing delivery is
// recorded as failed and does not hold up the others.
//
// While a batch is written, the next one (the deliveries after it) is read
// and planned beside it, and taken by the next call if that comes at once
// (see aheadFresh). If the write does not succeed, that batch is dropped:
// the deliveries before it are still pending and go first.
func (p *Processor) ProcessOnce(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var plans []plan
	if a := p.ahead; a != nil && len(a.plans) > 0 && time.Since(a.at) < aheadFresh {
		plans = a.plans
	}
	p.ahead = nil
	if plans == nil {
		ds, err := p.st.PendingDeliveries(ctx, nil, 0, p.batch)
		if err != nil || len(ds) == 0 {
			return 0, err
		}
		plans = p.plan(ctx, ds)
	}
	ds := make([]store.Delivery, len(plans))
	for i, pl := range plans {
		ds[i] = pl.d
	}
	next := make(chan *readAhead, 1)
	go func() {
		more, err := p.st.PendingDeliveries(ctx, nil, ds[len(ds)-1].ID, p.batch)
		if err != nil || len(more) == 0 {
			next <- nil
			return
		}
		next <- &readAhead{plans: p.plan(ctx, more)}
	}()
	n, err := p.writeBatch(ctx, plans)
	ahead := <-next
	if err == nil && n == len(plans) && ahead != nil {
		ahead.at = time.Now()
		p.ahead = ahead
	}
	return n, err
}

// writeBatch writes planned deliveries in one transaction, or one
// transaction each when that fails, and returns how many it took.
func (p *Processor) writeBatch(ctx context.Context, plans []plan) (int, error) {
	ds := make([]store.Delivery, len(plans))
	for i, pl := range plans {
		ds[i] = pl.d
	}
	n := 0
	var done []plan
	err := p.st.InTx(ctx, func(tx *sql.Tx) error {
		todo, err := p.lockPending(ctx, tx, plans)
		if err != nil {
			return err
		}
		n, done = len(todo), todo
		return p.write(ctx, tx, todo)
	})
	if errors.Is(err, store.ErrBusy) {
		return 0, nil // another replica is draining
	}
	if err == nil {
		p.pushed(ctx, done)
		return n, nil
	}
	// Isolate the delivery at fault: one transaction each, a failure recorded.
	for _, pl := range plans {
		// Planned afresh: a read that failed may succeed now.
		pl = p.planOne(ctx, newBatchCache(), pl.d, nil)
		var one []plan
		err := p.st.InTx(ctx, func(tx *sql.Tx) error {
			todo, err := p.lockPending(ctx, tx, []plan{pl})
			if err != nil {
				return err
			}
			one = todo
			return p.write(ctx, tx, todo)
		})
		if errors.Is(err, store.ErrBusy) {
			return 0, nil
		}
		if err != nil {
			if ferr := p.st.FinishDelivery(ctx, nil, pl.d.OrgID, pl.d.ID, "failed", truncate(err.Error(), 500)); ferr != nil {
				return len(ds), ferr
			}
			continue
		}
		p.pushed(ctx, one)
	}
	return len(ds), nil
}

// plan is what processing will make of one delivery, decided before the
// write transaction.
type plan struct {
	d store.Delivery
	// status and why are the outcome of a delivery that writes no rows
	// (ignored, failed); empty when ev is to be written.
	status, why string
	// ev is the parsed payload whose rows are written.
	ev ingest.Hook
	// err is a failure that is not the payload's fault (a database read);
	// the delivery is retried on its own and recorded as failed with it.
	err error
}

// plan parses and routes each delivery: a switched-off service, a project
// unknown or not selected, an event labsync does not normalise or a payload
// that does not parse decide the outcome here.
//
// Parsing is most of the work, so a large batch is planned in contiguous
// parts on up to GOMAXPROCS goroutines; the order of the plans is the
// inbox order whatever the parts.
func (p *Processor) plan(ctx context.Context, ds []store.Delivery) []plan {
	out := make([]plan, len(ds))
	parts := max(1, min(runtime.GOMAXPROCS(0), len(ds)/32))
	var wg sync.WaitGroup
	for k := range parts {
		lo, hi := k*len(ds)/parts, (k+1)*len(ds)/parts
		wg.Go(func() {
			c := newBatchCache()
			for i := lo; i < hi; i++ {
				out[i] = p.planOne(ctx, c, ds[i], nil)
			}
		})
	}
	wg.Wait()
	return out
}

// batchCache holds what planning one batch reads from the database: each
// integration's services and each project, read once per batch (a batch
// is usually many deliveries of a few projects) and afresh for the next,
// so a toggle or selection saved after a delivery was received is honoured
// when it is processed.
type batchCache struct {
	services servicesCache
	projects map[[3]int64]projectLookup
}

type projectLookup struct {
	p   store.Project
	err error
}

func newBatchCache() *batchCache {
	return &batchCache{services: servicesCache{}, projects: map[[3]int64]projectLookup{}}
}

// project returns d's integration's project pid, or ErrNotFound.
func (p *Processor) project(ctx context.Context, c *batchCache, d store.Delivery, pid int64) (store.Project, error) {
	k := [3]int64{d.OrgID, d.IntegrationID, pid}
	if r, ok := c.projects[k]; ok {
		return r.p, r.err
	}
	proj, err := p.st.ProjectByGitLabID(ctx, d.OrgID, d.IntegrationID, pid)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		c.projects[k] = projectLookup{proj, err}
	}
	return proj, err
}

// planOne decides what becomes of d. ev is its payload when the receiver
// parsed it already (nil: parsed here), so a payload is decoded once for
// routing and rows alike.
func (p *Processor) planOne(ctx context.Context, c *batchCache, d store.Delivery, ev ingest.Hook) plan {
	pl := plan{d: d}
	if d.BodyErr != nil {
		pl.status, pl.why = "failed", truncate(d.BodyErr.Error(), 500)
		return pl
	}
	if !ingest.Reads(d.EventKind) {
		pl.status, pl.why = "ignored", d.EventKind+" events are received but not normalised"
		return pl
	}
	s, err := p.services(ctx, c.services, d)
	if err != nil {
		pl.err = err
		return pl
	}
	if why := serviceOff(d.EventKind, s); why != "" {
		pl.status, pl.why = "ignored", why
		return pl
	}
	if ev == nil {
		if ev, err = ingest.ParseHook(d.EventKind, d.Body); err != nil {
			pl.status, pl.why = "failed", err.Error()
			return pl
		}
	}
	if pid := ev.ProjectID(); pid != 0 {
		proj, err := p.project(ctx, c, d, pid)
		if errors.Is(err, store.ErrNotFound) {
			pl.status, pl.why = "ignored", fmt.Sprintf("project %d is not known to labsync for this integration", pid)
			return pl
		}
		if err != nil {
			pl.err = err
			return pl
		}
		if !proj.Selected {
			pl.status, pl.why = "ignored", "project "+proj.PathWithNamespace+" is not selected"
			return pl
		}
	}
	pl.ev = ev
	return pl
}

// lockPending takes the inbox lock for tx and returns the plans whose
// deliveries are still pending: another replica may have processed some
// since they were read.
func (p *Processor) lockPending(ctx context.Context, tx *sql.Tx, plans []plan) ([]plan, error) {
	if err := p.st.LockInbox(ctx, tx); err != nil {
		return nil, err
	}
	ids := make([]int64, len(plans))
	for i, pl := range plans {
		ids[i] = pl.d.ID
	}
	live, err := p.st.StillPending(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	todo := make([]plan, 0, len(plans))
	for _, pl := range plans {
		if live[pl.d.ID] {
			todo = append(todo, pl)
		}
	}
	return todo, nil
}

// write stores the rows of plans in tx, in inbox order, and records every
// outcome.
func (p *Processor) write(ctx context.Context, tx *sql.Tx, plans []plan) error {
	outs := make([]store.Outcome, 0, len(plans))
	w := p.rowWriter(tx, func(d store.Delivery, status, why string) {
		outs = append(outs, store.Outcome{OrgID: d.OrgID, ID: d.ID, Status: status, Error: why})
	})
	if err := w.writeAll(ctx, plans); err != nil {
		return err
	}
	return p.st.FinishDeliveries(ctx, tx, outs)
}

// rowWriter writes the rows of planned deliveries in one transaction, in
// inbox order, and tells done the outcome of each. Consecutive deliveries
// of one kind and integration that change distinct objects share one
// upsert (see group); every other delivery is written on its own.
type rowWriter struct {
	p    *Processor
	tx   *sql.Tx
	g    group
	done func(d store.Delivery, status, why string)
}

func (p *Processor) rowWriter(tx *sql.Tx, done func(store.Delivery, string, string)) *rowWriter {
	return &rowWriter{p: p, tx: tx, done: done}
}

// writeAll writes every plan's rows and outcome. An error that is not the
// payload's fault (a database write) is returned and fails the whole
// transaction; a payload that yields no row is recorded as failed.
func (w *rowWriter) writeAll(ctx context.Context, plans []plan) error {
	for _, pl := range plans {
		if pl.err != nil {
			return pl.err
		}
		if pl.status != "" {
			w.done(pl.d, pl.status, pl.why)
			continue
		}
		if err := w.apply(ctx, pl.d, pl.ev); err != nil {
			var pe *payloadError
			if !errors.As(err, &pe) {
				return err
			}
			w.done(pl.d, "failed", pe.Error())
		}
	}
	return w.flush(ctx)
}

// apply writes the rows of one delivery, or adds them to the group that
// the next flush upserts: one function per kind of payload. A kind written
// on its own flushes the group first, so rows keep the inbox order.
func (w *rowWriter) apply(ctx context.Context, d store.Delivery, ev ingest.Hook) error {
	switch e := ev.(type) {
	case *ingest.MergeRequestHook:
		if err := w.approval(ctx, d, e); err != nil { // process_delivery.go
			return err
		}
		return w.mergeRequest(ctx, d, e)
	case *ingest.IssueHook:
		return w.issue(ctx, d, e)
	case *ingest.PipelineHook:
		return w.pipeline(ctx, d, e)
	case *ingest.PushHook:
		if e.IsTag() {
			return w.tagPush(ctx, d, e) // process_delivery.go
		}
		return w.push(ctx, d, e)
	case *ingest.NoteHook, *ingest.JobHook, *ingest.DeploymentHook, *ingest.ReleaseHook:
		return w.delivery(ctx, d, e) // process_delivery.go
	}
	return fmt.Errorf("webhook: no writer for %T", ev)
}

// join makes room in the group for a delivery of kind about object:
// a group of another kind or integration, or one that already changes
// object, is flushed first.
func (w *rowWriter) join(ctx context.Context, kind string, d store.Delivery, object int64) error {
	if w.g.fits(kind, d, object) {
		return nil
	}
	return w.flush(ctx)
}

func (w *rowWriter) mergeRequest(ctx context.Context, d store.Delivery, h *ingest.MergeRequestHook) error {
	if err := w.join(ctx, "merge_request", d, h.ObjectID()); err != nil {
		return err
	}
	mr, err := h.Row(d.IntegrationID)
	if err != nil {
		return &payloadError{err.Error()}
	}
	if mr.Author, err = w.p.author(ctx, w.tx, d, "merge_requests", mr.GitLabID, mr.Author); err != nil {
		return err
	}
	w.g.add("merge_request", d, h.ObjectID())
	w.g.mrs = append(w.g.mrs, mr)
	return nil
}

func (w *rowWriter) issue(ctx context.Context, d store.Delivery, h *ingest.IssueHook) error {
	if err := w.join(ctx, "issue", d, h.ObjectID()); err != nil {
		return err
	}
	is, err := h.Row(d.IntegrationID)
	if err != nil {
		return &payloadError{err.Error()}
	}
	if is.Author, err = w.p.author(ctx, w.tx, d, "issues", is.GitLabID, is.Author); err != nil {
		return err
	}
	w.g.add("issue", d, h.ObjectID())
	w.g.issues = append(w.g.issues, is)
	return nil
}

func (w *rowWriter) pipeline(ctx context.Context, d store.Delivery, h *ingest.PipelineHook) error {
	if err := w.join(ctx, "pipeline", d, h.ObjectID()); err != nil {
		return err
	}
	pipe, err := h.Row(d.IntegrationID)
	if err != nil {
		return &payloadError{err.Error()}
	}
	w.g.add("pipeline", d, h.ObjectID())
	w.g.pipelines = append(w.g.pipelines, pipe)
	return nil
}

// push stores a push or tag push and the commits its payload describes,
// one delivery at a time.
func (w *rowWriter) push(ctx context.Context, d store.Delivery, h *ingest.PushHook) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	pu, commits, err := h.Rows(d.IntegrationID, d.ReceivedAt)
	if err != nil {
		return &payloadError{err.Error()}
	}
	st := w.p.st
	res, err := st.UpsertPushes(ctx, w.tx, d.OrgID, d.IntegrationID, store.SourceWebhook, []store.Push{pu})
	if err != nil {
		return err
	}
	if res.SkippedUnknownProject == 0 && len(commits) > 0 {
		if _, err := st.UpsertCommits(ctx, w.tx, d.OrgID, d.IntegrationID, store.SourceWebhook, commits); err != nil {
			return err
		}
	}
	status, why := outcome(res)
	w.done(d, status, why)
	return nil
}

// outcome is the status of a delivery whose rows were upserted with res.
func outcome(res store.UpsertResult) (string, string) {
	if res.SkippedUnknownProject > 0 {
		return "ignored", "the project is not known to labsync for this integration (not discovered or not selected)"
	}
	return "processed", ""
}

// group gathers consecutive deliveries of one kind and integration whose
// rows go in one upsert. No two of them change the same object, so the
// upsert gives each its own change-feed entry, as one upsert per delivery
// would.
type group struct {
	kind      string
	org, in   int64
	ds        []store.Delivery
	objects   map[int64]bool
	mrs       []store.MergeRequest
	issues    []store.Issue
	pipelines []store.Pipeline
}

// fits reports whether a delivery of kind about object can join g.
func (g *group) fits(kind string, d store.Delivery, object int64) bool {
	return len(g.ds) == 0 || g.kind == kind && g.org == d.OrgID && g.in == d.IntegrationID && !g.objects[object]
}

func (g *group) add(kind string, d store.Delivery, object int64) {
	if len(g.ds) == 0 {
		g.kind, g.org, g.in, g.objects = kind, d.OrgID, d.IntegrationID, map[int64]bool{}
	}
	g.ds = append(g.ds, d)
	g.objects[object] = true
}

// flush upserts the group's rows and records its deliveries' outcomes.
// When the upsert skipped a row (its project vanished since planning),
// each row is upserted again on its own to learn which: upserts are
// idempotent, so the rows already written change nothing the second time.
func (w *rowWriter) flush(ctx context.Context) error {
	g := &w.g
	if len(g.ds) == 0 {
		return nil
	}
	st, tx := w.p.st, w.tx
	upsert := func(i, j int) (store.UpsertResult, error) {
		const src = store.SourceWebhook
		switch g.kind {
		case "merge_request":
			return st.UpsertMergeRequests(ctx, tx, g.org, g.in, src, g.mrs[i:j])
		case "issue":
			return st.UpsertIssues(ctx, tx, g.org, g.in, src, g.issues[i:j])
		case "pipeline":
			return st.UpsertPipelines(ctx, tx, g.org, g.in, src, g.pipelines[i:j])
		}
		return store.UpsertResult{}, fmt.Errorf("webhook: no group upsert for %s", g.kind)
	}
	res, err := upsert(0, len(g.ds))
	if err != nil {
		return err
	}
	for i, d := range g.ds {
		if res.SkippedUnknownProject > 0 {
			r, err := upsert(i, i+1)
			if err != nil {
				return err
			}
			status, why := outcome(r)
			w.done(d, status, why)
			continue
		}
		w.done(d, "processed", "")
	}
	*g = group{}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// servicesCache holds, for one batch, the services each integration has
// switched on, keyed by integration id (see batchCache).
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
	case "push":
		on, name = s.Pushes, "pushes"
	default:
		return deliveryServiceOff(kind, s) // process_delivery.go
	}
	if on {
		return ""
	}
	return "the " + name + " service is switched off for this integration"
}

type payloadError struct{ msg string }

func (e *payloadError) Error() string { return e.msg }

// author is the author ingest read from a payload, else what is stored
// (payloads name the author by id only, and by name only in the delivery
// that opened the object).
func (p *Processor) author(ctx context.Context, tx *sql.Tx, d store.Delivery, table string, gitlabID int64, fromPayload string) (string, error) {
	if fromPayload != "" {
		return fromPayload, nil
	}
	return p.st.KnownAuthor(ctx, tx, table, d.OrgID, d.IntegrationID, gitlabID)
}
