package chat

//go:generate go run ../../cmd/clawchat-wiregen -o ../../web/src/wire.ts

import "time"

// This file is the browser event schema of docs/api.md as Go types: one payload type per event,
// and one constructor per event (the payload's Event method). Nothing else builds a browser
// event's payload; web/src/wire.ts is generated from these types (cmd/clawchat-wiregen, `go generate ./internal/chat`).
//
// Field order and omitempty follow the wire format the web app and scripts read; a field that is
// optional on the wire is a pointer or omitempty here, a field that is always sent is neither.

// Payload is the typed payload of one browser event.
type Payload interface {
	// EventName is the event's name on the wire (e.g. "run.started").
	EventName() string
}

// Catalog returns a zero value of every event payload type, in docs/api.md order. The TypeScript
// generator and the docs check walk it; a new event must be added here.
func Catalog() []Payload {
	return []Payload{
		ConversationCreated{}, ConversationUpdated{}, ConversationDeleted{},
		RunQueued{}, RunStarted{}, RunStatus{}, RunDelta{}, RunReasoning{}, RunTool{}, RunUsage{},
		RunFinal{}, RunAborted{}, RunError{}, RunSnapshot{},
		Resync{}, GatewayStatus{}, ApprovalRequested{}, ApprovalResolved{}, RunApproval{},
		PolicyDrift{}, ReactionChanged{}, ErrorEvent{}, ServerRestart{},
	}
}

// ConversationView is a conversation as clients see it (docs/api.md, Conversation object).
type ConversationView struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	AgentID        string     `json:"agentId"`
	Kind           string     `json:"kind"` // conversation | gateway
	CreatedAt      *time.Time `json:"createdAt,omitempty"`
	UpdatedAt      *time.Time `json:"updatedAt,omitempty"`
	LastActivityAt *time.Time `json:"lastActivityAt,omitempty"`
	Archived       bool       `json:"archived"`
	Pinned         bool       `json:"pinned"`
	Running        bool       `json:"running"`
	RunID          *string    `json:"runId"`
	Queued         int        `json:"queued"`
	// Context is the host context the conversation belongs to (embedding); absent otherwise.
	Context *HostContext `json:"context,omitempty"`
}

// ConversationCreated is conversation.created.
type ConversationCreated struct{ ConversationView }

// ConversationUpdated is conversation.updated.
type ConversationUpdated struct{ ConversationView }

// ConversationDeleted is conversation.deleted.
type ConversationDeleted struct {
	ID string `json:"id"`
}

// RunQueued is run.queued: a message waits behind the conversation's running reply.
type RunQueued struct {
	Conversation string `json:"conversation"`
	MessageID    string `json:"messageId"`
	Position     int    `json:"position"`
	RunID        string `json:"runId"`
	Text         string `json:"text"`
}

// RunStarted is run.started. Text is the user's message (absent for a turn the Gateway started
// by itself); At is RFC 3339 with nanoseconds, UTC.
type RunStarted struct {
	At           string  `json:"at"`
	Conversation string  `json:"conversation"`
	MessageID    string  `json:"messageId"`
	RunID        string  `json:"runId"`
	Text         *string `json:"text,omitempty"`
}

// NewRunStarted is the one place run.started is built: at is formatted as the wire wants it.
func NewRunStarted(conversation, runID, messageID string, at time.Time, text *string) RunStarted {
	return RunStarted{At: at.UTC().Format(time.RFC3339Nano), Conversation: conversation, MessageID: messageID, RunID: runID, Text: text}
}

// RunStatus is run.status.
type RunStatus struct {
	Conversation string `json:"conversation"`
	Phase        string `json:"phase"`
	RunID        string `json:"runId"`
}

// RunDelta is run.delta: Text is an increment, or with Replace the whole text so far; Rev
// numbers the run's text changes.
type RunDelta struct {
	Conversation string `json:"conversation"`
	Replace      bool   `json:"replace,omitempty"`
	Rev          uint64 `json:"rev"`
	RunID        string `json:"runId"`
	Text         string `json:"text"`
}

// RunReasoning is run.reasoning (an increment).
type RunReasoning struct {
	Conversation string `json:"conversation"`
	RunID        string `json:"runId"`
	Text         string `json:"text"`
}

// RunTool is run.tool. Args and Result are truncated previews; Error and DurationMs come with
// phase end.
type RunTool struct {
	Args         string `json:"args,omitempty"`
	Conversation string `json:"conversation"`
	DurationMs   *int64 `json:"durationMs,omitempty"`
	Error        *bool  `json:"error,omitempty"`
	Name         string `json:"name"`
	Phase        string `json:"phase"` // start | update | end
	Result       string `json:"result,omitempty"`
	RunID        string `json:"runId"`
	ToolCallID   string `json:"toolCallId"`
}

// Usage is a run's token use and cost, each when the Gateway reported it.
type Usage struct {
	Cost   *float64 `json:"cost,omitempty"`
	Input  *int64   `json:"input,omitempty"`
	Output *int64   `json:"output,omitempty"`
}

// Empty reports whether u carries nothing.
func (u Usage) Empty() bool { return u.Cost == nil && u.Input == nil && u.Output == nil }

// RunUsage is run.usage.
type RunUsage struct {
	Conversation string   `json:"conversation"`
	Cost         *float64 `json:"cost,omitempty"`
	Input        *int64   `json:"input,omitempty"`
	Output       *int64   `json:"output,omitempty"`
	RunID        string   `json:"runId"`
}

// RunFinal is run.final: Text is the complete reply.
type RunFinal struct {
	Conversation string `json:"conversation"`
	RunID        string `json:"runId"`
	StopReason   string `json:"stopReason,omitempty"`
	Text         string `json:"text"`
	Usage        *Usage `json:"usage,omitempty"`
}

// RunAborted is run.aborted: Text is the partial reply. MessageID is set when a queued message
// was dropped before it ran.
type RunAborted struct {
	Conversation string `json:"conversation"`
	MessageID    string `json:"messageId,omitempty"`
	RunID        string `json:"runId"`
	Text         string `json:"text"`
}

// RunError is run.error. Kind is not_sent, interrupted, merged, lost or the Gateway's own kind;
// Text is the partial reply (absent when nothing was sent); ContinuedBy is the run that carries
// the reply on.
type RunError struct {
	ContinuedBy  string  `json:"continuedBy,omitempty"`
	Conversation string  `json:"conversation"`
	Kind         string  `json:"kind,omitempty"`
	Message      string  `json:"message"`
	RunID        string  `json:"runId"`
	Text         *string `json:"text,omitempty"`
}

// ToolView is one tool call of a run in a run.snapshot.
type ToolView struct {
	ID     string `json:"toolCallId"`
	Name   string `json:"name"`
	Args   string `json:"args,omitempty"`
	Result string `json:"result,omitempty"`
	Error  bool   `json:"error,omitempty"`
	Phase  string `json:"phase"`
}

// RunSnapshot is run.snapshot: a running reply so far (state running, with Rev, Reasoning and
// Tools), or how a run ended (state final, aborted or error, with its terminal event's fields).
type RunSnapshot struct {
	ContinuedBy  string     `json:"continuedBy,omitempty"`
	Conversation string     `json:"conversation"`
	Kind         string     `json:"kind,omitempty"`
	Message      string     `json:"message,omitempty"`
	MessageID    string     `json:"messageId,omitempty"`
	Reasoning    *string    `json:"reasoning,omitempty"`
	Rev          *uint64    `json:"rev,omitempty"`
	RunID        string     `json:"runId"`
	State        string     `json:"state"` // running | final | aborted | error
	StopReason   string     `json:"stopReason,omitempty"`
	Text         string     `json:"text"`
	Tools        []ToolView `json:"tools,omitzero"`
	Usage        *Usage     `json:"usage,omitempty"`
}

// Resync is resync: reload the conversation list and the open history.
type Resync struct {
	Reason string `json:"reason"`
}

// GatewayStatus is gateway.status.
type GatewayStatus struct {
	State string `json:"state"` // connected | reconnecting | down | pairing_required
}

// Approval is an owner's view of one pending exec approval. It never carries the Gateway's raw
// request: no session key, no environment.
type Approval struct {
	ID      string `json:"id"`
	Command string `json:"command"`
	Cwd     string `json:"cwd,omitempty"`
	Host    string `json:"host,omitempty"`
	AgentID string `json:"agentId,omitempty"`
	// Conversation is set only when the request comes from one of this owner's conversations
	// (its id) or from a Gateway session (gw:<key>); never for another user's conversation.
	Conversation string `json:"conversation,omitempty"`
	// RequestedBy names the clawchat user whose message raised the request (their display name;
	// absent for Gateway sessions), and ConversationTitle that conversation's title: who asked,
	// and where.
	RequestedBy       string `json:"requestedBy,omitempty"`
	ConversationTitle string `json:"conversationTitle,omitempty"`
	CreatedAtMs       int64  `json:"createdAtMs,omitempty"`
	ExpiresAtMs       int64  `json:"expiresAtMs"`
	WarningText       string `json:"warningText,omitempty"`
}

// ApprovalRequested is approval.requested (owners only).
type ApprovalRequested struct{ Approval }

// ApprovalResolved is approval.resolved (owners only).
type ApprovalResolved struct {
	Decision string `json:"decision"` // allow-once | allow-always | deny | expired
	ID       string `json:"id"`
}

// RunApproval is run.approval: what the user whose conversation's command waits for an owner
// learns about it (members; owners get approval.*), and its outcome.
type RunApproval struct {
	Conversation string `json:"conversation"`
	ID           string `json:"id"`
	// State is waiting, then allow-once, allow-always, deny or expired.
	State       string `json:"state"`
	Command     string `json:"command,omitempty"`
	ExpiresAtMs int64  `json:"expiresAtMs,omitempty"`
}

// PolicyDrift is policy.drift, for owners: a member's send was refused because their
// conversation's Gateway session policy was changed outside clawchat.
type PolicyDrift struct {
	User     string `json:"user"`
	AgentID  string `json:"agentId"`
	Expected string `json:"expectedMode"`
	Message  string `json:"message"`
}

// ReactionChanged is reaction: the reactions of one message, emoji → display names.
type ReactionChanged struct {
	Conversation string              `json:"conversation"`
	MessageID    string              `json:"messageId"`
	Reactions    map[string][]string `json:"reactions"`
}

// ErrorEvent is error: rate limits, limits reached, refused sends.
type ErrorEvent struct {
	Code         string `json:"code"`
	Conversation string `json:"conversation,omitempty"`
	Message      string `json:"message"`
}

// ServerRestart is server.restart, sent before a graceful shutdown.
type ServerRestart struct{}

// EventName implementations: the wire names of docs/api.md.
func (ConversationCreated) EventName() string { return "conversation.created" }
func (ConversationUpdated) EventName() string { return "conversation.updated" }
func (ConversationDeleted) EventName() string { return "conversation.deleted" }
func (RunQueued) EventName() string           { return "run.queued" }
func (RunStarted) EventName() string          { return "run.started" }
func (RunStatus) EventName() string           { return "run.status" }
func (RunDelta) EventName() string            { return "run.delta" }
func (RunReasoning) EventName() string        { return "run.reasoning" }
func (RunTool) EventName() string             { return "run.tool" }
func (RunUsage) EventName() string            { return "run.usage" }
func (RunFinal) EventName() string            { return "run.final" }
func (RunAborted) EventName() string          { return "run.aborted" }
func (RunError) EventName() string            { return "run.error" }
func (RunSnapshot) EventName() string         { return "run.snapshot" }
func (Resync) EventName() string              { return "resync" }
func (GatewayStatus) EventName() string       { return "gateway.status" }
func (ApprovalRequested) EventName() string   { return "approval.requested" }
func (ApprovalResolved) EventName() string    { return "approval.resolved" }
func (RunApproval) EventName() string         { return "run.approval" }
func (PolicyDrift) EventName() string         { return "policy.drift" }
func (ReactionChanged) EventName() string     { return "reaction" }
func (ErrorEvent) EventName() string          { return "error" }
func (ServerRestart) EventName() string       { return "server.restart" }

// Constructors: one per event.
func (p ConversationCreated) Event() Event { return typed(p) }
func (p ConversationUpdated) Event() Event { return typed(p) }
func (p ConversationDeleted) Event() Event { return typed(p) }
func (p RunQueued) Event() Event           { return typed(p) }
func (p RunStarted) Event() Event          { return typed(p) }
func (p RunStatus) Event() Event           { return typed(p) }
func (p RunDelta) Event() Event            { return typed(p) }
func (p RunReasoning) Event() Event        { return typed(p) }
func (p RunTool) Event() Event             { return typed(p) }
func (p RunUsage) Event() Event            { return typed(p) }
func (p RunFinal) Event() Event            { return typed(p) }
func (p RunAborted) Event() Event          { return typed(p) }
func (p RunError) Event() Event            { return typed(p) }
func (p RunSnapshot) Event() Event         { return typed(p) }
func (p Resync) Event() Event              { return typed(p) }
func (p GatewayStatus) Event() Event       { return typed(p) }
func (p ApprovalRequested) Event() Event   { return typed(p) }
func (p ApprovalResolved) Event() Event    { return typed(p) }
func (p RunApproval) Event() Event         { return typed(p) }
func (p PolicyDrift) Event() Event         { return typed(p) }
func (p ReactionChanged) Event() Event     { return typed(p) }
func (p ErrorEvent) Event() Event          { return typed(p) }
func (p ServerRestart) Event() Event       { return typed(p) }

func typed(p Payload) Event {
	ev := NewEvent(p.EventName(), p)
	ev.Body = p
	return ev
}
