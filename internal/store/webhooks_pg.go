package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/jackc/pgx/v5"
)

// insertInboxUnnest inserts deliveries given as arrays, one element per
// delivery, unnested server-side; a delivery whose hook id (when not
// empty) names no endpoint any more is left out. It returns the
// (integration_id, dedupe_key) of those inserted.
const insertInboxUnnest = `INSERT INTO webhook_inbox (org_id, integration_id, dedupe_key, event_kind, headers, body, body_codec,
		body_sha256, project_gitlab_id, received_at, status, error, processed_at)
	SELECT v.org_id, v.integration_id, v.dedupe_key, v.event_kind, v.headers::jsonb, v.body, v.body_codec,
		v.body_sha256, v.project_gitlab_id, v.received_at, v.status, v.error, v.processed_at
	FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::bytea[],
		$9::bigint[], $10::timestamptz[], $11::text[], $12::text[], $13::text[], $14::timestamptz[])
		AS v(org_id, integration_id, dedupe_key, event_kind, headers, body, body_codec, body_sha256, project_gitlab_id,
			received_at, status, hook_id, error, processed_at)
	WHERE v.hook_id = '' OR EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.hook_id = v.hook_id)
	ON CONFLICT (integration_id, dedupe_key) DO NOTHING
	RETURNING integration_id, dedupe_key`

// insertDeliveriesUnnest inserts ds in tx in one statement and sets
// fresh[i] for each delivery inserted now (the first of a dedupe key in
// ds; later copies are duplicates). The caller checked the endpoints.
func (s *Store) insertDeliveriesUnnest(ctx context.Context, tx *sql.Tx, ds []Delivery, fresh []bool) error {
	n := len(ds)
	if n == 0 {
		return nil
	}
	var (
		orgs, integs, projects = make([]int64, n), make([]int64, n), make([]*int64, n)
		keys, kinds, headers   = make([]string, n), make([]string, n), make([]string, n)
		statuses, hooks, errs  = make([]string, n), make([]string, n), make([]string, n)
		codecs                 = make([]string, n)
		bodies, sums           = make([][]byte, n), make([][]byte, n)
		times                  = make([]time.Time, n)
		processed              = make([]*time.Time, n)
	)
	for i, d := range ds {
		orgs[i], integs[i], projects[i] = d.OrgID, d.IntegrationID, d.ProjectGitLabID
		keys[i], kinds[i], headers[i] = d.DedupeKey, d.EventKind, d.Headers
		statuses[i], errs[i], processed[i] = d.Status, d.Error, d.ProcessedAt
		if statuses[i] == "" {
			statuses[i] = "pending"
		}
		if headers[i] == "" {
			headers[i] = "{}"
		}
		d.Pack()
		bodies[i], codecs[i], sums[i], times[i] = d.stored, d.codec, d.BodySHA256, d.ReceivedAt
	}
	rows, err := tx.QueryContext(ctx, insertInboxUnnest, orgs, integs, keys, kinds, headers, bodies, codecs, sums, projects,
		times, statuses, hooks, errs, processed)
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
	for i, d := range ds {
		r := dedupeRef{d.IntegrationID, d.DedupeKey}
		if inserted[r] {
			fresh[i] = true
			delete(inserted, r)
		}
	}
	return nil
}

// insertDeliveriesPostgres is InsertDeliveries on PostgreSQL in one round
// trip, whatever the batch size: one pipelined batch that begins a
// transaction, locks the batch's live endpoints FOR SHARE, inserts every
// delivery whose endpoint still exists (arrays unnested server-side), moves
// the integrations' last-received times, and commits. Intake is bound by
// round trips to the database far more than by the rows themselves.
func (s *Store) insertDeliveriesPostgres(ctx context.Context, ds []Delivery) ([]InsertResult, error) {
	n := len(ds)
	var (
		orgs, integs, projects = make([]int64, n), make([]int64, n), make([]*int64, n)
		keys, kinds, headers   = make([]string, n), make([]string, n), make([]string, n)
		statuses, hooks        = make([]string, n), make([]string, n)
		codecs, errs           = make([]string, n), make([]string, n)
		processed              = make([]*time.Time, n)
		bodies, sums           = make([][]byte, n), make([][]byte, n)
		times                  = make([]time.Time, n)
		hookIDs                []string
		seen                   = map[string]bool{}
	)
	type integKey struct{ org, integ int64 }
	last := map[integKey]time.Time{}
	unchecked := map[integKey]bool{} // has a delivery without a hook id (tests, tools)
	for i, d := range ds {
		orgs[i], integs[i], projects[i] = d.OrgID, d.IntegrationID, d.ProjectGitLabID
		keys[i], kinds[i], headers[i] = d.DedupeKey, d.EventKind, d.Headers
		statuses[i], hooks[i], errs[i], processed[i] = d.Status, d.HookID, d.Error, d.ProcessedAt
		if statuses[i] == "" {
			statuses[i] = "pending"
		}
		if headers[i] == "" {
			headers[i] = "{}"
		}
		d.Pack()
		bodies[i], codecs[i], sums[i], times[i] = d.stored, d.codec, d.BodySHA256, d.ReceivedAt
		if d.HookID != "" && !seen[d.HookID] {
			seen[d.HookID] = true
			hookIDs = append(hookIDs, d.HookID)
		}
		k := integKey{d.OrgID, d.IntegrationID}
		if d.ReceivedAt.After(last[k]) {
			last[k] = d.ReceivedAt
		}
		if d.HookID == "" {
			unchecked[k] = true
		}
	}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT hook_id FROM webhook_endpoints WHERE hook_id = ANY($1) FOR SHARE`, hookIDs)
	b.Queue(insertInboxUnnest, orgs, integs, keys, kinds, headers, bodies, codecs, sums, projects, times, statuses, hooks,
		errs, processed)
	for k, at := range last {
		q := `UPDATE integrations SET webhook_last_received_at = $1
			WHERE org_id = $2 AND id = $3 AND (webhook_last_received_at IS NULL OR webhook_last_received_at < $1)`
		if !unchecked[k] {
			q += ` AND EXISTS (SELECT 1 FROM webhook_endpoints WHERE integration_id = $3)`
		}
		b.Queue(q, at, k.org, k.integ)
	}
	b.Queue(`COMMIT`)
	br := conn.SendBatch(ctx, b)
	live := map[string]bool{}
	_, err = br.Exec() // BEGIN
	var rows pgx.Rows
	if err == nil {
		rows, err = br.Query()
	}
	if err == nil {
		for rows.Next() {
			var h string
			if err = rows.Scan(&h); err != nil {
				break
			}
			live[h] = true
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	inserted := map[dedupeRef]bool{}
	if err == nil {
		rows, err = br.Query()
		if err == nil {
			for rows.Next() {
				var r dedupeRef
				if err = rows.Scan(&r.integ, &r.key); err != nil {
					break
				}
				inserted[r] = true
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
	}
	for range len(last) + 1 { // the updates, then COMMIT
		if err != nil {
			break
		}
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// A failed statement leaves the transaction aborted (or it never
		// committed): end it before the connection goes back to the pool.
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	res := make([]InsertResult, n)
	for i, d := range ds {
		r := dedupeRef{d.IntegrationID, d.DedupeKey}
		switch {
		case d.HookID != "" && !live[d.HookID]:
			res[i] = EndpointGone
		case inserted[r]:
			res[i] = Inserted
			delete(inserted, r) // a later copy in the same batch is a duplicate
		default:
			res[i] = Duplicate
		}
	}
	return res, nil
}
