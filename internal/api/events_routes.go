package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labsync/labsync/internal/problem"
)

// feedParams reads ?after= (or Last-Event-ID), ?integration_id= and ?limit=.
func feedParams(r *http.Request) (after, integration int64, limit int, err error) {
	v := r.URL.Query()
	a := v.Get("after")
	if a == "" {
		a = r.Header.Get("Last-Event-ID")
	}
	for _, f := range []struct {
		name, val string
		dst       *int64
	}{{"after", a, &after}, {"integration_id", v.Get("integration_id"), &integration}} {
		if f.val == "" {
			continue
		}
		n, perr := strconv.ParseInt(f.val, 10, 64)
		if perr != nil || n < 0 {
			return 0, 0, 0, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: f.name, Message: f.name + " must be a positive integer"}
		}
		*f.dst = n
	}
	limit, err = intParam(r, "limit")
	return after, integration, limit, err
}

// listEvents serves the change feed: entries after ?after=, oldest first,
// one per change whatever its source; "next_after" resumes.
func (a *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	after, integ, limit, err := feedParams(r)
	if err != nil {
		return err
	}
	es, err := a.store.Feed(r.Context(), caller(r).OrgID, integ, after, limit)
	if err != nil {
		return err
	}
	next := after
	if len(es) > 0 {
		next = es[len(es)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": es, "next_after": next})
	return nil
}

// streamEvents serves the change feed as Server-Sent Events: each entry is
// an event "change" whose id is the feed id (reconnect with Last-Event-ID),
// with a comment every 15 s to keep proxies from closing the stream.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) error {
	after, integ, _, err := feedParams(r)
	if err != nil {
		return err
	}
	org := caller(r).OrgID
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	ctx := r.Context()
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		var wake <-chan struct{}
		if a.Sync != nil {
			wake = a.Sync.Changes()
		}
		es, err := a.store.Feed(ctx, org, integ, after, 500)
		if err != nil {
			return nil // the response has started: end the stream
		}
		for _, e := range es {
			b, _ := json.Marshal(e)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: change\ndata: %s\n\n", e.ID, b); err != nil {
				return nil
			}
			after = e.ID
		}
		if len(es) > 0 {
			rc.Flush()
		}
		if len(es) == 500 {
			continue
		}
		poll := time.NewTimer(time.Second) // webhook writers do not wake us
		select {
		case <-ctx.Done():
			poll.Stop()
			return nil
		case <-wake:
		case <-poll.C:
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				poll.Stop()
				return nil
			}
			rc.Flush()
		}
		poll.Stop()
	}
}
