package syncer

import (
	"context"
	"database/sql"
	"sync"

	"github.com/labsync/labsync/internal/store"
)

// groupTx commits the page writes of concurrent chains together: a chain
// that finds no commit under way commits what is queued, and keeps
// committing while more arrives; the others wait for their batch. One
// transaction (one fsync on SQLite; one turn at the feed lock on
// PostgreSQL) then carries several pages instead of one. If a batch fails,
// each write in it is retried alone, so one bad page fails only its chain.
// No goroutine of its own: nothing to start or stop.
type groupTx struct {
	st      *store.Store
	mu      sync.Mutex
	pending []*txReq
	busy    bool
}

type txReq struct {
	fn   func(*sql.Tx) error
	err  error
	done chan struct{}
}

// do runs fn in a transaction shared with other chains' writes and returns
// once that transaction committed (or fn's own retry failed).
func (g *groupTx) do(fn func(*sql.Tx) error) error {
	req := &txReq{fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, req)
	if g.busy {
		g.mu.Unlock()
		<-req.done
		return req.err
	}
	g.busy = true
	for {
		batch := g.pending
		g.pending = nil
		g.mu.Unlock()
		g.commit(batch)
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.busy = false
			g.mu.Unlock()
			break
		}
	}
	<-req.done
	return req.err
}

func (g *groupTx) commit(batch []*txReq) {
	// The writes carry their callers' contexts; the transaction itself
	// must not be cut short by any one of them.
	ctx := context.Background()
	err := g.st.InTx(ctx, func(tx *sql.Tx) error {
		for _, r := range batch {
			if err := r.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			r.err = g.st.InTx(ctx, r.fn)
			close(r.done)
		}
		return
	}
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}
