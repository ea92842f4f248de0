package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// WebhookEndpoint is an integration's webhook URL identity and sealed
// secrets. The vault bindings are (webhook_endpoints, integration:<id>,
// secret) and (…, signing).
type WebhookEndpoint struct {
	IntegrationID int64
	OrgID         int64
	HookID        string
	SecretSealed  []byte
	SigningSealed []byte // nil when no signing token is set
	IssuedAt      time.Time
	Revealed      bool
}

// SaveWebhookEndpoint issues or re-issues an integration's endpoint,
// replacing the previous hook id and secret in one transaction. The
// fingerprint must be new across every organisation: ErrConflict otherwise.
func (s *Store) SaveWebhookEndpoint(ctx context.Context, e WebhookEndpoint, fingerprint []byte) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		now := s.Now()
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO webhook_secret_fingerprints (fingerprint, issued_at) VALUES ($1, $2)`, fingerprint, now); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("store: webhook secret was issued before: %w", ErrConflict)
			}
			return fmt.Errorf("store: unable to record webhook secret: %w", err)
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO webhook_endpoints (integration_id, org_id, hook_id, secret_enc, signing_enc, issued_at, revealed)
			SELECT id, org_id, $1, $2, $3, $4, $5 FROM integrations WHERE id = $6 AND org_id = $7
			ON CONFLICT (integration_id) DO UPDATE SET hook_id = excluded.hook_id, secret_enc = excluded.secret_enc,
				signing_enc = excluded.signing_enc, issued_at = excluded.issued_at, revealed = excluded.revealed`,
			e.HookID, e.SecretSealed, e.SigningSealed, now, e.Revealed, e.IntegrationID, e.OrgID)
		if err != nil {
			return fmt.Errorf("store: unable to save webhook endpoint: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `UPDATE integrations SET webhook_hook_id = $1, updated_at = $2 WHERE id = $3 AND org_id = $4`,
			e.HookID, now, e.IntegrationID, e.OrgID)
		return err
	})
}

// SetWebhookSigning replaces (or with nil, removes) the sealed signing token.
func (s *Store) SetWebhookSigning(ctx context.Context, orgID, integrationID int64, sealed []byte) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE webhook_endpoints SET signing_enc = $1 WHERE org_id = $2 AND integration_id = $3`, sealed, orgID, integrationID)
	if err != nil {
		return fmt.Errorf("store: unable to save signing token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// WebhookEndpointFor returns org's endpoint for an integration, or ErrNotFound.
func (s *Store) WebhookEndpointFor(ctx context.Context, orgID, integrationID int64) (WebhookEndpoint, error) {
	return s.webhookEndpoint(ctx, `WHERE e.org_id = $1 AND e.integration_id = $2`, orgID, integrationID)
}

// WebhookEndpointByHookID resolves the hook id of a delivery URL. It is not
// org-scoped because the URL is how a delivery names its organisation; an
// endpoint of a disconnected integration is ErrNotFound.
func (s *Store) WebhookEndpointByHookID(ctx context.Context, hookID string) (WebhookEndpoint, error) {
	return s.webhookEndpoint(ctx, `WHERE e.hook_id = $1`, hookID)
}

func (s *Store) webhookEndpoint(ctx context.Context, where string, args ...any) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := s.rdb.QueryRowContext(ctx, `
		SELECT e.integration_id, e.org_id, e.hook_id, e.secret_enc, e.signing_enc, e.issued_at, e.revealed
		FROM webhook_endpoints e JOIN integrations i ON i.id = e.integration_id AND i.status <> 'disconnected' `+where, args...).
		Scan(&e.IntegrationID, &e.OrgID, &e.HookID, &e.SecretSealed, &e.SigningSealed, &e.IssuedAt, &e.Revealed)
	if errors.Is(err, sql.ErrNoRows) {
		return WebhookEndpoint{}, ErrNotFound
	}
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("store: unable to read webhook endpoint: %w", err)
	}
	return e, nil
}

// Delivery is one authentic webhook delivery as received.
type Delivery struct {
	ID            int64
	OrgID         int64
	IntegrationID int64
	DedupeKey     string
	EventKind     string
	Headers       string // JSON object of the headers worth keeping (no secrets)
	// Body is the JSON as received. It is stored compressed (see Pack);
	// PendingDeliveries returns it as received, or sets BodyErr when the
	// stored form cannot be read back.
	Body            []byte
	BodyErr         error
	BodySHA256      []byte
	ProjectGitLabID *int64
	ReceivedAt      time.Time
	// Status is pending (the processor will process it), or the outcome
	// when it is stored already processed: ignored, processed, failed.
	Status string
	// Error and ProcessedAt go with an outcome decided before the delivery
	// is stored (see InsertDeliveriesTx); empty and nil for a pending one.
	Error       string
	ProcessedAt *time.Time
	// HookID is the endpoint the delivery arrived at (not stored). When
	// set, InsertDeliveries stores the delivery only if that endpoint still
	// exists at commit time, so a replica whose cache still trusts a
	// re-issued or disconnected endpoint cannot store anything through it.
	HookID string

	packed bool   // Pack ran: stored and codec are set
	stored []byte // the body as written to the inbox
	codec  string // how stored encodes Body
}

// InsertResult is what InsertDeliveries did with one delivery.
type InsertResult uint8

// Insert results.
const (
	// Duplicate: a delivery with its dedupe key is already stored (or came
	// earlier in the same batch).
	Duplicate InsertResult = iota
	// Inserted: stored now.
	Inserted
	// EndpointGone: its endpoint was re-issued or disconnected; not stored.
	EndpointGone
)

// InsertDeliveries writes a batch of deliveries in one transaction (one
// fsync) and reports, per delivery, whether it was inserted, a duplicate of
// one already stored (or of an earlier one in the same batch), or refused
// because its endpoint no longer exists. Rows go in multi-row statements, so
// PostgreSQL sees one round trip per chunk. It also moves each
// integration's last-received time forward.
func (s *Store) InsertDeliveries(ctx context.Context, ds []Delivery) ([]InsertResult, error) {
	if s.dialect == Postgres {
		res, err := s.insertDeliveriesPostgres(ctx, ds)
		if err != nil {
			return nil, fmt.Errorf("store: unable to write webhook deliveries: %w", err)
		}
		return res, nil
	}
	var res []InsertResult
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.insertDeliveriesTx(ctx, tx, ds)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: unable to write webhook deliveries: %w", err)
	}
	return res, nil
}

// InsertDeliveriesTx is InsertDeliveries inside tx, so that deliveries and
// the rows processing them wrote commit together (or not at all). A
// delivery whose Status is not pending is stored with that outcome, its
// Error and ProcessedAt: the caller decided it, and writes its rows in tx
// only for the deliveries reported Inserted.
func (s *Store) InsertDeliveriesTx(ctx context.Context, tx *sql.Tx, ds []Delivery) ([]InsertResult, error) {
	res, err := s.insertDeliveriesTx(ctx, tx, ds)
	if err != nil {
		return nil, fmt.Errorf("store: unable to write webhook deliveries: %w", err)
	}
	return res, nil
}

func (s *Store) insertDeliveriesTx(ctx context.Context, tx *sql.Tx, ds []Delivery) ([]InsertResult, error) {
	res := make([]InsertResult, len(ds))
	live, err := s.liveHooks(ctx, tx, ds)
	if err != nil {
		return nil, err
	}
	keep := make([]Delivery, 0, len(ds))
	idx := make([]int, 0, len(ds))
	for i, d := range ds {
		if d.HookID != "" && !live[d.HookID] {
			res[i] = EndpointGone
			continue
		}
		keep, idx = append(keep, d), append(idx, i)
	}
	fresh := make([]bool, len(keep))
	if s.dialect == Postgres {
		if err := s.insertDeliveriesUnnest(ctx, tx, keep, fresh); err != nil {
			return nil, err
		}
	} else {
		lo := 0
		for _, n := range batchSizes(len(keep), 64) {
			if err := s.insertDeliveryChunk(ctx, tx, keep[lo:lo+n], fresh[lo:]); err != nil {
				return nil, err
			}
			lo += n
		}
	}
	last := map[[2]int64]time.Time{}
	for j, d := range keep {
		if fresh[j] {
			res[idx[j]] = Inserted
		}
		k := [2]int64{d.OrgID, d.IntegrationID}
		if d.ReceivedAt.After(last[k]) {
			last[k] = d.ReceivedAt
		}
	}
	for k, at := range last {
		if _, err := s.txExec(ctx, tx, `
			UPDATE integrations SET webhook_last_received_at = $1
			WHERE org_id = $2 AND id = $3 AND (webhook_last_received_at IS NULL OR webhook_last_received_at < $1)`,
			at, k[0], k[1]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// liveHooks returns, inside tx, which of the batch's hook ids still have an
// endpoint. On PostgreSQL the rows are locked FOR SHARE, so a disconnect or
// re-issue deleting them waits for this batch to commit: a delivery is
// either stored before the endpoint goes, or refused.
func (s *Store) liveHooks(ctx context.Context, tx *sql.Tx, ds []Delivery) (map[string]bool, error) {
	var ids []any
	seen := map[string]bool{}
	for _, d := range ds {
		if d.HookID != "" && !seen[d.HookID] {
			seen[d.HookID] = true
			ids = append(ids, d.HookID)
		}
	}
	live := map[string]bool{}
	if len(ids) == 0 {
		return live, nil
	}
	var q strings.Builder
	q.WriteString(`SELECT hook_id FROM webhook_endpoints WHERE hook_id IN (`)
	for i := range ids {
		if i > 0 {
			q.WriteByte(',')
		}
		fmt.Fprintf(&q, "$%d", i+1)
	}
	q.WriteByte(')')
	if s.dialect == Postgres {
		q.WriteString(` FOR SHARE`)
	}
	run := tx.QueryContext
	if len(ids) == 1 {
		// The usual batch: one endpoint, one shape worth keeping compiled.
		run = func(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
			return s.txQuery(ctx, tx, q, args...)
		}
	}
	rows, err := run(ctx, q.String(), ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		live[h] = true
	}
	return live, rows.Err()
}

func (s *Store) insertDeliveryChunk(ctx context.Context, tx *sql.Tx, ds []Delivery, fresh []bool) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO webhook_inbox (org_id, integration_id, dedupe_key, event_kind, headers, body, body_codec,
		body_sha256, project_gitlab_id, received_at, status, error, processed_at) VALUES `)
	args := make([]any, 0, len(ds)*13)
	for i, d := range ds {
		if i > 0 {
			q.WriteByte(',')
		}
		// Plain ? binds by position: SQLite resolves $N names one by one
		// against all the earlier ones, quadratic in the batch.
		q.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
		status := d.Status
		if status == "" {
			status = "pending"
		}
		d.Pack()
		args = append(args, d.OrgID, d.IntegrationID, d.DedupeKey, d.EventKind, d.Headers, d.stored, d.codec,
			d.BodySHA256, d.ProjectGitLabID, d.ReceivedAt, status, d.Error, d.ProcessedAt)
	}
	q.WriteString(` ON CONFLICT (integration_id, dedupe_key) DO NOTHING RETURNING integration_id, dedupe_key`)
	rows, err := s.txQuery(ctx, tx, q.String(), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	inserted := map[dedupeRef]bool{}
	for rows.Next() {
		var r dedupeRef
		if err := rows.Scan(&r.integ, &r.key); err != nil {
			return err
		}
		inserted[r] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// A key inserted now belongs to its first occurrence in the chunk.
	for i, d := range ds {
		r := dedupeRef{d.IntegrationID, d.DedupeKey}
		if inserted[r] {
			fresh[i] = true
			delete(inserted, r)
		}
	}
	return nil
}

type dedupeRef struct {
	integ int64
	key   string
}

// ErrBusy means another process holds the lock asked for.
var ErrBusy = errors.New("store: another process holds the lock")

// LockInbox takes the inbox-processing lock for the rest of tx, so one
// process at a time drains the inbox and per-project order holds across
// replicas. On SQLite the IMMEDIATE transaction already excludes others.
func (s *Store) LockInbox(ctx context.Context, tx *sql.Tx) error {
	if s.dialect != Postgres {
		return nil
	}
	var ok bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, advisoryInbox).Scan(&ok); err != nil {
		return fmt.Errorf("store: unable to lock the webhook inbox: %w", err)
	}
	if !ok {
		return ErrBusy
	}
	return nil
}

const advisoryInbox int64 = 0x6c73_0002

// PendingDeliveries returns up to limit pending deliveries after id, oldest
// first, read in tx when it is non-nil, else from the read pool (on SQLite
// without waiting for the writer; the caller checks with StillPending,
// inside its write transaction, which of them are still pending).
func (s *Store) PendingDeliveries(ctx context.Context, tx *sql.Tx, afterID int64, limit int) ([]Delivery, error) {
	var q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	} = s.rdb
	if tx != nil {
		q = tx
	}
	rows, err := q.QueryContext(ctx, `
		SELECT id, org_id, integration_id, dedupe_key, event_kind, body, body_codec, project_gitlab_id, received_at, status
		FROM webhook_inbox WHERE status = 'pending' AND id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read webhook inbox: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var (
			d     Delivery
			codec string
		)
		if err := rows.Scan(&d.ID, &d.OrgID, &d.IntegrationID, &d.DedupeKey, &d.EventKind, &d.Body, &codec, &d.ProjectGitLabID, &d.ReceivedAt, &d.Status); err != nil {
			return nil, fmt.Errorf("store: unable to read webhook inbox: %w", err)
		}
		d.Body, d.BodyErr = unpack(d.Body, codec)
		out = append(out, d)
	}
	return out, rows.Err()
}

// FinishDelivery records the outcome of processing one delivery.
func (s *Store) FinishDelivery(ctx context.Context, tx *sql.Tx, orgID, id int64, status, errText string) error {
	q := `UPDATE webhook_inbox SET status = $1, error = $2, processed_at = $3 WHERE org_id = $4 AND id = $5`
	var err error
	if tx != nil {
		_, err = tx.ExecContext(ctx, q, status, errText, s.Now(), orgID, id)
	} else {
		_, err = s.db.ExecContext(ctx, q, status, errText, s.Now(), orgID, id)
	}
	if err != nil {
		return fmt.Errorf("store: unable to record delivery outcome: %w", err)
	}
	return nil
}

// StillPending returns, read in tx, which of the given deliveries are
// still pending: another process may have processed some since they were
// read outside tx.
func (s *Store) StillPending(ctx context.Context, tx *sql.Tx, ids []int64) (map[int64]bool, error) {
	out := make(map[int64]bool, len(ids))
	lo := 0
	for _, n := range batchSizes(len(ids), 64) {
		chunk := ids[lo : lo+n]
		lo += n
		var q strings.Builder
		q.WriteString(`SELECT id FROM webhook_inbox WHERE status = 'pending' AND id IN (`)
		args := make([]any, len(chunk))
		for i, id := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			fmt.Fprintf(&q, "$%d", i+1)
			args[i] = id
		}
		q.WriteByte(')')
		rows, err := s.txQuery(ctx, tx, q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("store: unable to read webhook inbox: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: unable to read webhook inbox: %w", err)
			}
			out[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: unable to read webhook inbox: %w", err)
		}
	}
	return out, nil
}

// Outcome is what processing made of one delivery of an organisation.
type Outcome struct {
	OrgID, ID     int64
	Status, Error string
}

// FinishDeliveries records the outcomes of a batch in tx, one statement
// per organisation, status and error text (usually one for the batch).
func (s *Store) FinishDeliveries(ctx context.Context, tx *sql.Tx, outs []Outcome) error {
	type group struct {
		org           int64
		status, error string
	}
	var order []group
	ids := map[group][]int64{}
	for _, o := range outs {
		g := group{o.OrgID, o.Status, o.Error}
		if _, ok := ids[g]; !ok {
			order = append(order, g)
		}
		ids[g] = append(ids[g], o.ID)
	}
	now := s.Now()
	for _, g := range order {
		all := ids[g]
		lo := 0
		for _, n := range batchSizes(len(all), 64) {
			var q strings.Builder
			q.WriteString(`UPDATE webhook_inbox SET status = $1, error = $2, processed_at = $3 WHERE org_id = $4 AND id IN (`)
			args := []any{g.status, g.error, now, g.org}
			for i, id := range all[lo : lo+n] {
				if i > 0 {
					q.WriteByte(',')
				}
				fmt.Fprintf(&q, "$%d", len(args)+1)
				args = append(args, id)
			}
			lo += n
			q.WriteByte(')')
			if _, err := s.txExec(ctx, tx, q.String(), args...); err != nil {
				return fmt.Errorf("store: unable to record delivery outcomes: %w", err)
			}
		}
	}
	return nil
}

// InboxCounts returns org's deliveries per status for one integration (0 for all).
func (s *Store) InboxCounts(ctx context.Context, orgID, integrationID int64) (map[string]int64, error) {
	q := `SELECT status, COUNT(*) FROM webhook_inbox WHERE org_id = $1`
	args := []any{orgID}
	if integrationID > 0 {
		q += ` AND integration_id = $2`
		args = append(args, integrationID)
	}
	rows, err := s.rdb.QueryContext(ctx, q+` GROUP BY status`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to count webhook inbox: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[strings.TrimSpace(st)] = n
	}
	return out, rows.Err()
}

// KnownAuthor returns the stored author of a merge request or issue, so a
// webhook payload (which names only the author's id) does not blank it.
func (s *Store) KnownAuthor(ctx context.Context, tx *sql.Tx, table string, orgID, integrationID, gitlabID int64) (string, error) {
	if table != "merge_requests" && table != "issues" {
		return "", fmt.Errorf("store: no author in %s", table)
	}
	var a string
	rows, err := s.txQuery(ctx, tx, `SELECT author FROM `+table+` WHERE org_id = $1 AND integration_id = $2 AND gitlab_id = $3`,
		orgID, integrationID, gitlabID)
	if err != nil {
		return "", fmt.Errorf("store: unable to read the stored author: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		err = rows.Scan(&a)
	} else {
		err = rows.Err()
	}
	if err != nil {
		return "", fmt.Errorf("store: unable to read the stored author: %w", err)
	}
	return a, nil
}

// InboxBacklog returns how many deliveries wait to be processed and when
// the oldest arrived (nil when none wait), across organisations, for metrics.
func (s *Store) InboxBacklog(ctx context.Context) (int64, *time.Time, error) {
	var n int64
	var oldest *time.Time
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_inbox WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("store: unable to measure webhook inbox: %w", err)
	}
	if n > 0 {
		var t time.Time
		if err := s.rdb.QueryRowContext(ctx, `SELECT received_at FROM webhook_inbox WHERE status = 'pending' ORDER BY id LIMIT 1`).Scan(&t); err == nil {
			oldest = &t
		}
	}
	return n, oldest, nil
}

// PollTimes returns when an integration was last polled and when a poll
// last found changes webhooks had not delivered (nil when never).
func (s *Store) PollTimes(ctx context.Context, orgID, integrationID int64) (lastPoll, foundChanges *time.Time, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT last_poll_at, poll_found_changes_at FROM integrations WHERE org_id = $1 AND id = $2`,
		orgID, integrationID).Scan(&lastPoll, &foundChanges)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	return lastPoll, foundChanges, err
}

// MarkPolled records that a poll of the integration was queued at at.
func (s *Store) MarkPolled(ctx context.Context, orgID, integrationID int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE integrations SET last_poll_at = $1 WHERE org_id = $2 AND id = $3`, at, orgID, integrationID)
	return err
}

// markPollFoundChanges records, in tx, that polling changed stored data:
// webhooks did not deliver those changes (or not yet).
func (s *Store) markPollFoundChanges(ctx context.Context, tx *sql.Tx, orgID, integrationID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE integrations SET poll_found_changes_at = $1 WHERE org_id = $2 AND id = $3`,
		s.Now(), orgID, integrationID)
	return err
}

// HookRegistration is a project hook labsync created at GitLab.
type HookRegistration struct {
	ProjectGitLabID int64     `json:"project_id"`
	GitLabHookID    int64     `json:"hook_id"`
	RegisteredAt    time.Time `json:"registered_at"`
}

// SaveHookRegistration records (or replaces) the hook labsync registered
// for one project of an integration.
func (s *Store) SaveHookRegistration(ctx context.Context, orgID, integrationID int64, r HookRegistration) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO webhook_registrations (integration_id, org_id, project_gitlab_id, gitlab_hook_id, registered_at)
		SELECT id, org_id, $1, $2, $3 FROM integrations WHERE id = $4 AND org_id = $5
		ON CONFLICT (integration_id, project_gitlab_id) DO UPDATE SET gitlab_hook_id = excluded.gitlab_hook_id, registered_at = excluded.registered_at`,
		r.ProjectGitLabID, r.GitLabHookID, s.Now(), integrationID, orgID)
	if err != nil {
		return fmt.Errorf("store: unable to record hook registration: %w", err)
	}
	return nil
}

// HookRegistrations lists the hooks labsync registered for an integration.
func (s *Store) HookRegistrations(ctx context.Context, orgID, integrationID int64) ([]HookRegistration, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT project_gitlab_id, gitlab_hook_id, registered_at FROM webhook_registrations
		WHERE org_id = $1 AND integration_id = $2 ORDER BY project_gitlab_id`, orgID, integrationID)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list hook registrations: %w", err)
	}
	defer rows.Close()
	out := []HookRegistration{}
	for rows.Next() {
		var r HookRegistration
		if err := rows.Scan(&r.ProjectGitLabID, &r.GitLabHookID, &r.RegisteredAt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteHookRegistration forgets one registration.
func (s *Store) DeleteHookRegistration(ctx context.Context, orgID, integrationID, projectGitLabID int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM webhook_registrations WHERE org_id = $1 AND integration_id = $2 AND project_gitlab_id = $3`,
		orgID, integrationID, projectGitLabID)
	return err
}

// InboxSummary is what became of one integration's deliveries: how many
// are in each status, the rows and change-feed entries webhooks wrote, and
// when the first was received and the last processed. The webhook benchmark
// checks with it that every acknowledged delivery was stored and processed.
type InboxSummary struct {
	ByStatus map[string]int64
	// MergeRequests is the integration's merge request rows.
	MergeRequests int64
	// WebhookEvents is the integration's change-feed entries written by
	// webhook processing.
	WebhookEvents int64
	// FirstReceived and LastProcessed are nil when no delivery has them.
	FirstReceived, LastProcessed *time.Time
}

// InboxSummary summarises org's deliveries for one integration.
func (s *Store) InboxSummary(ctx context.Context, orgID, integrationID int64) (InboxSummary, error) {
	by, err := s.InboxCounts(ctx, orgID, integrationID)
	if err != nil {
		return InboxSummary{}, err
	}
	sum := InboxSummary{ByStatus: by}
	counts := []struct {
		q   string
		dst *int64
	}{
		{`SELECT COUNT(*) FROM merge_requests WHERE org_id = $1 AND integration_id = $2`, &sum.MergeRequests},
		{`SELECT COUNT(*) FROM events WHERE org_id = $1 AND integration_id = $2 AND source = '` + SourceWebhook + `'`, &sum.WebhookEvents},
	}
	for _, c := range counts {
		if err := s.rdb.QueryRowContext(ctx, c.q, orgID, integrationID).Scan(c.dst); err != nil {
			return InboxSummary{}, fmt.Errorf("store: unable to summarise webhook inbox: %w", err)
		}
	}
	// ORDER BY … LIMIT 1 rather than MIN/MAX: the column keeps its type,
	// which SQLite's driver needs to return a time.
	times := []struct {
		q   string
		dst **time.Time
	}{
		{`SELECT received_at FROM webhook_inbox WHERE org_id = $1 AND integration_id = $2 ORDER BY received_at LIMIT 1`, &sum.FirstReceived},
		{`SELECT processed_at FROM webhook_inbox WHERE org_id = $1 AND integration_id = $2 AND processed_at IS NOT NULL
			ORDER BY processed_at DESC LIMIT 1`, &sum.LastProcessed},
	}
	for _, t := range times {
		var at time.Time
		err := s.rdb.QueryRowContext(ctx, t.q, orgID, integrationID).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return InboxSummary{}, fmt.Errorf("store: unable to summarise webhook inbox: %w", err)
		}
		*t.dst = &at
	}
	return sum, nil
}
