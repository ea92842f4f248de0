// Package webhook receives GitLab's webhook deliveries: it authenticates
// each one (X-Gitlab-Token in constant time, and the Standard Webhooks
// signature when a signing token is set), writes it durably to the inbox
// before answering 200, and deduplicates retries. It also issues each
// integration's webhook URL and secret. It never logs a delivery's body or
// its secret headers, and never answers 200 for a delivery it did not store.
package webhook

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
)

// Options configure the service.
type Options struct {
	// PublicURL is how GitLab reaches labsync (LABSYNC_PUBLIC_URL).
	PublicURL string
	// QuietAfter is how long without a delivery before webhooks count as
	// quiet (default 15 minutes).
	QuietAfter time.Duration
	// CacheTTL bounds how long a replica trusts its cached view of an
	// endpoint after it changed elsewhere (default 2 s).
	CacheTTL time.Duration
	// Registerer receives the metrics (optional).
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service issues endpoints and receives deliveries.
type Service struct {
	st    *store.Store
	vault *vault.Vault
	log   *slog.Logger
	opts  Options
	inbox *Inbox

	mu    sync.RWMutex
	cache map[string]cachedEndpoint

	deliveries *prometheus.CounterVec
	batchSize  prometheus.Histogram
}

// cachedEndpoint is what the receiver needs of an endpoint: no plaintext
// secret, only its hash, and the signing key when there is one.
type cachedEndpoint struct {
	orgID, integrationID int64
	secretSHA            [32]byte
	signingKey           []byte
	loadedAt             time.Time
}

// New returns the service; Start it before serving.
func New(st *store.Store, v *vault.Vault, log *slog.Logger, opts Options) *Service {
	if opts.QuietAfter <= 0 {
		opts.QuietAfter = 15 * time.Minute
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	s := &Service{st: st, vault: v, log: log, opts: opts, inbox: NewInbox(st, log), cache: map[string]cachedEndpoint{},
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labsync_webhook_deliveries_total",
			Help: "Webhook deliveries by result: accepted, duplicate, ignored, unauthorized, too_large, malformed, unknown_hook, unavailable.",
		}, []string{"result"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "labsync_webhook_inbox_batch_size", Help: "Deliveries written per inbox transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
	}
	s.inbox.batches = func(n int) { s.batchSize.Observe(float64(n)) }
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.deliveries, s.batchSize, newCollector(s))
	}
	return s
}

// OnStored registers f to run after each inbox commit (the processor's
// Wake); call before Start.
func (s *Service) OnStored(f func()) { s.inbox.onCommit = f }

// ProcessWith attaches the processor p to the receiver: p is woken for
// the deliveries the inbox leaves pending, and on SQLite the inbox
// processes each delivery it can in the transaction that stores it, with
// p's routing and writers (see Processor.intake). Call before Start.
//
// SQLite has one writer, which intake and processing took turns at: one
// transaction for both costs less CPU per delivery and raised the
// processed rate (labsync bench webhooks, issue 18). On PostgreSQL the
// inbox's insert is one pipelined round trip and processing runs beside it
// on its own connection; folding processing in put a dozen round trips
// into the intake's single writer and lowered both rates there, so
// PostgreSQL stores deliveries pending for p.
func (s *Service) ProcessWith(p *Processor) {
	if s.st.Dialect() == store.SQLite {
		s.inbox.proc = p
	}
	s.inbox.onCommit = p.Wake
}

// ProcessesAtIntake reports whether deliveries are processed as they are
// stored (see ProcessWith).
func (s *Service) ProcessesAtIntake() bool { return s.inbox.proc != nil }

// Start starts the inbox writer.
func (s *Service) Start() { s.inbox.Start() }

// Stop commits what the inbox holds and stops it; call after the HTTP
// server stopped accepting deliveries.
func (s *Service) Stop() { s.inbox.Stop() }

// Issued is a newly issued endpoint. Secret and SigningToken are shown to
// the user once and never again.
type Issued struct {
	HookID       string        `json:"hook_id"`
	URL          string        `json:"url"`
	Secret       secret.Secret `json:"-"`
	SigningToken secret.Secret `json:"-"`
	IssuedAt     time.Time     `json:"issued_at"`
}

// URLFor returns the delivery URL of a hook id.
func (s *Service) URLFor(hookID string) string {
	return s.opts.PublicURL + "/api/v1/webhooks/gitlab/" + hookID
}

var hookIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Issue creates (or re-creates, invalidating the old URL and secret at once)
// an integration's webhook endpoint. With signing, it also creates a
// Standard Webhooks signing token (GitLab 19.0+) that deliveries must then
// be signed with.
func (s *Service) Issue(ctx context.Context, orgID, integrationID int64, signing bool) (Issued, error) {
	idb := make([]byte, 20)
	sec := make([]byte, 32)
	if _, err := rand.Read(idb); err != nil {
		return Issued{}, err
	}
	if _, err := rand.Read(sec); err != nil {
		return Issued{}, err
	}
	is := Issued{
		HookID: strings.ToLower(hookIDEncoding.EncodeToString(idb)),
		Secret: secret.New("lsw_" + base64.RawURLEncoding.EncodeToString(sec)),
	}
	is.URL = s.URLFor(is.HookID)
	row := "integration:" + strconv.FormatInt(integrationID, 10)
	sealed, err := s.vault.Seal(ctx, orgID, vault.Binding{Table: "webhook_endpoints", Row: row, Field: "secret"}, []byte(is.Secret.Reveal()))
	if err != nil {
		return Issued{}, fmt.Errorf("webhook: unable to seal secret: %w", err)
	}
	var sealedSigning []byte
	if signing {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return Issued{}, err
		}
		is.SigningToken = secret.New("whsec_" + base64.StdEncoding.EncodeToString(key))
		if sealedSigning, err = s.vault.Seal(ctx, orgID, vault.Binding{Table: "webhook_endpoints", Row: row, Field: "signing"}, []byte(is.SigningToken.Reveal())); err != nil {
			return Issued{}, fmt.Errorf("webhook: unable to seal signing token: %w", err)
		}
	}
	fp := sha256.Sum256([]byte(is.Secret.Reveal()))
	old, oldErr := s.st.WebhookEndpointFor(ctx, orgID, integrationID)
	if err := s.st.SaveWebhookEndpoint(ctx, store.WebhookEndpoint{
		IntegrationID: integrationID, OrgID: orgID, HookID: is.HookID, SecretSealed: sealed, SigningSealed: sealedSigning,
	}, fp[:]); err != nil {
		return Issued{}, err
	}
	if oldErr == nil {
		s.Invalidate(old.HookID)
	}
	is.IssuedAt = s.opts.Now().UTC()
	return is, nil
}

// SetSigningToken stores a signing token the user copied from GitLab
// (empty removes it, and deliveries are then checked by token alone).
func (s *Service) SetSigningToken(ctx context.Context, orgID, integrationID int64, token secret.Secret) error {
	var sealed []byte
	if !token.IsZero() {
		if _, err := signingKey(token.Reveal()); err != nil {
			return inputError("signing_token", err.Error())
		}
		var err error
		row := "integration:" + strconv.FormatInt(integrationID, 10)
		if sealed, err = s.vault.Seal(ctx, orgID, vault.Binding{Table: "webhook_endpoints", Row: row, Field: "signing"}, []byte(strings.TrimSpace(token.Reveal()))); err != nil {
			return err
		}
	}
	e, err := s.st.WebhookEndpointFor(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	if err := s.st.SetWebhookSigning(ctx, orgID, integrationID, sealed); err != nil {
		return err
	}
	s.Invalidate(e.HookID)
	return nil
}

// inputError is a bad value in a request. The field is named in the
// message and the remedy only, as the API has always shown it.
func inputError(field, msg string) *problem.Error {
	return &problem.Error{Kind: problem.Invalid, Code: "invalid", Message: field + ": " + msg,
		Remedy: "correct " + field + " and try again"}
}

// ErrNotIssued is Register's refusal when the integration has no webhook
// URL and secret yet.
var ErrNotIssued = inputError("webhook", "issue the webhook first (POST /api/v1/integrations/{id}/webhook)")

// Invalidate drops a hook id from this replica's cache (re-issue, disconnect).
func (s *Service) Invalidate(hookID string) {
	s.mu.Lock()
	delete(s.cache, hookID)
	s.mu.Unlock()
}

// endpoint resolves a hook id, from the cache when fresh.
func (s *Service) endpoint(ctx context.Context, hookID string) (cachedEndpoint, error) {
	now := s.opts.Now()
	s.mu.RLock()
	c, ok := s.cache[hookID]
	s.mu.RUnlock()
	if ok && now.Sub(c.loadedAt) < s.opts.CacheTTL {
		return c, nil
	}
	e, err := s.st.WebhookEndpointByHookID(ctx, hookID)
	if err != nil {
		return cachedEndpoint{}, err
	}
	row := "integration:" + strconv.FormatInt(e.IntegrationID, 10)
	pt, err := s.vault.Open(ctx, e.OrgID, vault.Binding{Table: "webhook_endpoints", Row: row, Field: "secret"}, e.SecretSealed)
	if err != nil {
		return cachedEndpoint{}, fmt.Errorf("webhook: unable to open secret of integration %d: %w", e.IntegrationID, err)
	}
	c = cachedEndpoint{orgID: e.OrgID, integrationID: e.IntegrationID, secretSHA: sha256.Sum256(pt), loadedAt: now}
	clear(pt)
	if len(e.SigningSealed) > 0 {
		tok, err := s.vault.Open(ctx, e.OrgID, vault.Binding{Table: "webhook_endpoints", Row: row, Field: "signing"}, e.SigningSealed)
		if err != nil {
			return cachedEndpoint{}, fmt.Errorf("webhook: unable to open signing token of integration %d: %w", e.IntegrationID, err)
		}
		if c.signingKey, err = signingKey(string(tok)); err != nil {
			return cachedEndpoint{}, fmt.Errorf("webhook: stored signing token of integration %d is unusable: %w", e.IntegrationID, err)
		}
	}
	s.mu.Lock()
	if len(s.cache) > 100_000 {
		clear(s.cache)
	}
	s.cache[hookID] = c
	s.mu.Unlock()
	return c, nil
}

// Health is what the API shows about an integration's webhooks.
type Health struct {
	State          string     `json:"state"` // never_received, healthy, quiet
	Description    string     `json:"description"`
	LastReceivedAt *time.Time `json:"last_received_at,omitempty"`
}

// HealthOf describes webhook health from the last delivery time.
func (s *Service) HealthOf(last *time.Time) Health {
	switch {
	case last == nil:
		return Health{State: "never_received", Description: "no delivery received yet"}
	case s.opts.Now().Sub(*last) > s.opts.QuietAfter:
		return Health{State: "quiet", LastReceivedAt: last,
			Description: "quiet since " + last.UTC().Format(time.RFC3339) + ": no delivery for more than " + s.opts.QuietAfter.String()}
	default:
		return Health{State: "healthy", LastReceivedAt: last, Description: "receiving deliveries"}
	}
}

// ErrUnknownHook means the URL names no live endpoint.
var ErrUnknownHook = errors.New("webhook: unknown hook")
