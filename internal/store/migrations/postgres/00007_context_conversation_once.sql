-- Shared host contexts (docs/embed.md "Shared contexts"): the conversation of a context has an id
-- derived from the host app and the context, and whoever opens the context first creates it. Two
-- instances creating it at the same instant each made one (the key was (user_id, id)); now a
-- host context holds at most one conversation with a given id, so the second insert fails
-- (chat.ErrConflict) and its opener joins the first one's conversation. Ordinary conversations
-- (host_app '') are not concerned; a context's other conversations have random ids.
-- Duplicates made before are kept, but only the oldest (created_at, then user_id: the one
-- ContextConversationByID returned) stays in the context: the others' context_id gets the
-- suffix '#duplicate-<user id>', so they stay their creators' own.
-- conversation_gone remembers, for a few minutes, the shared conversations deleted for everyone
-- because their owner's account was deleted and no member was left to own them
-- (store.DB.DeleteAccount), by remaining participant, so that every instance can tell those
-- people's connections (share.Service.Refresh).
-- Keep identical to the other dialect's 00007_context_conversation_once.sql.

-- +goose Up
UPDATE conversations SET context_id = context_id || '#duplicate-' || user_id
WHERE host_app <> '' AND EXISTS (SELECT 1 FROM conversations o
    WHERE o.host_app = conversations.host_app AND o.context_id = conversations.context_id
    AND o.id = conversations.id
    AND (o.created_at < conversations.created_at
        OR (o.created_at = conversations.created_at AND o.user_id < conversations.user_id)));
CREATE UNIQUE INDEX conversations_context_once ON conversations (host_app, context_id, id) WHERE host_app <> '';
CREATE TABLE conversation_gone (
    user_id         TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, at)
);

-- +goose Down
DROP TABLE conversation_gone;
DROP INDEX conversations_context_once;
