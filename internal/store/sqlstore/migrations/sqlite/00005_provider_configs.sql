-- Providers configured by an admin (store.ProviderConfigs). The client
-- secret is sealed with AES-256-GCM under SECRETS_KEY_FILE before it gets
-- here; the other settings are JSON. The generation counter (meta key
-- provider_generation) changes with every put and delete.

-- +goose Up
CREATE TABLE provider_configs (
    name          TEXT    NOT NULL PRIMARY KEY,
    type          TEXT    NOT NULL,
    display_name  TEXT    NOT NULL DEFAULT '',
    button_order  INTEGER NOT NULL DEFAULT 0,
    enabled       INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    client_id     TEXT    NOT NULL DEFAULT '',
    client_secret BLOB,
    settings      TEXT    NOT NULL DEFAULT '{}',
    version       INTEGER NOT NULL,
    updated_at    TEXT    NOT NULL,
    updated_by    TEXT    NOT NULL DEFAULT ''
) STRICT;

-- +goose Down
DROP TABLE provider_configs;
DELETE FROM meta WHERE key = 'provider_generation';
