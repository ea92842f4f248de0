package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// keyedSpec describes a versioned table whose unique key is not
// (integration_id, gitlab_id) alone: releases and tags (project, name),
// approvals (merge request, approver), merge request commits.
type keyedSpec struct {
	table, entity string
	// conflict is the unique key's columns; each must be in cols.
	conflict []string
	// cols must start with org_id, integration_id and include updated_at
	// and content_hash.
	cols []string
	// set overrides "excluded.<col>" for the given columns on update.
	set map[string]string
	// where overrides the change condition (the default: a later
	// updated_at, or an equal one with a different content_hash).
	where string
	// fillText and fillNull are columns some sources lack (a webhook
	// payload naming a user by id only): an empty ('' or NULL) incoming
	// value keeps the stored one, and a value filling an empty stored one
	// is a change. Callers leave them out of content_hash.
	fillText, fillNull []string
}

// keyedRow is one row for keyed: values in the order of spec.cols, and the
// key the change feed names it by (gitlab_id in the feed).
type keyedRow struct {
	feedKey   string
	projectID int64
	updatedAt time.Time
	values    []any
}

// keyText renders key column values alike whether they came from Go or
// back from either database.
func keyText(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		switch x := v.(type) {
		case int64:
			parts[i] = strconv.FormatInt(x, 10)
		case int:
			parts[i] = strconv.Itoa(x)
		case []byte:
			parts[i] = string(x)
		case string:
			parts[i] = x
		default:
			parts[i] = fmt.Sprint(x)
		}
	}
	return strings.Join(parts, "\x00")
}

// keyed upserts rows with the guarantees of versioned — older data never
// wins, one feed entry per created or changed row — on spec's unique key.
func (u *upsert) keyed(ctx context.Context, spec keyedSpec, in []keyedRow) error {
	pos := make([]int, len(spec.conflict))
	for i, c := range spec.conflict {
		pos[i] = -1
		for j, col := range spec.cols {
			if col == c {
				pos[i] = j
			}
		}
		if pos[i] < 0 {
			return fmt.Errorf("store: %s: key column %s is not written", spec.table, c)
		}
	}
	keyOf := func(values []any) string {
		k := make([]any, len(pos))
		for i, p := range pos {
			k[i] = values[p]
		}
		return keyText(k)
	}
	// One statement cannot touch a row twice: keep the newest of duplicates.
	idx := map[string]int{}
	var rows []keyedRow
	for _, r := range in {
		k := keyOf(r.values)
		if i, ok := idx[k]; ok {
			if !r.updatedAt.Before(rows[i].updatedAt) {
				rows[i] = r
			}
			continue
		}
		idx[k] = len(rows)
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil
	}
	isKey := map[string]bool{}
	for _, c := range spec.conflict {
		isKey[c] = true
	}
	t := spec.table
	set := map[string]string{}
	var fills []string
	for _, c := range spec.fillText {
		set[c] = fmt.Sprintf("CASE WHEN excluded.%s = '' THEN %s.%s ELSE excluded.%s END", c, t, c, c)
		fills = append(fills, fmt.Sprintf("(%s.%s = '' AND excluded.%s <> '')", t, c, c))
	}
	for _, c := range spec.fillNull {
		set[c] = fmt.Sprintf("COALESCE(excluded.%s, %s.%s)", c, t, c)
		fills = append(fills, fmt.Sprintf("(%s.%s IS NULL AND excluded.%s IS NOT NULL)", t, c, c))
	}
	for c, e := range spec.set {
		set[c] = e
	}
	sets := make([]string, 0, len(spec.cols))
	for _, c := range spec.cols[2:] {
		if isKey[c] {
			continue
		}
		if e, ok := set[c]; ok {
			sets = append(sets, c+" = "+e)
		} else {
			sets = append(sets, c+" = excluded."+c)
		}
	}
	where := spec.where
	if where == "" {
		where = fmt.Sprintf(`excluded.updated_at > %s.updated_at OR (excluded.updated_at = %s.updated_at AND excluded.content_hash <> %s.content_hash)`, t, t, t)
	}
	for _, f := range fills {
		where += " OR " + f
	}
	tail := fmt.Sprintf(`ON CONFLICT (%s) DO UPDATE SET %s, version = %s.version + 1 WHERE %s RETURNING id, version, %s`,
		strings.Join(spec.conflict, ", "), strings.Join(sets, ", "), t, where, strings.Join(spec.conflict, ", "))
	vals := make([][]any, len(rows))
	for i, r := range rows {
		vals[i] = r.values
	}
	type res struct{ id, version int64 }
	got := map[string]res{}
	if err := u.bulk(ctx, t, spec.cols, vals, tail, func(rs *sql.Rows) error {
		var id, version int64
		key := make([]any, len(spec.conflict))
		dst := []any{&id, &version}
		for i := range key {
			dst = append(dst, &key[i])
		}
		if err := rs.Scan(dst...); err != nil {
			return err
		}
		got[keyText(key)] = res{id, version}
		return nil
	}); err != nil {
		return err
	}
	var ps []pending
	for _, r := range rows {
		if x, ok := got[keyOf(r.values)]; ok {
			at := r.updatedAt
			ps = append(ps, pending{entity: spec.entity, entityID: x.id, projectID: r.projectID, gitlabID: r.feedKey,
				created: x.version == 1, updatedAt: &at})
		}
	}
	return u.flush(ctx, ps)
}

// deleteRows deletes org's rows of table matching cond (with args after
// org_id and integration_id, numbered from $3) and appends a "deleted" feed
// entry for each, named by feedKey (a column expression).
func (u *upsert) deleteRows(ctx context.Context, table, entity, feedKey, cond string, args ...any) error {
	q := fmt.Sprintf(`DELETE FROM %s WHERE org_id = $1 AND integration_id = $2 AND %s RETURNING id, project_id, %s`, table, cond, feedKey)
	rs, err := u.tx.QueryContext(ctx, q, append([]any{u.orgID, u.integ}, args...)...)
	if err != nil {
		return fmt.Errorf("store: unable to delete from %s: %w", table, err)
	}
	var ps []pending
	for rs.Next() {
		var id, pid int64
		var key any
		if err := rs.Scan(&id, &pid, &key); err != nil {
			rs.Close()
			return fmt.Errorf("store: unable to delete from %s: %w", table, err)
		}
		ps = append(ps, pending{entity: entity, entityID: id, projectID: pid, gitlabID: keyText([]any{key}), action: ActionDeleted})
	}
	err = rs.Err()
	rs.Close()
	if err != nil {
		return fmt.Errorf("store: unable to delete from %s: %w", table, err)
	}
	return u.flush(ctx, ps)
}
