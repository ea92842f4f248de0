package web

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/accounts"
)

// flashTTL bounds how long a secret waits for the page that shows it.
const flashTTL = 2 * time.Minute

// flashMax bounds how many secrets may wait at once (one per session and
// page in practice); beyond it the oldest is dropped.
const flashMax = 1024

// flashes carries a secret (a new API token, an invitation code) from the
// POST that made it to the one GET it redirects to (Post/Redirect/Get): the
// secret waits in memory only, keyed by the session and the page, and is
// handed out once, so a reload of that page shows nothing and re-issues
// nothing. It never reaches a URL, a cookie, a log line or the database.
// A server restart (or another replica) between the POST and the GET loses
// it; the page then says it was already shown, and the user makes another.
type flashes struct {
	mu    sync.Mutex
	items map[flashKey]flashItem
}

type flashKey struct {
	session [sha256.Size]byte
	page    string
}

type flashItem struct {
	value any
	until time.Time
}

func newFlashes() *flashes { return &flashes{items: map[flashKey]flashItem{}} }

func keyOf(s *accounts.Session, page string) flashKey {
	return flashKey{session: sha256.Sum256(s.IDHash), page: page}
}

// put keeps v for s's next view of page, replacing what was waiting.
func (f *flashes) put(s *accounts.Session, page string, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for k, it := range f.items {
		if now.After(it.until) {
			delete(f.items, k)
		}
	}
	if len(f.items) >= flashMax {
		var oldest flashKey
		var at time.Time
		for k, it := range f.items {
			if at.IsZero() || it.until.Before(at) {
				oldest, at = k, it.until
			}
		}
		delete(f.items, oldest)
	}
	f.items[keyOf(s, page)] = flashItem{value: v, until: now.Add(flashTTL)}
}

// take returns and forgets what waits for s on page; nil when nothing does.
func (f *flashes) take(s *accounts.Session, page string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := keyOf(s, page)
	it, ok := f.items[k]
	delete(f.items, k)
	if !ok || time.Now().After(it.until) {
		return nil
	}
	return it.value
}
