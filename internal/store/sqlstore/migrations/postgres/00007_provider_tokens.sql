-- The token vault (store.ProviderTokens): members' provider grants, sealed
-- with AES-256-GCM under SECRETS_KEY_FILE before they get here. A grant
-- goes with its identity (unlink, member deletion).

-- +goose Up
CREATE TABLE provider_tokens (
    provider      text        NOT NULL,
    subject       text        NOT NULL,
    member_id     text        NOT NULL,
    sealed        bytea       NOT NULL,
    has_refresh   boolean     NOT NULL DEFAULT false,
    expires_at    timestamptz,
    scopes        text        NOT NULL DEFAULT '',
    reauth_needed boolean     NOT NULL DEFAULT false,
    version       bigint      NOT NULL,
    lease_until   timestamptz,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (provider, subject),
    FOREIGN KEY (provider, subject) REFERENCES identities (provider, subject) ON DELETE CASCADE
);

CREATE INDEX provider_tokens_member ON provider_tokens (member_id);

-- +goose Down
DROP TABLE provider_tokens;
