-- Issue 16. auth_changes is the feed of account and session changes (sign-out, revocation, role
-- change, deletion) that every clawchat process polls, so that open WebSocket and SSE connections
-- are re-checked at once, whichever process (a server instance, `clawchat user …`) made the change.
-- push_subscriptions.session_id names the sign-in session that registered a subscription, so
-- sign-out removes it. Keep identical to ../postgres/00002_auth_changes.sql except for the id.

-- +goose Up
CREATE TABLE auth_changes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT   NOT NULL,
    at      BIGINT NOT NULL
);
ALTER TABLE push_subscriptions ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
CREATE INDEX push_subscriptions_session ON push_subscriptions (session_id);

-- +goose Down
DROP INDEX push_subscriptions_session;
ALTER TABLE push_subscriptions DROP COLUMN session_id;
DROP TABLE auth_changes;
