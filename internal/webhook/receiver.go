package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// MaxBody is the largest delivery accepted (GitLab's own payloads stay far below).
const MaxBody = 25 << 20

// events maps X-Gitlab-Event to the kinds labsync processes.
var events = map[string]string{
	"Push Hook":               "push",
	"Tag Push Hook":           "tag_push",
	"Merge Request Hook":      "merge_request",
	"Issue Hook":              "issue",
	"Confidential Issue Hook": "issue",
	"Pipeline Hook":           "pipeline",
	"Note Hook":               "note",
	"Confidential Note Hook":  "note",
	"Job Hook":                "job",
	"Deployment Hook":         "deployment",
	"Release Hook":            "release",
}

// headersKept are stored beside the body; secrets (X-Gitlab-Token,
// webhook-signature) never are.
var headersKept = []string{"X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Instance", "X-Gitlab-Webhook-UUID",
	"Idempotency-Key", "Webhook-Id", "Webhook-Timestamp", "User-Agent"}

// Probe is the little of a payload that routes it: its kind and project.
type Probe struct {
	ObjectKind     string `json:"object_kind"`
	ProjectIDField *int64 `json:"project_id"`
	Project        *struct {
		ID *int64 `json:"id"`
	} `json:"project"`
}

// ServeHTTP receives POST /api/v1/webhooks/gitlab/{hook_id}.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hookID := r.PathValue("hook_id")
	if hookID == "" || len(hookID) > 64 {
		s.reject(w, "unknown_hook", http.StatusNotFound, "no webhook endpoint at this URL")
		return
	}
	ep, err := s.endpoint(r.Context(), hookID)
	if errors.Is(err, store.ErrNotFound) {
		s.reject(w, "unknown_hook", http.StatusNotFound, "no webhook endpoint at this URL")
		return
	}
	if err != nil {
		s.log.Error("webhook endpoint lookup failed", "err", err)
		s.reject(w, "unavailable", http.StatusServiceUnavailable, "temporarily unable to accept deliveries")
		return
	}
	if r.ContentLength > MaxBody {
		s.reject(w, "too_large", http.StatusRequestEntityTooLarge, "delivery larger than 25 MB")
		return
	}
	if !tokenMatches(r.Header.Get("X-Gitlab-Token"), ep.secretSHA) {
		s.reject(w, "unauthorized", http.StatusUnauthorized, "missing or wrong X-Gitlab-Token")
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.reject(w, "too_large", http.StatusRequestEntityTooLarge, "delivery larger than 25 MB")
			return
		}
		s.reject(w, "malformed", http.StatusBadRequest, "unable to read the delivery body")
		return
	}
	if ep.signingKey != nil {
		if err := verifySignature(r.Header, body, ep.signingKey, s.opts.Now()); err != nil {
			s.reject(w, "unauthorized", http.StatusUnauthorized, err.Error())
			return
		}
	}
	event := r.Header.Get("X-Gitlab-Event")
	kind, known := events[event]
	status := "pending"
	if !known {
		// Answer 2xx anyway: GitLab disables hooks that answer 4xx.
		kind, status = eventKind(event, ""), "ignored"
	}
	// One decoding pass serves validation, routing and rows: with a
	// processor attached, a payload labsync normalises is parsed here, on
	// the request's goroutine, and json.Unmarshal validates all of it
	// first. Anything else gets the validating pass alone.
	var ev ingest.Hook
	if known && s.inbox.proc != nil && ingest.Reads(kind) && startsObject(body) {
		if h, err := ingest.ParseHook(kind, body); err == nil {
			ev = h
		}
	}
	if ev == nil && !isJSONObject(body) {
		s.reject(w, "malformed", http.StatusBadRequest, "the delivery body is not a JSON object")
		return
	}
	sum := sha256.Sum256(body)
	d := store.Delivery{
		OrgID:         ep.orgID,
		IntegrationID: ep.integrationID,
		DedupeKey:     dedupeKey(r.Header, event, sum[:], ep.signingKey != nil),
		EventKind:     kind,
		Headers:       keptHeaders(r.Header),
		Body:          body,
		BodySHA256:    sum[:],
		ReceivedAt:    s.opts.Now().UTC(),
		Status:        status,
		HookID:        hookID,
	}
	if ev != nil {
		if pid := ev.ProjectID(); pid > 0 {
			d.ProjectGitLabID = &pid
		}
	}
	d.Pack() // here, on the request's goroutine, rather than in the single writer
	res, err := s.inbox.Submit(r.Context(), d, ev)
	if err != nil {
		s.reject(w, "unavailable", http.StatusServiceUnavailable, "temporarily unable to store the delivery; GitLab will retry")
		return
	}
	if res == store.EndpointGone {
		// Re-issued or disconnected since this replica cached it.
		s.Invalidate(hookID)
		s.reject(w, "unknown_hook", http.StatusNotFound, "no webhook endpoint at this URL")
		return
	}
	result := "accepted"
	switch {
	case res == store.Duplicate:
		result = "duplicate"
	case status == "ignored":
		result = "ignored"
	}
	s.deliveries.WithLabelValues(result).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, `{"status":"`+result+`"}`)
}

// ProjectID returns the payload's project id, or 0.
func (p Probe) ProjectID() int64 {
	switch {
	case p.ProjectIDField != nil:
		return *p.ProjectIDField
	case p.Project != nil && p.Project.ID != nil:
		return *p.Project.ID
	}
	return 0
}

// readBody reads at most MaxBody bytes, presized from Content-Length.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, MaxBody)
	if n := r.ContentLength; n > 0 && n <= MaxBody {
		buf := make([]byte, n)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		// A body longer than it announced is refused like any malformed one.
		if extra, _ := rd.Read(make([]byte, 1)); extra > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return buf, nil
	}
	return io.ReadAll(rd)
}

// startsObject reports whether b's first non-space byte opens an object.
func startsObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '{'
	}
	return false
}

// isJSONObject reports whether b is valid JSON whose value is an object.
func isJSONObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			// gjson validates without building anything, several times
			// faster than encoding/json; FuzzValidityMatchesEncodingJSON
			// holds the two to the same verdicts.
			return gjson.ValidBytes(b)
		}
		return false
	}
	return false
}

func (s *Service) reject(w http.ResponseWriter, result string, code int, msg string) {
	s.deliveries.WithLabelValues(result).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]map[string]string{"error": {"code": result, "message": msg}})
	w.Write(b)
}

// dedupeKey is, for a signed delivery (signed is true once its signature
// verified), the signed Standard Webhooks message id: no unsigned header can
// make a signed delivery new, so a captured one replayed with another
// Idempotency-Key is a duplicate. Otherwise it is Idempotency-Key (GitLab
// 17.4+, stable across retries), else the message id, else
// X-Gitlab-Event-UUID with the event and a body hash, else the event and
// the body hash (older GitLab resends identical bodies).
func dedupeKey(h http.Header, event string, sum []byte, signed bool) string {
	if signed {
		// The signature covers webhook-id, so it is the delivery's identity.
		// GitLab (19.0, gitlab-org/gitlab MR 230944) sends the delivery's
		// Idempotency-Key as webhook-id, so a retry keeps it.
		id := h.Get("webhook-id")
		if len(id) > 200 {
			s := sha256.Sum256([]byte(id))
			id = hex.EncodeToString(s[:])
		}
		return "msg:" + id
	}
	if k := strings.TrimSpace(h.Get("Idempotency-Key")); k != "" && len(k) <= 200 {
		return "idem:" + k
	}
	if len(event) > 64 {
		// Only GitLab's short names are meaningful; keep the key bounded.
		event = event[:64]
	}
	if k := strings.TrimSpace(h.Get("webhook-id")); k != "" && len(k) <= 200 {
		return "msg:" + k
	}
	bh := hex.EncodeToString(sum)
	if u := strings.TrimSpace(h.Get("X-Gitlab-Event-UUID")); u != "" && len(u) <= 100 {
		return "uuid:" + u + ":" + event + ":" + bh
	}
	return "body:" + event + ":" + bh
}

func eventKind(header, objectKind string) string {
	if objectKind != "" && len(objectKind) <= 64 {
		return objectKind
	}
	if header == "" {
		return "unknown"
	}
	if len(header) > 64 {
		header = header[:64]
	}
	return strings.ToLower(strings.ReplaceAll(header, " ", "_"))
}

// keptHeaders is the JSON object of the headers worth keeping, in the
// order of headersKept.
func keptHeaders(h http.Header) string {
	b := make([]byte, 0, 256)
	b = append(b, '{')
	for _, k := range headersKept {
		v := h.Get(k)
		if v == "" {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(append(appendJSONString(b, k), ':'), v)
	}
	return string(append(b, '}'))
}

// appendJSONString appends s as a JSON string. Header values are mostly
// plain ASCII; anything else goes through encoding/json, which escapes
// exactly as it would in a marshalled map.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
