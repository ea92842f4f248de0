-- +goose Up
-- Attempts at a password check (sign-in, the password form), for the
-- throttle. An attempt is reserved before the password is checked, in the
-- same transaction that counts the earlier ones, and it stays a failure
-- unless the check succeeds; rows older than the window are pruned.
-- scope is 'signin' or 'password'; account is the email (sign-in) or
-- "user:<id>" (password form); addr is the client address.
CREATE TABLE signin_attempts (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    scope    TEXT NOT NULL,
    account  TEXT NOT NULL,
    addr     TEXT NOT NULL,
    at       DATETIME NOT NULL
);
CREATE INDEX signin_attempts_account ON signin_attempts (scope, account, at);
CREATE INDEX signin_attempts_addr ON signin_attempts (scope, addr, at);
CREATE INDEX signin_attempts_at ON signin_attempts (at);
DROP TABLE login_failures;

-- Invitations to join an organisation. Only the SHA-256 of the code is
-- stored; the invitee (new or existing user) redeems it.
CREATE TABLE invitations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    code_hash   BLOB NOT NULL UNIQUE,
    invited_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL,
    accepted_at DATETIME
);
CREATE INDEX invitations_org ON invitations (org_id, email);

-- The last sign-in into this organisation: member lists show it rather
-- than the user's last sign-in anywhere, which belongs to other
-- organisations.
ALTER TABLE memberships ADD COLUMN last_sign_in_at DATETIME;

-- +goose Down
ALTER TABLE memberships DROP COLUMN last_sign_in_at;
DROP TABLE invitations;
CREATE TABLE login_failures (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    email   TEXT NOT NULL,
    ip      TEXT NOT NULL,
    at      DATETIME NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);
DROP TABLE signin_attempts;
