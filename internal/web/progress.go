package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// Progress stream timing: a snapshot at least every progressEvery (sooner
// when the sync service reports stored changes), for at most streamFor;
// the browser's EventSource then reconnects by itself.
const (
	progressEvery = time.Second
	streamFor     = 5 * time.Minute
)

// progressEvent is what the stream sends: the sync state and the bars,
// their words made here so the page and the stream say the same.
type progressEvent struct {
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Bars   []syncBar `json:"bars"`
	// Stored is what is stored now, counted on the first event and while
	// a sync runs (it changes only then, or by webhook).
	Stored string `json:"stored,omitempty"`
}

// progressStream sends the integration's sync progress as Server-Sent
// Events ("progress" events with JSON data) so the bars move live.
func (u *UI) progressStream(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	if u.Sync == nil {
		return errNotFound
	}
	ctx := r.Context()
	s := sessionFrom(ctx)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(streamFor + 10*time.Second))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	end := time.After(streamFor)
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	last := ""
	for {
		rep, err := u.Sync.Progress(ctx, s.OrgID, in.ID, true)
		if err != nil {
			if ctx.Err() == nil {
				u.log.Warn("progress stream stopped", "integration", in.ID, "err", err)
			}
			return nil
		}
		ev := progressEvent{State: rep.State, Reason: rep.Reason, Bars: syncBars(rep)}
		if last == "" || rep.State == store.SyncRunning {
			c, err := u.st.CountData(ctx, s.OrgID, in.ID)
			if err != nil {
				if ctx.Err() == nil {
					u.log.Warn("progress stream stopped", "integration", in.ID, "err", err)
				}
				return nil
			}
			ev.Stored = storedWords(c)
		}
		b, _ := json.Marshal(ev)
		if string(b) != last {
			last = string(b)
			if _, err := fmt.Fprintf(w, "event: progress\ndata: %s\n\n", b); err != nil {
				return nil
			}
		} else if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-end:
			return nil
		case <-tick.C:
		case <-u.Sync.Changes():
		}
	}
}
