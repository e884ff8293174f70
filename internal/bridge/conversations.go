package bridge

import (
	"context"

	"github.com/clawchat/clawchat/internal/bridge/conversations"
	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
)

// Conversation is the client view of a conversation (docs/api.md "Conversation object").
type Conversation = chat.ConversationView

// CreateParams are the fields of a new conversation. ID is optional (c-<random> when empty).
type CreateParams = conversations.CreateParams

// UpdateParams are the fields to change; nil means unchanged.
type UpdateParams = conversations.UpdateParams

// Agent is an agent users may pick for a conversation.
type Agent = conversations.Agent

// AgentList is the answer of Agents.
type AgentList = conversations.AgentList

// Message is one history entry (docs/api.md "Message object").
type Message = transcript.Message

// Tool is a tool call with its result merged in.
type Tool = transcript.Tool

// HistoryPage is one page of a conversation, oldest first.
type HistoryPage = conversations.HistoryPage

// Get returns one of u's conversations.
func (s *Service) Get(ctx context.Context, u chat.User, id string) (Conversation, error) {
	return s.conversations.Get(ctx, u, id)
}

// List returns u's conversations (archived ones only when archived is true), newest activity
// first, and for owners the Gateway's other sessions (nil for members or when the Gateway is not
// reachable).
func (s *Service) List(ctx context.Context, u chat.User, archived bool) ([]Conversation, []Conversation, error) {
	return s.conversations.List(ctx, u, archived)
}

// Create makes a new conversation for u. A client-chosen id that u already has is chat.ErrConflict.
func (s *Service) Create(ctx context.Context, u chat.User, p CreateParams) (Conversation, error) {
	return s.conversations.Create(ctx, u, p)
}

// Update renames, archives and/or pins one of u's conversations.
func (s *Service) Update(ctx context.Context, u chat.User, id string, p UpdateParams) (Conversation, error) {
	return s.conversations.Update(ctx, u, id, p)
}

// Delete removes one of u's conversations: any run is aborted, the Gateway session is archived and
// deleted (a session that never existed is fine), then the row goes.
func (s *Service) Delete(ctx context.Context, u chat.User, id string) error {
	return s.conversations.Delete(ctx, u, id)
}

// Agents lists the Gateway's agents (ids, names, emoji only).
func (s *Service) Agents(ctx context.Context) (AgentList, error) { return s.conversations.Agents(ctx) }

// AgentsFor is Agents filtered to the agents u may talk to.
func (s *Service) AgentsFor(ctx context.Context, u chat.User) (AgentList, error) {
	return s.conversations.AgentsFor(ctx, u)
}

// History returns a page of one of u's conversations: limit messages (default 50, max 200) before
// the cursor (an opaque value from a previous page; empty for the newest page).
func (s *Service) History(ctx context.Context, u chat.User, conversation string, limit int, before string) (HistoryPage, error) {
	return s.conversations.History(ctx, u, conversation, limit, before)
}
