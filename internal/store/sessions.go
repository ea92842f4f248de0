package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is a signed-in browser. Only the SHA-256 of its cookie token is
// stored (IDHash); the token itself never reaches the database.
type Session struct {
	IDHash     []byte
	OrgID      int64
	UserID     int64
	Role       Role
	Email      string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	// PasswordChanged is false while the user still has the one-time
	// password labsync generated (the first-run owner).
	PasswordChanged bool
}

// CreateSession stores a session for user in org, valid until expiresAt.
func (s *Store) CreateSession(ctx context.Context, hash []byte, orgID, userID int64, expiresAt time.Time) error {
	now := s.Now()
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO sessions (id_hash, org_id, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		hash, orgID, userID, now, now, expiresAt.UTC())
	if err != nil {
		return fmt.Errorf("store: unable to create session: %w", err)
	}
	return nil
}

// SessionByHash returns the live session with that hash and the user's
// current role in its organisation, or ErrNotFound when there is none, it
// expired, it was idle since before idleCutoff, the user left the
// organisation, or the organisation is being deleted.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, idleCutoff time.Time) (Session, error) {
	var se Session
	var changed *time.Time
	err := s.rdb.QueryRowContext(ctx, `
		SELECT s.id_hash, s.org_id, s.user_id, m.role, u.email, s.created_at, s.last_seen_at, s.expires_at, u.password_changed_at
		FROM sessions s
		JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id
		JOIN users u ON u.id = s.user_id
		JOIN organizations o ON o.id = s.org_id AND o.deleting_at IS NULL
		WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3`,
		hash, s.Now(), idleCutoff.UTC()).
		Scan(&se.IDHash, &se.OrgID, &se.UserID, &se.Role, &se.Email, &se.CreatedAt, &se.LastSeenAt, &se.ExpiresAt, &changed)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: unable to read session: %w", err)
	}
	se.PasswordChanged = changed != nil
	return se, nil
}

// TouchSession records that the session was used now.
func (s *Store) TouchSession(ctx context.Context, hash []byte) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2`, s.Now(), hash); err != nil {
		return fmt.Errorf("store: unable to touch session: %w", err)
	}
	return nil
}

// DeleteSession ends one session (sign-out).
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, hash); err != nil {
		return fmt.Errorf("store: unable to delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of user except the one whose hash
// is keep (nil keeps none), as after a password change.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, keep []byte) error {
	if keep == nil {
		keep = []byte{}
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2`, userID, keep); err != nil {
		return fmt.Errorf("store: unable to end sessions: %w", err)
	}
	return nil
}

// DeleteStaleSessions removes sessions that expired or were idle since
// before idleCutoff, and reports how many.
func (s *Store) DeleteStaleSessions(ctx context.Context, idleCutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2`, s.Now(), idleCutoff.UTC())
	if err != nil {
		return 0, fmt.Errorf("store: unable to delete stale sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// SignInUser is what signing in needs to know about a user.
type SignInUser struct {
	User
	PasswordHash string
	// OrgID and Role are the user's oldest membership; OrgID is 0 when the
	// user belongs to no organisation.
	OrgID int64
	Role  Role
}

// SignInUserByEmail returns the user with that email, their password hash
// and oldest membership, or ErrNotFound.
func (s *Store) SignInUserByEmail(ctx context.Context, email string) (SignInUser, error) {
	var u SignInUser
	var orgID sql.NullInt64
	var role sql.NullString
	err := s.rdb.QueryRowContext(ctx, `
		SELECT u.id, u.email, u.name, u.created_at, u.password_hash, m.org_id, m.role
		FROM users u LEFT JOIN memberships m ON m.user_id = u.id
		WHERE u.email = $1 ORDER BY m.created_at, m.org_id LIMIT 1`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.PasswordHash, &orgID, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return SignInUser{}, ErrNotFound
	}
	if err != nil {
		return SignInUser{}, fmt.Errorf("store: unable to read user: %w", err)
	}
	u.OrgID, u.Role = orgID.Int64, Role(role.String)
	return u, nil
}

// UserPasswordHash returns a user's password hash, or ErrNotFound.
func (s *Store) UserPasswordHash(ctx context.Context, userID int64) (string, error) {
	var h string
	err := s.rdb.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: unable to read user: %w", err)
	}
	return h, nil
}

// SetUserPassword replaces a user's password hash and records that the
// user chose it.
func (s *Store) SetUserPassword(ctx context.Context, userID int64, hash string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3`, hash, s.Now(), userID)
	if err != nil {
		return fmt.Errorf("store: unable to set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// MarkSignedIn records a successful sign-in.
func (s *Store) MarkSignedIn(ctx context.Context, userID int64) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET last_sign_in_at = $1 WHERE id = $2`, s.Now(), userID); err != nil {
		return fmt.Errorf("store: unable to record sign-in: %w", err)
	}
	return nil
}
