-- Members, their provider identities and the admin audit log: the durable
-- records. Profile and detail JSON are `json`, not `jsonb`: kept verbatim, as
-- on SQLite, while ->> still works for ad-hoc queries.

-- +goose Up
CREATE TABLE members (
    id             text        NOT NULL PRIMARY KEY,
    email          text        NOT NULL DEFAULT '',
    -- email_lower and name_lower are lowercased in Go, so lookups and search
    -- fold case the same way on both backends.
    email_lower    text        NOT NULL DEFAULT '',
    email_verified boolean     NOT NULL DEFAULT false,
    name           text        NOT NULL DEFAULT '',
    name_lower     text        NOT NULL DEFAULT '',
    avatar_url     text        NOT NULL DEFAULT '',
    role           text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    status         text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    last_login_at  timestamptz
);

-- Keyset pagination of the admin list, newest first.
CREATE INDEX members_created ON members (created_at, id);
-- Linking by verified email.
CREATE INDEX members_verified_email ON members (email_lower, created_at) WHERE email_verified;

CREATE TABLE identities (
    provider       text        NOT NULL,
    subject        text        NOT NULL,
    member_id      text        NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    email          text        NOT NULL DEFAULT '',
    email_verified boolean     NOT NULL DEFAULT false,
    name           text        NOT NULL DEFAULT '',
    avatar_url     text        NOT NULL DEFAULT '',
    raw            json,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    -- One provider account belongs to at most one member: this key is what
    -- makes concurrent first logins create one member.
    PRIMARY KEY (provider, subject)
);

CREATE INDEX identities_member ON identities (member_id, created_at);

CREATE TABLE audit_log (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor_id  text        NOT NULL,
    action    text        NOT NULL,
    target_id text        NOT NULL DEFAULT '',
    ip        text        NOT NULL DEFAULT '',
    detail    json
);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE identities;
DROP TABLE members;
