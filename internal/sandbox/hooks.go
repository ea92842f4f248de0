package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type hook struct {
	id           int64
	p            *project
	url          string
	name         string
	description  string
	token        string
	signingToken string
	events       map[string]bool // push_events, merge_requests_events, ...
	branchFilter string
	enableSSL    bool
	created      time.Time
}

var hookEventFlags = []string{"push_events", "tag_push_events", "issues_events", "confidential_issues_events", "merge_requests_events",
	"note_events", "confidential_note_events", "job_events", "pipeline_events", "wiki_page_events", "deployment_events", "releases_events",
	"repository_update_events"}

// Delivery is one webhook request the sandbox sent (or dropped on purpose).
type Delivery struct {
	HookID  int64       `json:"hook_id"`
	URL     string      `json:"url"`
	Event   string      `json:"event"`
	Status  int         `json:"status"` // 0 when the request failed or was dropped
	Error   string      `json:"error,omitempty"`
	Dropped bool        `json:"dropped,omitempty"`
	Header  http.Header `json:"header"`
	Body    []byte      `json:"-"`
	Time    time.Time   `json:"time"`
}

type delivery struct {
	h         *hook
	event     string // X-Gitlab-Event
	body      []byte
	eventUUID string
	idemKey   string
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Sandbox) renderHook(h *hook) map[string]any {
	out := map[string]any{"id": h.id, "url": h.url, "project_id": h.p.id, "created_at": gtime(h.created),
		"push_events_branch_filter": h.branchFilter, "enable_ssl_verification": h.enableSSL}
	if h.branchFilter == "" {
		out["push_events_branch_filter"] = nil
	}
	for _, f := range hookEventFlags {
		out[f] = h.events[f]
	}
	if s.ver.atLeast(15, 7) {
		out["alert_status"] = "executable"
		out["disabled_until"] = nil
		out["url_variables"] = []any{}
	}
	if s.ver.atLeast(17, 1) {
		out["name"] = h.name
		out["description"] = h.description
	}
	if s.ver.hasSigning() {
		out["token_present"] = h.token != ""
		out["signing_token_present"] = h.signingToken != ""
	}
	return out
}

func (c *call) maintainerProject() (*project, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	if !c.user.admin && accessLevel(p, c.user) < accessMaintainer {
		return nil, errForbidden
	}
	return p, nil
}

func (c *call) hook(p *project) (*hook, error) {
	id, err := c.iidParam("hid")
	if err != nil {
		return nil, err
	}
	for _, h := range p.hooks {
		if h.id == id {
			return h, nil
		}
	}
	return nil, notFound("Project Hook")
}

func (s *Sandbox) listHooks(c *call) (any, error) {
	p, err := c.maintainerProject()
	if err != nil {
		return nil, err
	}
	return paginate(c, p.hooks, func(h *hook) any { return s.renderHook(h) }), nil
}

func (s *Sandbox) getHook(c *call) (any, error) {
	p, err := c.maintainerProject()
	if err != nil {
		return nil, err
	}
	h, err := c.hook(p)
	if err != nil {
		return nil, err
	}
	return s.renderHook(h), nil
}

// params reads a JSON or form body, as Grape accepts both.
func (c *call) params() (map[string]string, error) {
	out := map[string]string{}
	ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if err != nil {
		return nil, grapeErr(http.StatusBadRequest, "body could not be read")
	}
	if ct == "application/json" && len(bytes.TrimSpace(body)) > 0 {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, grapeErr(http.StatusBadRequest, "body is not valid JSON")
		}
		for k, v := range m {
			switch x := v.(type) {
			case string:
				out[k] = x
			case nil:
			default:
				b, _ := json.Marshal(x)
				out[k] = string(b)
			}
		}
	} else {
		form, _ := url.ParseQuery(string(body))
		for k := range form {
			out[k] = form.Get(k)
		}
	}
	for k, v := range c.r.URL.Query() {
		if _, ok := out[k]; !ok && k != "private_token" && k != "access_token" {
			out[k] = v[0]
		}
	}
	return out, nil
}

func (s *Sandbox) applyHookParams(h *hook, in map[string]string) error {
	if v, ok := in["url"]; ok {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &apiError{status: http.StatusUnprocessableEntity, body: map[string]any{"message": map[string][]string{"url": {"is blocked: Only allowed schemes are http, https"}}}}
		}
		h.url = v
	}
	for _, f := range hookEventFlags {
		if v, ok := in[f]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return badParam(f)
			}
			h.events[f] = b
		}
	}
	if v, ok := in["enable_ssl_verification"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badParam("enable_ssl_verification")
		}
		h.enableSSL = b
	}
	if v, ok := in["token"]; ok {
		h.token = v
	}
	if v, ok := in["push_events_branch_filter"]; ok {
		h.branchFilter = v
	}
	if v, ok := in["name"]; ok {
		h.name = v
	}
	if v, ok := in["description"]; ok {
		h.description = v
	}
	if v, ok := in["signing_token"]; ok && s.ver.hasSigning() {
		key, ok := strings.CutPrefix(v, "whsec_")
		raw, err := base64.StdEncoding.DecodeString(key)
		if !ok || err != nil || len(raw) != 32 {
			return &apiError{status: http.StatusUnprocessableEntity, body: map[string]any{"message": map[string][]string{"signing_token": {"must be in the format whsec_<base64 of 32 bytes>"}}}}
		}
		h.signingToken = v
	}
	return nil
}

func (s *Sandbox) createHook(c *call) (any, error) {
	p, err := c.maintainerProject()
	if err != nil {
		return nil, err
	}
	in, err := c.params()
	if err != nil {
		return nil, err
	}
	if in["url"] == "" {
		return nil, grapeErr(http.StatusBadRequest, "url is missing")
	}
	s.nextHookID++
	h := &hook{id: s.nextHookID, p: p, created: s.clock(), enableSSL: true, events: map[string]bool{"push_events": true}}
	if err := s.applyHookParams(h, in); err != nil {
		s.nextHookID--
		return nil, err
	}
	p.hooks = append(p.hooks, h)
	return withStatus{http.StatusCreated, s.renderHook(h)}, nil
}

func (s *Sandbox) updateHook(c *call) (any, error) {
	p, err := c.maintainerProject()
	if err != nil {
		return nil, err
	}
	h, err := c.hook(p)
	if err != nil {
		return nil, err
	}
	in, err := c.params()
	if err != nil {
		return nil, err
	}
	cp := *h
	cp.events = map[string]bool{}
	for k, v := range h.events {
		cp.events[k] = v
	}
	if err := s.applyHookParams(&cp, in); err != nil {
		return nil, err
	}
	*h = cp
	return s.renderHook(h), nil
}

func (s *Sandbox) deleteHook(c *call) (any, error) {
	p, err := c.maintainerProject()
	if err != nil {
		return nil, err
	}
	h, err := c.hook(p)
	if err != nil {
		return nil, err
	}
	for i, x := range p.hooks {
		if x == h {
			p.hooks = append(p.hooks[:i:i], p.hooks[i+1:]...)
			break
		}
	}
	return withStatus{http.StatusNoContent, nil}, nil
}

// fire queues a payload for every hook of p subscribed to flag. Call with
// s.mu held; the deliveries are returned to be enqueued after unlocking.
func (s *Sandbox) fire(p *project, flag, event string, payload any) []delivery {
	var out []delivery
	var body []byte
	eventUUID := newUUID()
	for _, h := range p.hooks {
		if !h.events[flag] {
			continue
		}
		if body == nil {
			body, _ = json.Marshal(payload)
		}
		out = append(out, delivery{h: h, event: event, body: body, eventUUID: eventUUID, idemKey: newUUID()})
	}
	return out
}

func (s *Sandbox) enqueue(ds []delivery) {
	for _, d := range ds {
		if s.closed.Load() {
			return
		}
		s.hookQ <- d
	}
}

func (s *Sandbox) deliverLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-s.hookQ:
			s.deliver(ctx, d)
		}
	}
}

// hookHeaders are the headers GitLab of this version sends with a delivery.
func (s *Sandbox) hookHeaders(d delivery, now time.Time) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitLab/"+s.ver.String())
	h.Set("X-Gitlab-Event", d.event)
	if d.h.token != "" {
		h.Set("X-Gitlab-Token", d.h.token)
	}
	if s.ver.hasEventUUID() {
		h.Set("X-Gitlab-Event-UUID", d.eventUUID)
	}
	if s.ver.hasInstanceHeader() {
		h.Set("X-Gitlab-Instance", s.baseURL)
	}
	if s.ver.hasWebhookUUID() {
		h.Set("X-Gitlab-Webhook-UUID", newUUID())
	}
	if s.ver.hasIdempotencyKey() {
		h.Set("Idempotency-Key", d.idemKey)
	}
	if s.ver.hasSigning() && d.h.signingToken != "" {
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(d.h.signingToken, "whsec_"))
		ts := strconv.FormatInt(now.Unix(), 10)
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.", d.idemKey, ts)
		mac.Write(d.body)
		h.Set("webhook-id", d.idemKey)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return h
}

func (s *Sandbox) deliver(ctx context.Context, d delivery) {
	now := s.clock()
	rec := Delivery{HookID: d.h.id, URL: d.h.url, Event: d.event, Header: s.hookHeaders(d, now), Body: d.body, Time: now}
	if f := s.faults.Load(); f.DropWebhooks || slices.Contains(f.DropWebhooksOf, d.h.p.id) {
		rec.Dropped = true
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.h.url, bytes.NewReader(d.body))
		if err == nil {
			req.Header = rec.Header.Clone()
			var resp *http.Response
			if resp, err = s.hookHTTP.Load().Do(req); err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 8<<10))
				resp.Body.Close()
				rec.Status = resp.StatusCode
			}
		}
		if err != nil {
			rec.Error = err.Error()
		}
	}
	s.deliverMu.Lock()
	s.delivered = append(s.delivered, rec)
	s.deliverMu.Unlock()
}

// Deliveries returns the webhook deliveries made so far, oldest first.
func (s *Sandbox) Deliveries() []Delivery {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	out := make([]Delivery, len(s.delivered))
	copy(out, s.delivered)
	return out
}

// SetWebhookTransport replaces the HTTP transport used for deliveries, for
// receivers served with their own CA. It never disables verification.
func (s *Sandbox) SetWebhookTransport(rt http.RoundTripper) {
	s.hookHTTP.Store(&http.Client{Timeout: 10 * time.Second, Transport: rt})
}
