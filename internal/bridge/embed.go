package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
)

// Host contexts (embedding, docs/embed.md). A conversation of a host app's context has its own
// segment in the session-key namespace:
// agent:<agentId>:clawchat:<userId>:ctx-<app>-<hash of the context id>:<conversationId>.

// ContextSessionKey returns the session key of a conversation in host context (app, ctxID).
func ContextSessionKey(agentID, userID, app, ctxID, convID string) string {
	return "agent:" + agentID + ":" + Namespace + ":" + userID + ":" + contextSegment(app, ctxID) + ":" + convID
}

// contextSegment is ctx-<app>-<16 base32 characters of SHA-256(ctxID)>: context ids hold
// characters (":", "/") that a key segment should not, and their length is the host's.
func contextSegment(app, ctxID string) string {
	sum := sha256.Sum256([]byte(ctxID))
	return "ctx-" + app + "-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}

// conversationKey is the session key c must have.
func conversationKey(c chat.Conversation) string {
	if c.HostApp != "" {
		return ContextSessionKey(c.AgentID, c.UserID, c.HostApp, c.ContextID, c.ID)
	}
	return SessionKey(c.AgentID, c.UserID, c.ID)
}

// visible reports whether u may see c beyond owning it: an embedded session sees only the
// conversations of the contexts its token granted; other sessions see every conversation of
// theirs.
func visible(u chat.User, c chat.Conversation) bool {
	if u.Embed == nil {
		return true
	}
	_, ok := u.Embed.Role(c.HostApp, c.ContextID)
	return ok
}

// hostContext is c's context as clients see it (nil for an ordinary conversation), with u's
// role there when u is an embedded session.
func hostContext(u chat.User, c chat.Conversation) *chat.HostContext {
	if c.HostApp == "" {
		return nil
	}
	hc := &chat.HostContext{App: c.HostApp, ID: c.ContextID}
	if role, ok := u.Embed.Role(c.HostApp, c.ContextID); ok {
		hc.Role = role
	}
	return hc
}

// CreateInContext makes a conversation of u in host context (app, ctxID). An embedded session
// gets the same not-found as for any conversation it may not see when its token does not grant
// that context.
func (s *Service) CreateInContext(ctx context.Context, u chat.User, app, ctxID, title string) (Conversation, error) {
	c, err := s.createIn(ctx, u, CreateParams{Title: title}, app, ctxID)
	if err != nil {
		return Conversation{}, err
	}
	v := s.view(c)
	v.Context = hostContext(u, c)
	s.cfg.Publisher.Publish(u.ID, chat.ConversationCreated{ConversationView: v}.Event())
	return v, nil
}
