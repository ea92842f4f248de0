package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps SQLite's write connection's statements compiled, by
// text, for the batch writes that run again and again in the same shape
// (the inbox insert, a page's upsert): compiling a statement of a few
// thousand parameters costs about as much as running it.
//
// A statement first seen inside a transaction cannot be prepared on the
// database then (the transaction holds the only write connection), so it
// runs uncompiled once and is prepared when the transaction ends.
// PostgreSQL needs none of this: pgx keeps its own statement cache.
type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
	closed bool
}

// stmtCacheSize bounds the statements kept; shapes beyond it run
// uncompiled, as before there was a cache.
const stmtCacheSize = 64

// cachedStmt returns the compiled statement for q, or nil after noting
// that q is wanted.
func (s *Store) cachedStmt(q string) *sql.Stmt {
	if s.dialect != SQLite {
		return nil
	}
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[q]; ok {
		return st
	}
	if !c.closed && len(c.stmts)+len(c.wanted) < stmtCacheSize {
		if c.wanted == nil {
			c.wanted = map[string]bool{}
		}
		c.wanted[q] = true
	}
	return nil
}

// txQuery runs q in tx, compiled once per shape on SQLite.
func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if st := s.cachedStmt(q); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, q, args...)
}

// txExec executes q in tx, compiled once per shape on SQLite.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.cachedStmt(q); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// prepareWanted compiles the statements noted inside transactions, now
// that the write connection is free. A statement that fails to compile is
// forgotten: it keeps running uncompiled, and reports its own error there.
func (s *Store) prepareWanted(ctx context.Context) {
	c := &s.stmts
	c.mu.Lock()
	if len(c.wanted) == 0 || c.closed {
		c.mu.Unlock()
		return
	}
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for q := range wanted {
		st, err := s.db.PrepareContext(context.WithoutCancel(ctx), q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.closed || c.stmts[q] != nil {
			c.mu.Unlock()
			st.Close()
			continue
		}
		if c.stmts == nil {
			c.stmts = map[string]*sql.Stmt{}
		}
		c.stmts[q] = st
		c.mu.Unlock()
	}
}

// close releases the compiled statements; later lookups find none.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts, c.wanted = nil, nil
}

// batchSizes splits n rows into chunks of a few fixed sizes, largest
// first, so batch statements come in few shapes and stay compiled.
func batchSizes(n, largest int) []int {
	sizes := []int{largest, max(1, largest/4), max(1, largest/16), 1}
	var out []int
	for _, sz := range sizes {
		for n >= sz {
			out = append(out, sz)
			n -= sz
		}
	}
	return out
}
