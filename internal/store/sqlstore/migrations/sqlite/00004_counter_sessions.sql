-- Counter refresh tokens (store.Refresh). A session keeps its current
-- refresh counter and a few numbers instead of token hashes, and carries the
-- member's claims so that a refresh needs no member read.
--
-- Cut-over: sessions of the hashed-token design cannot be carried over (no
-- table holds what their tokens would need), so they end here and their
-- members sign in again once. Access tokens keep working until they expire.
--
-- session_index lists sessions by member when their refresh state lives in
-- Redis (store.SessionIndex). meta holds the broker's own facts (the Redis
-- data marker); replicas counts live replicas for per-replica rate limits.

-- +goose Up
DROP TABLE sessions;

CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    member_id    TEXT    NOT NULL,
    provider     TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL DEFAULT '',
    ip           TEXT    NOT NULL DEFAULT '',
    created_at   TEXT    NOT NULL,
    last_used_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    counter      INTEGER NOT NULL DEFAULT 0,
    floor        INTEGER NOT NULL DEFAULT 0,
    rotated_at   TEXT    NOT NULL,
    window_start TEXT    NOT NULL,
    window_count INTEGER NOT NULL DEFAULT 0,
    role         TEXT    NOT NULL DEFAULT 'user',
    email        TEXT    NOT NULL DEFAULT '',
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    name         TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX sessions_member ON sessions (member_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE session_index (
    id         TEXT NOT NULL PRIMARY KEY,
    member_id  TEXT NOT NULL,
    provider   TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX session_index_member ON session_index (member_id, created_at);
CREATE INDEX session_index_expires ON session_index (expires_at);

CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE replicas (
    id      TEXT NOT NULL PRIMARY KEY,
    seen_at TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE replicas;
DROP TABLE meta;
DROP TABLE session_index;
DROP TABLE sessions;
CREATE TABLE sessions (
    id              TEXT NOT NULL PRIMARY KEY,
    member_id       TEXT NOT NULL,
    provider        TEXT NOT NULL,
    user_agent      TEXT NOT NULL DEFAULT '',
    ip              TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    last_used_at    TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    refresh_hash    BLOB NOT NULL,
    previous_hash   BLOB,
    sealed          BLOB,
    rotated_at      TEXT,
    refresh_history BLOB NOT NULL DEFAULT x''
) STRICT;
CREATE INDEX sessions_member ON sessions (member_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
