package chat

import "encoding/json"

// EventConversation returns the conversation a browser event is about, or "" for an event of no
// conversation (gateway.status, resync, server.restart, approval.resolved, policy.drift, an error
// of no conversation). For conversation.created and conversation.updated it also returns the
// host context the conversation belongs to (nil when none). It reads the typed payload without
// encoding anything; an event without one (relayed from another instance: name and JSON only)
// has its payload's "conversation", "id" and "context" fields read.
//
// Connections whose session may see only some of its user's conversations (an embedded
// session, docs/embed.md) filter their events with it.
func EventConversation(ev Event) (string, *HostContext) {
	switch b := ev.Body.(type) {
	case ConversationCreated:
		return b.ID, b.Context
	case ConversationUpdated:
		return b.ID, b.Context
	case ConversationDeleted:
		return b.ID, nil
	case RunQueued:
		return b.Conversation, nil
	case RunStarted:
		return b.Conversation, nil
	case RunStatus:
		return b.Conversation, nil
	case RunDelta:
		return b.Conversation, nil
	case RunReasoning:
		return b.Conversation, nil
	case RunTool:
		return b.Conversation, nil
	case RunUsage:
		return b.Conversation, nil
	case RunFinal:
		return b.Conversation, nil
	case RunAborted:
		return b.Conversation, nil
	case RunError:
		return b.Conversation, nil
	case RunSnapshot:
		return b.Conversation, nil
	case ApprovalRequested:
		return b.Conversation, nil
	case RunApproval:
		return b.Conversation, nil
	case ReactionChanged:
		return b.Conversation, nil
	case ErrorEvent:
		return b.Conversation, nil
	case ConversationMembers:
		return b.Conversation, nil
	case Typing:
		return b.Conversation, nil
	case Presence:
		return b.Conversation, nil
	case Resync, GatewayStatus, ApprovalResolved, PolicyDrift, ServerRestart:
		return "", nil
	}
	if len(ev.Payload) == 0 {
		return "", nil
	}
	var p struct {
		ID           string       `json:"id"`
		Conversation string       `json:"conversation"`
		Context      *HostContext `json:"context"`
	}
	if json.Unmarshal(ev.Payload, &p) != nil {
		return "", nil
	}
	switch ev.Name {
	case "conversation.created", "conversation.updated":
		return p.ID, p.Context
	case "conversation.deleted":
		return p.ID, nil
	}
	return p.Conversation, nil
}
