package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// SQLite checkpointing. In WAL mode each commit appends to the WAL, and by
// default the committing connection copies the WAL back into the database
// file (a checkpoint, with its own fsync) every 1,000 pages: every so often
// one webhook batch pays for everyone's checkpoint while intake stands
// still. labsync turns that off on the writer and checkpoints from a
// connection of its own in the background instead; a PASSIVE checkpoint
// runs beside the writer without blocking it.
const (
	checkpointEvery = 100 * time.Millisecond
	// walRestartPages is the WAL size (pages) above which the checkpointer
	// waits for readers to move on so the WAL can start over (RESTART)
	// rather than grow.
	walRestartPages = 64 << 10
)

type checkpointer struct {
	db     *sql.DB
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
	err    error
}

func startCheckpointer(ctx context.Context, path string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("store: unable to open the checkpoint connection: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: unable to open the checkpoint connection: %w", err)
	}
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.checkpoint("PASSIVE")
		}
	}
}

// checkpoint copies what it can of the WAL into the database; past
// walRestartPages it escalates to RESTART so the WAL cannot grow forever.
func (c *checkpointer) checkpoint(mode string) {
	var busy, logPages, done int
	if err := c.db.QueryRow(`PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &logPages, &done); err != nil {
		return // the next tick tries again; a checkpoint is never required for correctness
	}
	if mode == "PASSIVE" && logPages > walRestartPages && done < logPages {
		c.checkpoint("RESTART")
	}
}

// close stops the loop and leaves the WAL folded into the database file.
// Closing twice is harmless, like closing the store twice.
func (c *checkpointer) close() error {
	c.closed.Do(func() {
		close(c.stop)
		<-c.done
		c.checkpoint("TRUNCATE")
		c.err = c.db.Close()
	})
	return c.err
}
