-- Providers configured by an admin (store.ProviderConfigs). The client
-- secret is sealed with AES-256-GCM under SECRETS_KEY_FILE before it gets
-- here; the other settings are JSON. The generation counter (meta key
-- provider_generation) changes with every put and delete.

-- +goose Up
CREATE TABLE provider_configs (
    name          text        NOT NULL PRIMARY KEY,
    type          text        NOT NULL,
    display_name  text        NOT NULL DEFAULT '',
    button_order  integer     NOT NULL DEFAULT 0,
    enabled       boolean     NOT NULL DEFAULT false,
    client_id     text        NOT NULL DEFAULT '',
    client_secret bytea,
    settings      text        NOT NULL DEFAULT '{}',
    version       bigint      NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE provider_configs;
DELETE FROM meta WHERE key = 'provider_generation';
