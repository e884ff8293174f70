package bridge

import (
	"context"

	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/chat"
)

// ContextSessionKey returns the session key of a conversation in a host app's context
// (embedding, docs/embed.md): agent:<agentId>:clawchat:<userId>:ctx-<app>-<hash>:<conversationId>.
func ContextSessionKey(agentID, userID, app, ctxID, convID string) string {
	return sessionkey.ContextSessionKey(agentID, userID, app, ctxID, convID)
}

// CreateInContext makes a conversation of u in host context (app, ctxID) (embedding). An
// embedded session without a grant for that context gets the not-found of any conversation it
// may not see.
func (s *Service) CreateInContext(ctx context.Context, u chat.User, app, ctxID, title string) (Conversation, error) {
	return s.conversations.CreateInContext(ctx, u, app, ctxID, title)
}

// CreateInContextID is CreateInContext with the conversation id given (a shared context's); it
// returns the stored row.
func (s *Service) CreateInContextID(ctx context.Context, u chat.User, app, ctxID, id, title string) (chat.Conversation, error) {
	c, _, err := s.conversations.CreateInContextID(ctx, u, app, ctxID, id, title)
	return c, err
}
