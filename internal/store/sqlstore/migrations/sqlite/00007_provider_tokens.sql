-- The token vault (store.ProviderTokens): members' provider grants, sealed
-- with AES-256-GCM under SECRETS_KEY_FILE before they get here. A grant
-- goes with its identity (unlink, member deletion).

-- +goose Up
CREATE TABLE provider_tokens (
    provider      TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    member_id     TEXT    NOT NULL,
    sealed        BLOB    NOT NULL,
    has_refresh   INTEGER NOT NULL DEFAULT 0 CHECK (has_refresh IN (0, 1)),
    expires_at    TEXT,
    scopes        TEXT    NOT NULL DEFAULT '',
    reauth_needed INTEGER NOT NULL DEFAULT 0 CHECK (reauth_needed IN (0, 1)),
    version       INTEGER NOT NULL,
    lease_until   TEXT,
    updated_at    TEXT    NOT NULL,
    PRIMARY KEY (provider, subject),
    FOREIGN KEY (provider, subject) REFERENCES identities (provider, subject) ON DELETE CASCADE
) STRICT;

CREATE INDEX provider_tokens_member ON provider_tokens (member_id);

-- +goose Down
DROP TABLE provider_tokens;
