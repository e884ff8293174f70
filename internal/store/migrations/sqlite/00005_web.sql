-- Issue 11 (the web app). conversations.pinned keeps a conversation in the Pinned group at the
-- top of its owner's list. Keep identical in ../sqlite and ../postgres.

-- +goose Up
ALTER TABLE conversations ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE conversations DROP COLUMN pinned;
