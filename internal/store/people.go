package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Person is a GitLab user seen by an integration as an author, approver,
// assignee or deployer in any payload. Bot is GitLab's own flag where a
// payload carries it (users API "bot", 13.x+; user_type) or the username
// rules of GitLab's bot users otherwise (see ingest.Person). SeenAt is the
// time of the item the person was seen in (its updated_at), or now.
type Person struct {
	ID            int64     `json:"-"`
	IntegrationID int64     `json:"integration_id"`
	GitLabID      int64     `json:"id"`
	Username      string    `json:"username"`
	Name          string    `json:"name"`
	Bot           bool      `json:"bot"`
	UserType      string    `json:"user_type,omitempty"`
	FirstSeenAt   time.Time `json:"first_seen_at"`
	LastSeenAt    time.Time `json:"last_seen_at"`
	// SeenAt is input only: when the item naming this person happened.
	SeenAt time.Time `json:"-"`
}

// UpsertPeople stores the people seen, once per (integration, GitLab id).
// A new person, or a changed username, name, bot flag or user type, appends
// a feed entry; first and last seen times widen silently. An empty name or
// user type (payloads that lack them) keeps the stored one.
func (s *Store) UpsertPeople(ctx context.Context, tx Tx, orgID, integrationID int64, source string, people []Person) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		return u.people(ctx, people)
	})
}

func (u *upsert) people(ctx context.Context, people []Person) error {
	type seen struct{ first, last time.Time }
	span := map[int64]seen{}
	var rows [][]any
	var order []int64
	byID := map[int64]int{}
	for _, p := range people {
		if p.GitLabID <= 0 {
			continue
		}
		at := p.SeenAt.UTC()
		if p.SeenAt.IsZero() {
			at = u.now
		}
		sp, ok := span[p.GitLabID]
		if !ok {
			sp = seen{at, at}
		}
		if at.Before(sp.first) {
			sp.first = at
		}
		if at.After(sp.last) {
			sp.last = at
		}
		span[p.GitLabID] = sp
		p.ID, p.IntegrationID, p.FirstSeenAt, p.LastSeenAt, p.SeenAt = 0, 0, time.Time{}, time.Time{}, time.Time{}
		row := []any{u.orgID, u.integ, p.GitLabID, p.Username, p.Name, p.Bot, p.UserType, at, at, u.now, contentHash(p)}
		if i, dup := byID[p.GitLabID]; dup {
			// Within a batch the last payload's username wins; a name, user
			// type or bot flag another payload gave is kept.
			prev := rows[i]
			if p.Name == "" {
				row[4] = prev[4]
			}
			if p.UserType == "" {
				row[6] = prev[6]
			}
			row[5] = p.Bot || prev[5].(bool)
			rows[i] = row
			continue
		}
		byID[p.GitLabID] = len(rows)
		order = append(order, p.GitLabID)
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil
	}
	cols := []string{"org_id", "integration_id", "gitlab_id", "username", "name", "bot", "user_type", "first_seen_at", "last_seen_at",
		"updated_at", "content_hash"}
	tail := `ON CONFLICT (integration_id, gitlab_id) DO UPDATE SET username = excluded.username,
			name = CASE WHEN excluded.name = '' THEN people.name ELSE excluded.name END,
			bot = excluded.bot OR people.bot,
			user_type = CASE WHEN excluded.user_type = '' THEN people.user_type ELSE excluded.user_type END,
			updated_at = excluded.updated_at, content_hash = excluded.content_hash, version = people.version + 1
		WHERE excluded.username <> people.username OR (excluded.name <> '' AND excluded.name <> people.name)
			OR (excluded.bot AND NOT people.bot) OR (excluded.user_type <> '' AND excluded.user_type <> people.user_type)
		RETURNING id, version, gitlab_id`
	got := map[int64][2]int64{}
	if err := u.bulk(ctx, "people", cols, rows, tail, func(rs *sql.Rows) error {
		var id, version, gid int64
		if err := rs.Scan(&id, &version, &gid); err != nil {
			return err
		}
		got[gid] = [2]int64{id, version}
		return nil
	}); err != nil {
		return err
	}
	for _, gid := range order {
		sp := span[gid]
		if _, err := u.tx.ExecContext(ctx, `UPDATE people SET
				first_seen_at = CASE WHEN $1 < first_seen_at THEN $1 ELSE first_seen_at END,
				last_seen_at = CASE WHEN $2 > last_seen_at THEN $2 ELSE last_seen_at END
			WHERE integration_id = $3 AND gitlab_id = $4 AND ($1 < first_seen_at OR $2 > last_seen_at)`,
			sp.first, sp.last, u.integ, gid); err != nil {
			return fmt.Errorf("store: unable to widen when a person was seen: %w", err)
		}
	}
	var ps []pending
	for _, gid := range order {
		if x, ok := got[gid]; ok {
			at := u.now
			ps = append(ps, pending{entity: EntityPerson, entityID: x[0], gitlabID: fmt.Sprint(gid), created: x[1] == 1, updatedAt: &at})
		}
	}
	return u.flush(ctx, ps)
}

// People lists org's people of an integration (q.IntegrationID, 0 = all),
// by id; q.UpdatedAfter filters on when they last changed.
func (s *Store) People(ctx context.Context, orgID int64, q DataQuery) ([]Person, error) {
	where := "org_id = $1"
	args := []any{orgID}
	if q.IntegrationID != 0 {
		args = append(args, q.IntegrationID)
		where += fmt.Sprintf(" AND integration_id = $%d", len(args))
	}
	if q.AfterID > 0 {
		args = append(args, q.AfterID)
		where += fmt.Sprintf(" AND id > $%d", len(args))
	}
	if !q.UpdatedAfter.IsZero() {
		args = append(args, q.UpdatedAfter.UTC())
		where += fmt.Sprintf(" AND updated_at >= $%d", len(args))
	}
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.rdb.QueryContext(ctx, fmt.Sprintf(`SELECT id, integration_id, gitlab_id, username, name, bot, user_type, first_seen_at,
		last_seen_at FROM people WHERE %s ORDER BY id LIMIT %d`, where, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list people: %w", err)
	}
	defer rows.Close()
	out := []Person{}
	for rows.Next() {
		var p Person
		if err := rows.Scan(&p.ID, &p.IntegrationID, &p.GitLabID, &p.Username, &p.Name, &p.Bot, &p.UserType, &p.FirstSeenAt, &p.LastSeenAt); err != nil {
			return nil, fmt.Errorf("store: unable to list people: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UsernameOf returns, read in tx, the username of a person the integration
// has seen, "" when none: payloads name note authors and resolvers by id
// only.
func (s *Store) UsernameOf(ctx context.Context, tx Tx, orgID, integrationID, gitlabID int64) (string, error) {
	rows, err := s.txQuery(ctx, tx, `SELECT username FROM people WHERE org_id = $1 AND integration_id = $2 AND gitlab_id = $3`,
		orgID, integrationID, gitlabID)
	if err != nil {
		return "", fmt.Errorf("store: unable to look up person %d: %w", gitlabID, err)
	}
	defer rows.Close()
	var name string
	if rows.Next() {
		err = rows.Scan(&name)
	} else {
		err = rows.Err()
	}
	if err != nil {
		return "", fmt.Errorf("store: unable to look up person %d: %w", gitlabID, err)
	}
	return name, nil
}
