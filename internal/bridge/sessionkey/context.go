package sessionkey

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
)

// Host contexts (embedding, docs/embed.md). A conversation of a host app's context has its own
// segment in the namespace:
// agent:<agentId>:clawchat:<userId>:ctx-<app>-<hash of the context id>:<conversationId>.

// ContextSessionKey returns the session key of a conversation in host context (app, ctxID).
func ContextSessionKey(agentID, userID, app, ctxID, convID string) string {
	return "agent:" + agentID + ":" + Namespace + ":" + userID + ":" + contextSegment(app, ctxID) + ":" + convID
}

// contextSegment is ctx-<app>-<16 base32 characters of SHA-256(ctxID)>: context ids hold
// characters (":", "/") a key segment should not, at the host's length.
func contextSegment(app, ctxID string) string {
	sum := sha256.Sum256([]byte(ctxID))
	return "ctx-" + app + "-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}

// ConversationKey is the session key conversation c must have: ContextSessionKey for a
// conversation of a host context, SessionKey otherwise.
func ConversationKey(c chat.Conversation) string {
	if c.HostApp != "" {
		return ContextSessionKey(c.AgentID, c.UserID, c.HostApp, c.ContextID, c.ID)
	}
	return SessionKey(c.AgentID, c.UserID, c.ID)
}
