-- clawchat schema, version 1 (SQLite). Keep identical to ../postgres/00001_init.sql except for
-- the audit_log id column (INTEGER PRIMARY KEY AUTOINCREMENT here, an identity column there).
-- Times are unix milliseconds (UTC) in BIGINT columns.

-- +goose Up
CREATE TABLE accounts (
    id                  TEXT    NOT NULL PRIMARY KEY,
    username            TEXT    NOT NULL,
    username_key        TEXT    NOT NULL UNIQUE,
    display_name        TEXT    NOT NULL DEFAULT '',
    role                TEXT    NOT NULL,
    password_hash       TEXT    NOT NULL DEFAULT '',
    oidc_issuer         TEXT    NOT NULL DEFAULT '',
    oidc_subject        TEXT    NOT NULL DEFAULT '',
    email               TEXT    NOT NULL DEFAULT '',
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    password_changed_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX accounts_oidc ON accounts (oidc_issuer, oidc_subject) WHERE oidc_subject <> '';

CREATE TABLE sessions (
    id            TEXT   NOT NULL PRIMARY KEY,
    user_id       TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    id_token_hint TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE conversations (
    user_id          TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    agent_id         TEXT    NOT NULL,
    session_key      TEXT    NOT NULL UNIQUE,
    title            TEXT    NOT NULL DEFAULT '',
    archived         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    last_activity_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, id)
);
CREATE INDEX conversations_activity ON conversations (user_id, last_activity_at);

CREATE TABLE reactions (
    user_id         TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    message_id      TEXT   NOT NULL,
    emoji           TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, message_id, emoji),
    FOREIGN KEY (user_id, conversation_id) REFERENCES conversations (user_id, id) ON DELETE CASCADE
);

CREATE TABLE push_subscriptions (
    endpoint     TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL,
    p256dh       TEXT   NOT NULL,
    auth         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     BIGINT NOT NULL,
    actor  TEXT   NOT NULL DEFAULT '',
    action TEXT   NOT NULL,
    target TEXT   NOT NULL DEFAULT '',
    ip     TEXT   NOT NULL DEFAULT '',
    detail TEXT   NOT NULL DEFAULT ''
);

CREATE TABLE claims (
    claim_key  TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX claims_expires ON claims (expires_at);

-- +goose Down
DROP TABLE claims;
DROP TABLE audit_log;
DROP TABLE push_subscriptions;
DROP TABLE reactions;
DROP TABLE conversations;
DROP TABLE sessions;
DROP TABLE accounts;
