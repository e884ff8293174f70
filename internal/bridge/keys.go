package bridge

import "github.com/clawchat/clawchat/internal/bridge/sessionkey"

// Namespace is the session-key segment that marks clawchat's own conversations:
// agent:<agentId>:clawchat:<userId>:<conversationId> (package sessionkey).
const Namespace = sessionkey.Namespace

// GatewayPrefix marks an owner's view of a Gateway session in conversation ids: gw:<key>.
const GatewayPrefix = sessionkey.GatewayPrefix

// SessionKey returns the canonical Gateway session key of a user's conversation.
func SessionKey(agentID, userID, convID string) string {
	return sessionkey.SessionKey(agentID, userID, convID)
}
