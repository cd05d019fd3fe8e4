-- The short-lived records of a login, used when no Redis is configured:
-- login states, one-time codes, sessions with their refresh-token state, and
-- the access-token denylist. Every row carries its expiry; reads ignore
-- expired rows and (*Store).Purge deletes them.

-- +goose Up
CREATE TABLE login_states (
    id         text        NOT NULL PRIMARY KEY,
    data       text        NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX login_states_expires ON login_states (expires_at);

CREATE TABLE one_time_codes (
    id         text        NOT NULL PRIMARY KEY,
    data       text        NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX one_time_codes_expires ON one_time_codes (expires_at);

-- No foreign key to members: sessions are the short-lived side of the
-- broker, stored like their Redis twin, and a deleted member's sessions are
-- revoked by the service, not by a cascade.
CREATE TABLE sessions (
    id            text        NOT NULL PRIMARY KEY,
    member_id     text        NOT NULL,
    provider      text        NOT NULL,
    user_agent    text        NOT NULL DEFAULT '',
    ip            text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    -- SHA-256 of the current refresh token, of the one it replaced, and the
    -- sealed current token handed to graced callers (store.Rotation).
    refresh_hash  bytea       NOT NULL,
    previous_hash bytea,
    sealed        bytea,
    rotated_at    timestamptz
);

CREATE INDEX sessions_member ON sessions (member_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE denylist (
    session_id text        NOT NULL PRIMARY KEY,
    deny_until timestamptz NOT NULL
);

CREATE INDEX denylist_until ON denylist (deny_until);

-- +goose Down
DROP TABLE denylist;
DROP TABLE sessions;
DROP TABLE one_time_codes;
DROP TABLE login_states;
