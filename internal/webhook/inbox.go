package webhook

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// Inbox writes deliveries durably with group commit: deliveries that arrive
// while a transaction commits are written together by the next one, so the
// cost of an fsync is shared and latency stays one commit long under load.
// Submit returns only after the delivery's transaction committed.
type Inbox struct {
	st       *store.Store
	log      *slog.Logger
	maxBatch int
	in       chan *pending
	stopOnce sync.Once
	stopped  chan struct{}
	done     chan struct{}
	batches  func(n int) // metric hook
	onCommit func()      // wakes the processor
	// proc, when set, processes deliveries in the transaction that stores
	// them (see Processor.intake); nil: they are stored pending.
	proc *Processor
}

type pending struct {
	d    store.Delivery
	ev   ingest.Hook // the parsed payload, or nil
	res  store.InsertResult
	err  error
	done chan struct{}
}

// ErrInboxClosed means the process is shutting down; the sender should retry.
var ErrInboxClosed = errors.New("webhook: inbox is shutting down")

// NewInbox returns an inbox writing to st; call Start.
func NewInbox(st *store.Store, log *slog.Logger) *Inbox {
	return &Inbox{st: st, log: log, maxBatch: 512, in: make(chan *pending, 4096),
		stopped: make(chan struct{}), done: make(chan struct{}), batches: func(int) {}, onCommit: func() {}}
}

// Start runs the writer until Stop.
func (b *Inbox) Start() { go b.run() }

// Stop lets the writer commit what it has, then returns. Submissions after
// Stop fail with ErrInboxClosed.
func (b *Inbox) Stop() {
	b.stopOnce.Do(func() { close(b.stopped) })
	<-b.done
}

// Submit writes d durably and reports what became of it: inserted, a
// duplicate already stored, or refused because its endpoint is gone. ev is
// d's parsed payload when the caller has it (nil otherwise): with a
// processor attached, d is then processed as it is stored.
func (b *Inbox) Submit(ctx context.Context, d store.Delivery, ev ingest.Hook) (store.InsertResult, error) {
	p := &pending{d: d, ev: ev, done: make(chan struct{})}
	select {
	case <-b.stopped:
		return store.Duplicate, ErrInboxClosed
	case b.in <- p:
	}
	// Wait for the commit even if the sender hung up: the answer decides
	// nothing any more, but the write is already on its way.
	<-p.done
	return p.res, p.err
}

func (b *Inbox) run() {
	defer close(b.done)
	batch := make([]*pending, 0, b.maxBatch)
	for {
		select {
		case p := <-b.in:
			batch = append(batch[:0], p)
		case <-b.stopped:
			// Drain what was accepted before the stop.
			for {
				select {
				case p := <-b.in:
					b.commit([]*pending{p})
				default:
					return
				}
			}
		}
	collect:
		for len(batch) < b.maxBatch {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				break collect
			}
		}
		b.commit(batch)
	}
}

func (b *Inbox) commit(batch []*pending) {
	ds := make([]store.Delivery, len(batch))
	for i, p := range batch {
		ds[i] = p.d
	}
	ctx := context.Background()
	var (
		res    []store.InsertResult
		err    error
		left   = 1
		pushes []store.Delivery
	)
	if b.proc != nil {
		evs := make([]ingest.Hook, len(batch))
		for i, p := range batch {
			evs[i] = p.ev
		}
		res, left, pushes, err = b.proc.intake(ctx, ds, evs)
	} else {
		res, err = b.st.InsertDeliveries(ctx, ds)
	}
	if err != nil {
		b.log.Error("webhook inbox write failed; senders get 503 and will retry", "deliveries", len(batch), "err", err)
	}
	b.batches(len(batch))
	if err == nil && left > 0 {
		b.onCommit()
	}
	for i, p := range batch {
		if err != nil {
			p.err = err
		} else {
			p.res = res[i]
		}
		close(p.done)
	}
	if b.proc != nil && len(pushes) > 0 {
		b.proc.pushedDeliveries(ctx, pushes)
	}
}
