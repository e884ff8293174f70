-- Issue 12 (embedding, docs/embed.md). A conversation may belong to a host app's context
-- (host_app, context_id; both '' for ordinary conversations). embed_sessions are the sessions a
-- verified host token was exchanged for (the id is the SHA-256 hex of the bearer token the
-- frame holds in memory; grants is a JSON object context id → role). message_contexts keeps the
-- page context each embedded message carried, for its author to inspect. Keep identical in both
-- dialects.

-- +goose Up
ALTER TABLE conversations ADD COLUMN host_app TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN context_id TEXT NOT NULL DEFAULT '';
CREATE INDEX conversations_context ON conversations (user_id, host_app, context_id);
CREATE TABLE embed_sessions (
    id         TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    host_app   TEXT   NOT NULL,
    grants     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX embed_sessions_user ON embed_sessions (user_id);
CREATE INDEX embed_sessions_expires ON embed_sessions (expires_at);
CREATE TABLE message_contexts (
    user_id         TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    message_id      TEXT   NOT NULL,
    context         TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, message_id)
);

-- +goose Down
DROP TABLE message_contexts;
DROP INDEX embed_sessions_expires;
DROP INDEX embed_sessions_user;
DROP TABLE embed_sessions;
DROP INDEX conversations_context;
ALTER TABLE conversations DROP COLUMN context_id;
ALTER TABLE conversations DROP COLUMN host_app;
