-- Issue 13: reactions in shared conversations. A reaction belonged to (user_id, conversation_id)
-- with a foreign key to conversations (user_id, id), so only a conversation's creator could react:
-- a participant's (user_id, conversation_id) is a row of conversation_members. Reactions now
-- belong to the conversation by its session_key (going with it: ON DELETE CASCADE) and stay
-- private to who made them (user_id is part of the key); the store resolves the session key the
-- way Store.Access does, and removing a participant deletes their reactions in it. Existing
-- reactions are copied over (each was its creator's, in that creator's conversation).
-- Keep identical to the other dialect's 00006_shared_reactions.sql.

-- +goose Up
CREATE TABLE reactions_v6 (
    user_id     TEXT   NOT NULL,
    session_key TEXT   NOT NULL REFERENCES conversations (session_key) ON DELETE CASCADE,
    message_id  TEXT   NOT NULL,
    emoji       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, session_key, message_id, emoji)
);
INSERT INTO reactions_v6 (user_id, session_key, message_id, emoji, created_at)
SELECT r.user_id, c.session_key, r.message_id, r.emoji, r.created_at
FROM reactions r JOIN conversations c ON c.user_id = r.user_id AND c.id = r.conversation_id;
DROP TABLE reactions;
ALTER TABLE reactions_v6 RENAME TO reactions;
CREATE INDEX reactions_session ON reactions (session_key);

-- +goose Down
CREATE TABLE reactions_v1 (
    user_id         TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    message_id      TEXT   NOT NULL,
    emoji           TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, message_id, emoji),
    FOREIGN KEY (user_id, conversation_id) REFERENCES conversations (user_id, id) ON DELETE CASCADE
);
INSERT INTO reactions_v1 (user_id, conversation_id, message_id, emoji, created_at)
SELECT r.user_id, c.id, r.message_id, r.emoji, r.created_at
FROM reactions r JOIN conversations c ON c.session_key = r.session_key AND c.user_id = r.user_id;
DROP TABLE reactions;
ALTER TABLE reactions_v1 RENAME TO reactions;
