package syncer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/store"
)

// conn is one run's way to GitLab: the integration's client, its pacer and
// a request counter.
type conn struct {
	svc      *Service
	client   *gitlab.Client
	pacer    *pacer
	integ    int64
	requests atomic.Int64
	// inFlight bounds the requests in flight to the run's concurrency,
	// whatever number of chains are working (some are writing their page).
	inFlight chan struct{}
}

// newConn returns a connection to one integration's GitLab with at most
// the service's concurrency of requests in flight.
func (s *Service) newConn(client *gitlab.Client, integrationID int64) *conn {
	return s.newConnN(client, integrationID, s.opts.Concurrency)
}

// newConnN returns a connection with at most n requests in flight.
func (s *Service) newConnN(client *gitlab.Client, integrationID int64, n int) *conn {
	return &conn{svc: s, client: client, pacer: s.pacerFor(integrationID), integ: integrationID,
		inFlight: make(chan struct{}, max(1, n))}
}

// concurrencyFor is the request concurrency of an integration: its own
// setting, or the service default.
func (s *Service) concurrencyFor(st store.SyncSettings) int {
	if st.RequestConcurrency > 0 {
		return st.RequestConcurrency
	}
	return s.opts.Concurrency
}

// page is one answer of a list endpoint.
type page struct {
	items []json.RawMessage
	// next is X-Next-Page (offset pagination), 0 on the last page.
	next int64
	// nextLink is the Link rel="next" URL (keyset pagination).
	nextLink string
	// total is X-Total, nil when GitLab did not count (above 10,000 rows).
	total *int64
}

// get fetches one page of an API path (relative to /api/v4, e.g.
// "projects/7/merge_requests") with query q, or the absolute next link of a
// keyset page when link is set. It waits for the pacer, retries 5xx, 429,
// timeouts and network failures with backoff up to MaxAttempts, and
// returns other failures as *gitlab.APIError.
func (c *conn) get(ctx context.Context, path string, q url.Values, link string) (page, error) {
	var last error
	for attempt := range c.svc.opts.MaxAttempts {
		if err := c.pacer.wait(ctx); err != nil {
			return page{}, err
		}
		select {
		case c.inFlight <- struct{}{}:
		case <-ctx.Done():
			return page{}, ctx.Err()
		}
		pg, resp, err := c.do(ctx, path, q, link)
		<-c.inFlight
		c.requests.Add(1)
		hdr, status := resp.Header, resp.Status
		c.svc.metrics.request(c.integ, status)
		if err == nil {
			c.pacer.done(hdr, false, 0)
			return pg, nil
		}
		ae := gitlab.ClassifyError(err)
		if ctx.Err() != nil {
			c.pacer.done(hdr, false, 0)
			return page{}, ctx.Err()
		}
		if !ae.Retryable() {
			c.pacer.done(hdr, false, 0)
			return page{}, ae
		}
		wait := time.Duration(0)
		if ae.Kind == gitlab.KindRateLimited {
			wait = max(ae.RetryAfter, time.Second)
		}
		c.pacer.done(hdr, ae.Kind != gitlab.KindRateLimited, wait)
		last = ae
		if wait == 0 {
			t := time.NewTimer(backoff(c.svc.opts.RetryBase, attempt))
			select {
			case <-ctx.Done():
				t.Stop()
				return page{}, ctx.Err()
			case <-t.C:
			}
		}
	}
	return page{}, last
}

func (c *conn) do(ctx context.Context, path string, q url.Values, link string) (page, gitlab.Answer, error) {
	var u *url.URL
	if link != "" {
		var err error
		if u, err = url.Parse(link); err != nil {
			return page{}, gitlab.Answer{}, err
		}
	} else {
		q2 := url.Values{}
		for k, v := range q {
			if k != "_one" {
				q2[k] = v
			}
		}
		u = c.client.APIURL(path, q2)
	}
	var body bytes.Buffer
	resp, err := c.client.Get(ctx, u, &body)
	if err != nil {
		return page{}, resp, err
	}
	items, err := splitItems(body.Bytes(), q.Get("_one") != "")
	if err != nil {
		return page{}, resp, err
	}
	pg := page{items: items, next: resp.NextPage, nextLink: resp.NextLink}
	if link == "" && q.Get("pagination") != "keyset" {
		pg.nextLink = ""
	}
	if resp.HasTotal {
		t := resp.Total
		pg.total = &t
	}
	return pg, resp, nil
}

// getOne fetches a single object (not a list), such as /version.
func (c *conn) getOne(ctx context.Context, path string, q url.Values) (json.RawMessage, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("_one", "1")
	pg, err := c.get(ctx, path, q, "")
	if err != nil || len(pg.items) == 0 {
		return nil, err
	}
	return pg.items[0], nil
}

// isTokenProblem reports whether err means the credential must be replaced.
func isTokenProblem(err error) bool {
	var ae *gitlab.APIError
	return errors.As(err, &ae) && ae.IsTokenProblem()
}

// accessProblem reports whether err is a 403 or 404 on one resource: the
// project's feature is off or the credential cannot see it.
func accessProblem(err error) (*gitlab.APIError, bool) {
	var ae *gitlab.APIError
	if errors.As(err, &ae) && (ae.Kind == gitlab.KindForbidden || ae.Kind == gitlab.KindNotFound) {
		return ae, true
	}
	return nil, false
}

// errNotJSON is an answer that is not the JSON asked for; like a cut-off
// answer, it is retried.
var errNotJSON = errors.New("sync: GitLab's answer is not valid JSON")

// splitItems validates an answer and cuts a list into its items (or
// returns the one object), each a slice of body. gjson's validator and
// walker do not build values, which makes this several times cheaper than
// decoding the page into []json.RawMessage (BenchmarkSplitPage).
func splitItems(body []byte, one bool) ([]json.RawMessage, error) {
	if !gjson.ValidBytes(body) {
		return nil, errNotJSON
	}
	if one {
		return []json.RawMessage{bytes.TrimSpace(body)}, nil
	}
	r := gjson.ParseBytes(body)
	if r.Type == gjson.Null {
		return nil, nil
	}
	if !r.IsArray() {
		return nil, fmt.Errorf("%w: a list was expected", errNotJSON)
	}
	var items []json.RawMessage
	r.ForEach(func(_, v gjson.Result) bool {
		if v.Index > 0 && v.Index+len(v.Raw) <= len(body) && string(body[v.Index:v.Index+len(v.Raw)]) == v.Raw {
			items = append(items, body[v.Index:v.Index+len(v.Raw):v.Index+len(v.Raw)])
		} else {
			items = append(items, json.RawMessage(v.Raw))
		}
		return true
	})
	return items, nil
}
