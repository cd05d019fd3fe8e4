-- The short-lived records of a login, used when no Redis is configured:
-- login states, one-time codes, sessions with their refresh-token state, and
-- the access-token denylist. Every row carries its expiry; reads ignore
-- expired rows and (*Store).Purge deletes them.

-- +goose Up
CREATE TABLE login_states (
    id         TEXT NOT NULL PRIMARY KEY,
    data       TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX login_states_expires ON login_states (expires_at);

CREATE TABLE one_time_codes (
    id         TEXT NOT NULL PRIMARY KEY,
    data       TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX one_time_codes_expires ON one_time_codes (expires_at);

-- No foreign key to members: sessions are the short-lived side of the
-- broker, stored like their Redis twin, and a deleted member's sessions are
-- revoked by the service, not by a cascade.
CREATE TABLE sessions (
    id            TEXT NOT NULL PRIMARY KEY,
    member_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    last_used_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    -- SHA-256 of the current refresh token, of the one it replaced, and the
    -- sealed current token handed to graced callers (store.Rotation).
    refresh_hash  BLOB NOT NULL,
    previous_hash BLOB,
    sealed        BLOB,
    rotated_at    TEXT
) STRICT;

CREATE INDEX sessions_member ON sessions (member_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE denylist (
    session_id TEXT NOT NULL PRIMARY KEY,
    deny_until TEXT NOT NULL
) STRICT;

CREATE INDEX denylist_until ON denylist (deny_until);

-- +goose Down
DROP TABLE denylist;
DROP TABLE sessions;
DROP TABLE one_time_codes;
DROP TABLE login_states;
