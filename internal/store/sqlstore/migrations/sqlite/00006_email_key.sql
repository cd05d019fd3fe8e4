-- email_lower becomes email.Key(email): ASCII letters lowercased, nothing
-- else folded (package email). Until now Go's strings.ToLower filled it,
-- which folds Unicode too (KELVIN SIGN U+212A became "k"), so a member whose
-- provider verified "\u212Aim@…" could be found as kim@… and linked to by
-- email. SQLite's built-in lower() folds ASCII only: exactly email.Key.
-- (Numbered 6 to follow the migrations 4 and 5 of the main line.)

-- +goose Up
UPDATE members SET email_lower = lower(email) WHERE email_lower <> lower(email);

-- +goose Down
-- Nothing to undo: the ASCII-only key is a subset of what ToLower did.
SELECT 1;
