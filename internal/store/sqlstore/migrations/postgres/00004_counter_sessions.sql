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
    id           text        NOT NULL PRIMARY KEY,
    member_id    text        NOT NULL,
    provider     text        NOT NULL,
    user_agent   text        NOT NULL DEFAULT '',
    ip           text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    counter      bigint      NOT NULL DEFAULT 0,
    floor        bigint      NOT NULL DEFAULT 0,
    rotated_at   timestamptz NOT NULL,
    window_start timestamptz NOT NULL,
    window_count integer     NOT NULL DEFAULT 0,
    role         text        NOT NULL DEFAULT 'user',
    email        text        NOT NULL DEFAULT '',
    email_verified boolean   NOT NULL DEFAULT false,
    name         text        NOT NULL DEFAULT ''
);

CREATE INDEX sessions_member ON sessions (member_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE session_index (
    id         text        NOT NULL PRIMARY KEY,
    member_id  text        NOT NULL,
    provider   text        NOT NULL,
    user_agent text        NOT NULL DEFAULT '',
    ip         text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX session_index_member ON session_index (member_id, created_at);
CREATE INDEX session_index_expires ON session_index (expires_at);

CREATE TABLE meta (
    key   text NOT NULL PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE replicas (
    id      text        NOT NULL PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE replicas;
DROP TABLE meta;
DROP TABLE session_index;
DROP TABLE sessions;
CREATE TABLE sessions (
    id              text        NOT NULL PRIMARY KEY,
    member_id       text        NOT NULL,
    provider        text        NOT NULL,
    user_agent      text        NOT NULL DEFAULT '',
    ip              text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    last_used_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    refresh_hash    bytea       NOT NULL,
    previous_hash   bytea,
    sealed          bytea,
    rotated_at      timestamptz,
    refresh_history bytea       NOT NULL DEFAULT ''::bytea
);
CREATE INDEX sessions_member ON sessions (member_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
