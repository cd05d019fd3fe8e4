-- Reuse detection for every retired refresh token, not only the previous
-- one (RFC 9700 §4.14.2; store.Sessions.RotateRefresh): the first 8 bytes of
-- each hash that stopped being current, oldest first, back to back, capped
-- by the store (see sqlstore/sessions.go). Sessions that exist when this
-- runs start with an empty history: their tokens older than the previous
-- one are unknown, as before.

-- +goose Up
ALTER TABLE sessions ADD COLUMN refresh_history bytea NOT NULL DEFAULT ''::bytea;

-- +goose Down
ALTER TABLE sessions DROP COLUMN refresh_history;
