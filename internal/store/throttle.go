package store

// The password-check throttle: attempts are reserved atomically before a
// password is checked, so that parallel requests cannot all be checked.

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"sort"
	"time"
)

// AttemptLimits is the throttle's policy; accounts decides it.
type AttemptLimits struct {
	// Window is how long an attempt counts.
	Window time.Duration
	// PerPair bounds the attempts for one account from one address.
	PerPair int
	// PerAddress bounds the attempts from one address, any account.
	PerAddress int
	// AccountSlowAfter is how many attempts on one account, from any
	// address, start its slow-down: from then on, one attempt per
	// AccountSpacing.
	AccountSlowAfter int
	AccountSpacing   time.Duration
}

// Refusal says why an attempt was not reserved and how long until one may
// be: Limit is "pair", "address" or "account".
type Refusal struct {
	Limit string
	Wait  time.Duration
}

// ReserveAttempt counts the attempts of scope for account and from addr
// within l.Window and, when none of l's limits is reached, records a new
// attempt and returns its id. The count and the insert are one
// transaction, serialised per account and per address (SQLite's single
// writer; PostgreSQL transaction-level advisory locks), so parallel
// callers, on any replica, are reserved one at a time. A refused attempt
// is not recorded and returns a non-nil *Refusal. The attempt stays counted
// unless AttemptSucceeded removes it.
func (s *Store) ReserveAttempt(ctx context.Context, scope, account, addr string, l AttemptLimits) (int64, *Refusal, error) {
	var id int64
	var refused *Refusal
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		id, refused = 0, nil
		if s.dialect == Postgres {
			keys := []int64{lockKey("attempt-account", scope, account), lockKey("attempt-addr", scope, addr)}
			sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
			for _, k := range keys {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, k); err != nil {
					return fmt.Errorf("store: unable to lock the sign-in throttle: %w", err)
				}
			}
		}
		now := s.Now()
		since := now.Add(-l.Window)
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_attempts WHERE at < $1`, since); err != nil {
			return fmt.Errorf("store: unable to prune sign-in attempts: %w", err)
		}
		count := func(where string, args ...any) (int, time.Time, time.Time, error) {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM signin_attempts WHERE `+where, args...).Scan(&n); err != nil {
				return 0, time.Time{}, time.Time{}, fmt.Errorf("store: unable to count sign-in attempts: %w", err)
			}
			if n == 0 {
				return 0, time.Time{}, time.Time{}, nil
			}
			// SQLite's MIN() over DATETIME is text: read the rows' ends instead.
			var oldest, newest time.Time
			if err := tx.QueryRowContext(ctx, `SELECT at FROM signin_attempts WHERE `+where+` ORDER BY at LIMIT 1`, args...).Scan(&oldest); err != nil {
				return 0, time.Time{}, time.Time{}, fmt.Errorf("store: unable to read sign-in attempts: %w", err)
			}
			if err := tx.QueryRowContext(ctx, `SELECT at FROM signin_attempts WHERE `+where+` ORDER BY at DESC LIMIT 1`, args...).Scan(&newest); err != nil {
				return 0, time.Time{}, time.Time{}, fmt.Errorf("store: unable to read sign-in attempts: %w", err)
			}
			return n, oldest, newest, nil
		}
		n, oldest, _, err := count(`scope = $1 AND account = $2 AND addr = $3 AND at >= $4`, scope, account, addr, since)
		if err != nil {
			return err
		}
		if n >= l.PerPair {
			refused = &Refusal{Limit: "pair", Wait: oldest.Add(l.Window).Sub(now)}
			return nil
		}
		if n, oldest, _, err = count(`scope = $1 AND addr = $2 AND at >= $3`, scope, addr, since); err != nil {
			return err
		}
		if n >= l.PerAddress {
			refused = &Refusal{Limit: "address", Wait: oldest.Add(l.Window).Sub(now)}
			return nil
		}
		n, _, newest, err := count(`scope = $1 AND account = $2 AND at >= $3`, scope, account, since)
		if err != nil {
			return err
		}
		if n >= l.AccountSlowAfter && now.Sub(newest) < l.AccountSpacing {
			refused = &Refusal{Limit: "account", Wait: newest.Add(l.AccountSpacing).Sub(now)}
			return nil
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO signin_attempts (scope, account, addr, at) VALUES ($1, $2, $3, $4) RETURNING id`,
			scope, account, addr, now).Scan(&id); err != nil {
			return fmt.Errorf("store: unable to record a sign-in attempt: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if refused != nil && refused.Wait < time.Second {
		refused.Wait = time.Second
	}
	return id, refused, nil
}

// AttemptSucceeded removes attempt id and forgets the earlier attempts of
// scope for account from addr: the right password was given from there.
// Attempts on the account from other addresses still count.
func (s *Store) AttemptSucceeded(ctx context.Context, id int64, scope, account, addr string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM signin_attempts WHERE id = $1 OR (scope = $2 AND account = $3 AND addr = $4)`,
		id, scope, account, addr); err != nil {
		return fmt.Errorf("store: unable to clear sign-in attempts: %w", err)
	}
	return nil
}

// lockKey is a PostgreSQL advisory lock key for parts.
func lockKey(parts ...string) int64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}
