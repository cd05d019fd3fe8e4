-- Members, their provider identities and the admin audit log: the durable
-- records. SQLite flavour: STRICT tables, booleans as 0/1, times as UTC text
-- in one fixed-width format (see dialect.go) so that text order is time order.

-- +goose Up
CREATE TABLE members (
    id             TEXT    NOT NULL PRIMARY KEY,
    email          TEXT    NOT NULL DEFAULT '',
    -- email_lower and name_lower are lowercased in Go, not by SQL lower(),
    -- so lookups and search fold case the same way on SQLite (whose lower()
    -- is ASCII-only) and PostgreSQL.
    email_lower    TEXT    NOT NULL DEFAULT '',
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    name           TEXT    NOT NULL DEFAULT '',
    name_lower     TEXT    NOT NULL DEFAULT '',
    avatar_url     TEXT    NOT NULL DEFAULT '',
    role           TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    status         TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    last_login_at  TEXT
) STRICT;

-- Keyset pagination of the admin list, newest first.
CREATE INDEX members_created ON members (created_at, id);
-- Linking by verified email.
CREATE INDEX members_verified_email ON members (email_lower, created_at) WHERE email_verified;

CREATE TABLE identities (
    provider       TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    member_id      TEXT    NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    email          TEXT    NOT NULL DEFAULT '',
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    name           TEXT    NOT NULL DEFAULT '',
    avatar_url     TEXT    NOT NULL DEFAULT '',
    raw            TEXT,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    -- One provider account belongs to at most one member: this key is what
    -- makes concurrent first logins create one member.
    PRIMARY KEY (provider, subject)
) STRICT;

CREATE INDEX identities_member ON identities (member_id, created_at);

CREATE TABLE audit_log (
    -- AUTOINCREMENT: ids are never reused, so "before id" paging is stable.
    id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at        TEXT    NOT NULL,
    actor_id  TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target_id TEXT    NOT NULL DEFAULT '',
    ip        TEXT    NOT NULL DEFAULT '',
    detail    TEXT
) STRICT;

-- +goose Down
DROP TABLE audit_log;
DROP TABLE identities;
DROP TABLE members;
