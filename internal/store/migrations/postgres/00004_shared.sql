-- Issue 13: shared conversations. conversation_members lists the participants of shared
-- conversations (a conversation without rows is its creator's alone, as before); once shared,
-- only these rows give access, the owner's included. conversation_id repeats the conversation's
-- id so that (user_id, conversation_id) can be unique: a person never sees two conversations with
-- one id. conversation_invites holds invitation links by the SHA-256 of their secret token (the
-- token is never stored). Both go with their conversation (ON DELETE CASCADE on session_key).
-- Keep identical to the other dialect's 00004_shared.sql.

-- +goose Up
CREATE TABLE conversation_members (
    session_key     TEXT    NOT NULL REFERENCES conversations (session_key) ON DELETE CASCADE,
    user_id         TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    added_by        TEXT    NOT NULL DEFAULT '',
    added_at        BIGINT  NOT NULL,
    muted           BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (session_key, user_id)
);
CREATE UNIQUE INDEX conversation_members_user ON conversation_members (user_id, conversation_id);
CREATE TABLE conversation_invites (
    id          TEXT    NOT NULL PRIMARY KEY,
    token_hash  TEXT    NOT NULL UNIQUE,
    session_key TEXT    NOT NULL REFERENCES conversations (session_key) ON DELETE CASCADE,
    role        TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_by     TEXT    NOT NULL DEFAULT '',
    used_at     BIGINT  NOT NULL DEFAULT 0,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX conversation_invites_key ON conversation_invites (session_key);
-- Who sent each message of a shared conversation (the Gateway's transcript does not say), by the
-- message's run id, so that history shows the senders' names after a reload.
CREATE TABLE message_senders (
    session_key TEXT   NOT NULL REFERENCES conversations (session_key) ON DELETE CASCADE,
    run_id      TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    name        TEXT   NOT NULL DEFAULT '',
    at          BIGINT NOT NULL,
    PRIMARY KEY (session_key, run_id)
);

-- +goose Down
DROP TABLE message_senders;
DROP TABLE conversation_invites;
DROP TABLE conversation_members;
