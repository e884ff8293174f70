package gateway

import (
	"context"
	"encoding/json"
	"fmt"
)

// Method names used by the typed helpers.
const (
	MethodChatSend            = "chat.send"
	MethodChatHistory         = "chat.history"
	MethodChatAbort           = "chat.abort"
	MethodSessionsList        = "sessions.list"
	MethodSessionsPatch       = "sessions.patch"
	MethodSessionsDelete      = "sessions.delete"
	MethodAgentsList          = "agents.list"
	MethodModelsList          = "models.list"
	MethodSessionsSearch      = "sessions.search"
	MethodSessionsTitle       = "sessions.title.prepare"
	MethodExecApprovalList    = "exec.approval.list"
	MethodExecApprovalResolve = "exec.approval.resolve"
	MethodHealth              = "health"
)

// Requester sends one request frame and decodes its result into result: *Client does, and so do
// a consumer's wrappers (error mapping) and test fakes. Nothing outside this package should call
// it with a method name: use API.
type Requester interface {
	Request(ctx context.Context, method string, params, result any) error
}

// API is the typed Gateway protocol over a Requester: one method per Gateway method clawchat
// uses, with typed params and results. The conformance test (conformance_test.go) checks every
// one against the protocol schema.
type API struct{ R Requester }

// ChatAttachment is one chat.send attachment. Content is base64 (a data: URL prefix is
// stripped by the Gateway).
type ChatAttachment struct {
	Type     string `json:"type,omitempty"`
	MimeType string `json:"mimeType,omitempty"`
	FileName string `json:"fileName,omitempty"`
	Content  string `json:"content"`
	// SizeBytes is the decoded size (optional).
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	Width     int   `json:"width,omitempty"`
	Height    int   `json:"height,omitempty"`
}

// ChatSendParams are chat.send params (closed schema). IdempotencyKey becomes the runId.
type ChatSendParams struct {
	SessionKey     string           `json:"sessionKey"`
	Message        string           `json:"message"`
	IdempotencyKey string           `json:"idempotencyKey"`
	Attachments    []ChatAttachment `json:"attachments,omitempty"`
	Thinking       string           `json:"thinking,omitempty"`
	TimeoutMs      int64            `json:"timeoutMs,omitempty"`

	// SuppressCommandInterpretation makes the Gateway treat the whole message as text for the
	// model: no slash commands, inline directives (/exec, /model, …), abort phrases or
	// approval commands, whatever prefix (BOM, timestamp envelope, line breaks) they hide
	// behind. Needs operator.admin (INVALID_REQUEST "system provenance fields require admin
	// scope" otherwise). Verified on OpenClaw 2026.9.6 (docs/member-policy.md).
	SuppressCommandInterpretation bool `json:"suppressCommandInterpretation,omitempty"`
	// SystemInputProvenance marks where the input came from (admin only); recorded on the
	// transcript's user message as "provenance".
	SystemInputProvenance *InputProvenance `json:"systemInputProvenance,omitempty"`
	// SystemProvenanceReceipt is text the Gateway puts before the message for the agent only
	// ("receipt\n\nmessage"); the transcript keeps the message alone (admin only).
	SystemProvenanceReceipt string `json:"systemProvenanceReceipt,omitempty"`
	// ExpectedPermissionMode and ExpectedToolOverrides make the send conditional: when the
	// session's stored permissionMode / toolOverrides differ, the Gateway refuses it with
	// INVALID_REQUEST "Session settings changed before send. Retry." and runs nothing.
	ExpectedPermissionMode *string              `json:"expectedPermissionMode,omitempty"`
	ExpectedToolOverrides  *ToolOverridesOrNone `json:"expectedToolOverrides,omitempty"`
}

// Session permission modes (sessions.patch permissionMode). What each does on 2026.9.6:
// read-only denies exec and confines file tools to the agent workspace, read-only; guarded
// turns exec into an approval request (exec.approval.requested) and confines file tools to the
// workspace; workspace runs exec without approval inside the workspace; full is the agent's
// unrestricted configuration (needs operator.admin to set).
const (
	PermissionReadOnly  = "read-only"
	PermissionGuarded   = "guarded"
	PermissionWorkspace = "workspace"
	PermissionFull      = "full"
)

// ToolOverrides are a session's tool overlays (sessions.patch toolOverrides, closed schema):
// MCP servers switched on/off, MCP tools denied per server, skills on/off, web search off.
// The Gateway normalises them (sorted, empty maps dropped); compare with Equal.
type ToolOverrides struct {
	McpServers   map[string]bool     `json:"mcpServers,omitempty"`
	McpToolsDeny map[string][]string `json:"mcpToolsDeny,omitempty"`
	Skills       map[string]bool     `json:"skills,omitempty"`
	WebSearch    *bool               `json:"webSearch,omitempty"`
}

// IsZero reports whether o overlays nothing (the Gateway stores no toolOverrides then).
func (o *ToolOverrides) IsZero() bool {
	return o == nil || (len(o.McpServers) == 0 && len(o.McpToolsDeny) == 0 && len(o.Skills) == 0 && (o.WebSearch == nil || *o.WebSearch))
}

// ToolOverridesOrNone is a toolOverrides value that is sent as JSON null when V overlays
// nothing: "expect none" in chat.send, "clear" in sessions.patch.
type ToolOverridesOrNone struct{ V *ToolOverrides }

// MarshalJSON implements json.Marshaler.
func (o ToolOverridesOrNone) MarshalJSON() ([]byte, error) {
	if o.V.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(o.V)
}

// InputProvenance is chat.send systemInputProvenance. Kind: external_user, inter_session or
// internal_system.
type InputProvenance struct {
	Kind          string `json:"kind"`
	SourceChannel string `json:"sourceChannel,omitempty"`
}

// ChatSendResult is the chat.send ack. Status: started, in_flight, ok, timeout.
type ChatSendResult struct {
	RunID      string `json:"runId"`
	Status     string `json:"status"`
	MessageSeq int64  `json:"messageSeq,omitempty"`
}

// ChatSend starts (or dedupes) a turn. The reply arrives as chat/agent events.
func (a API) ChatSend(ctx context.Context, p ChatSendParams) (*ChatSendResult, error) {
	var r ChatSendResult
	if err := a.R.Request(ctx, MethodChatSend, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ChatHistoryParams are chat.history params (closed schema). Limit 1..1000 (0 = server
// default 200); MaxChars caps each text field (0 = server default 8000).
type ChatHistoryParams struct {
	SessionKey string `json:"sessionKey"`
	Limit      int    `json:"limit,omitempty"`
	Offset     int    `json:"offset,omitempty"`
	MaxChars   int    `json:"maxChars,omitempty"`
}

// ChatHistoryResult is the tail chat.history result. Messages are raw transcript rows,
// oldest first; use MessageText to extract text.
type ChatHistoryResult struct {
	SessionKey    string             `json:"sessionKey"`
	SessionID     string             `json:"sessionId,omitempty"`
	Messages      []json.RawMessage  `json:"messages"`
	HasMore       bool               `json:"hasMore,omitempty"`
	NextOffset    *int               `json:"nextOffset,omitempty"`
	TotalMessages int                `json:"totalMessages,omitempty"`
	SessionInfo   HistorySessionInfo `json:"sessionInfo,omitzero"`
	InFlightRun   *struct {
		RunID string `json:"runId"`
		Text  string `json:"text,omitempty"`
	} `json:"inFlightRun,omitempty"`
}

// HistorySessionInfo is what chat.history says about the session's runs. ActiveRunIDs is nil
// when the Gateway does not list them (older Gateways): then only HasActiveRun is known.
type HistorySessionInfo struct {
	HasActiveRun bool      `json:"hasActiveRun,omitempty"`
	ActiveRunIDs *[]string `json:"activeRunIds,omitempty"`
	// Status is the session row's status ("running", "done", …): "running" outlives a crash
	// until the Gateway's restart recovery has resumed the session.
	Status string `json:"status,omitempty"`
	// AbortedLastRun: the session's last run was cut (by a Gateway restart).
	AbortedLastRun bool `json:"abortedLastRun,omitempty"`
	// RestartRecoveryStatus is "tombstoned" once the Gateway gave up recovering the session.
	RestartRecoveryStatus string `json:"restartRecoveryStatus,omitempty"`
}

// RecoveryOwed reports whether the Gateway still owes the session a restart-recovery turn: its
// last run was cut by a restart, the session is still marked running, nothing runs in it yet,
// and the Gateway has not given up. OpenClaw 2026.9.6 resumes cut sessions one at a time after a
// restart (5 s after start-up, then each after the previous one's turn), so on a busy Gateway a
// session can wait for its recovery turn for minutes (docs/reliability.md).
func (i HistorySessionInfo) RecoveryOwed() bool {
	return i.Status == "running" && i.AbortedLastRun && !i.HasActiveRun && i.RestartRecoveryStatus != "tombstoned"
}

// ChatHistory reads a page of a session's transcript.
func (a API) ChatHistory(ctx context.Context, p ChatHistoryParams) (*ChatHistoryResult, error) {
	var r ChatHistoryResult
	if err := a.R.Request(ctx, MethodChatHistory, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ChatAbortParams are chat.abort params. Without RunID every abortable run of the
// session is aborted.
type ChatAbortParams struct {
	SessionKey string `json:"sessionKey"`
	RunID      string `json:"runId,omitempty"`
}

// ChatAbortResult is the chat.abort result.
type ChatAbortResult struct {
	OK      bool     `json:"ok"`
	Aborted bool     `json:"aborted"`
	RunIDs  []string `json:"runIds"`
}

// ChatAbort aborts a run (or the session's active runs).
func (a API) ChatAbort(ctx context.Context, p ChatAbortParams) (*ChatAbortResult, error) {
	var r ChatAbortResult
	if err := a.R.Request(ctx, MethodChatAbort, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SessionsListParams are sessions.list params (closed schema). Limit 0 = server default 100.
type SessionsListParams struct {
	Limit                int    `json:"limit,omitempty"`
	Offset               int    `json:"offset,omitempty"`
	Search               string `json:"search,omitempty"`
	IncludeDerivedTitles bool   `json:"includeDerivedTitles,omitempty"`
	IncludeLastMessage   bool   `json:"includeLastMessage,omitempty"`
}

// SessionRow is one sessions.list row (open object: only common fields are decoded).
type SessionRow struct {
	Key                string   `json:"key"`
	SessionID          string   `json:"sessionId,omitempty"`
	Kind               string   `json:"kind,omitempty"`
	Label              string   `json:"label,omitempty"`
	DisplayName        string   `json:"displayName,omitempty"`
	DerivedTitle       string   `json:"derivedTitle,omitempty"`
	LastMessagePreview string   `json:"lastMessagePreview,omitempty"`
	AgentID            string   `json:"agentId,omitempty"`
	UpdatedAt          int64    `json:"updatedAt,omitempty"`
	Status             string   `json:"status,omitempty"`
	Archived           bool     `json:"archived,omitempty"`
	HasActiveRun       bool     `json:"hasActiveRun,omitempty"`
	ActiveRunIDs       []string `json:"activeRunIds,omitempty"`
	// PermissionMode is the session's permission mode ("" = none set: the agent's own policy).
	PermissionMode string         `json:"permissionMode,omitempty"`
	ToolOverrides  *ToolOverrides `json:"toolOverrides,omitempty"`
	// ModelProvider and Model are the session's effective model; ThinkingLevel its stored level
	// ("" = the model's default, ThinkingDefault).
	ModelProvider   string          `json:"modelProvider,omitempty"`
	Model           string          `json:"model,omitempty"`
	ThinkingLevel   string          `json:"thinkingLevel,omitempty"`
	ThinkingLevels  []ThinkingLevel `json:"thinkingLevels,omitempty"`
	ThinkingDefault string          `json:"thinkingDefault,omitempty"`
}

// SessionsListResult is the sessions.list result.
type SessionsListResult struct {
	Count      int          `json:"count"`
	TotalCount int          `json:"totalCount,omitempty"`
	HasMore    bool         `json:"hasMore,omitempty"`
	NextOffset *int         `json:"nextOffset,omitempty"`
	Sessions   []SessionRow `json:"sessions"`
	// Defaults are what a session without overrides runs with.
	Defaults *SessionsListDefaults `json:"defaults,omitempty"`
}

// SessionsListDefaults is sessions.list "defaults".
type SessionsListDefaults struct {
	ModelProvider   string `json:"modelProvider,omitempty"`
	Model           string `json:"model,omitempty"`
	ThinkingDefault string `json:"thinkingDefault,omitempty"`
}

// SessionsList lists sessions (of every user of the Gateway: filter by key prefix).
func (a API) SessionsList(ctx context.Context, p SessionsListParams) (*SessionsListResult, error) {
	var r SessionsListResult
	if err := a.R.Request(ctx, MethodSessionsList, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SessionsPatchParams are sessions.patch params limited to write-scope mutations.
// Nil pointers are omitted.
type SessionsPatchParams struct {
	Key               string  `json:"key"`
	ExpectedSessionID string  `json:"expectedSessionId,omitempty"`
	Label             *string `json:"label,omitempty"`
	Archived          *bool   `json:"archived,omitempty"`
	// PermissionMode sets the session's permission mode (write scope for every mode but full).
	PermissionMode *string `json:"permissionMode,omitempty"`
	// ToolOverrides replaces the session's tool overlays (needs operator.admin); a non-nil
	// ToolOverridesOrNone without a value clears them.
	ToolOverrides *ToolOverridesOrNone `json:"toolOverrides,omitempty"`
	// Model sets the session's model as "provider/model" (write scope); ThinkingLevel its thinking
	// level, one of the model's thinkingLevels ids (write scope). The Gateway refuses unknown
	// providers and levels the model does not support with INVALID_REQUEST (verified on 2026.9.6).
	Model         *string `json:"model,omitempty"`
	ThinkingLevel *string `json:"thinkingLevel,omitempty"`
}

// SessionsPatchResult is the sessions.patch result (the entry is kept raw: it holds
// server paths and must not reach browsers).
type SessionsPatchResult struct {
	OK    bool            `json:"ok"`
	Key   string          `json:"key"`
	Entry json.RawMessage `json:"entry,omitempty"`
	// Resolved is what the session runs with after the patch.
	Resolved *ResolvedSession `json:"resolved,omitempty"`
}

// ResolvedSession is sessions.patch's "resolved": the session's effective model and thinking
// level (ThinkingLevel is "" when the model has no thinking levels).
type ResolvedSession struct {
	ModelProvider  string          `json:"modelProvider,omitempty"`
	Model          string          `json:"model,omitempty"`
	ThinkingLevel  string          `json:"thinkingLevel,omitempty"`
	ThinkingLevels []ThinkingLevel `json:"thinkingLevels,omitempty"`
}

// ThinkingLevel is one thinking level a model supports (models.list, sessions.* rows).
type ThinkingLevel struct {
	ID    string `json:"id"`
	Label string `json:"label,omitempty"`
}

// SessionsPatch changes a session's label or archived flag.
func (a API) SessionsPatch(ctx context.Context, p SessionsPatchParams) (*SessionsPatchResult, error) {
	var r SessionsPatchResult
	if err := a.R.Request(ctx, MethodSessionsPatch, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SessionsTitleParams are sessions.title.prepare params (write scope; OpenClaw 2026.8+).
type SessionsTitleParams struct {
	AgentID string `json:"agentId"`
	// Message is the conversation's first message, at most 1000 characters (the schema's bound).
	Message string `json:"message"`
}

// SessionsTitleResult is the sessions.title.prepare result: a title of at most 60 characters
// made by the agent's utility model, or nil when the Gateway has no utility model distinct from
// the agent's primary one, the message is empty or a slash command, or the model failed
// (observed on 2026.9.6; docs/api.md "Conversation titles"). It is model output: untrusted.
type SessionsTitleResult struct {
	Title *string `json:"title"`
}

// SessionsTitle asks the Gateway for a short title for a conversation that starts with message,
// without creating or changing a session.
func (a API) SessionsTitle(ctx context.Context, p SessionsTitleParams) (*SessionsTitleResult, error) {
	var r SessionsTitleResult
	if err := a.R.Request(ctx, MethodSessionsTitle, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SessionsDeleteParams are sessions.delete params. With write scope only, ArchivedOnly
// must be true (archive first with SessionsPatch).
type SessionsDeleteParams struct {
	Key              string `json:"key"`
	ArchivedOnly     bool   `json:"archivedOnly"`
	DeleteTranscript *bool  `json:"deleteTranscript,omitempty"`
}

// SessionsDeleteResult is the sessions.delete result.
type SessionsDeleteResult struct {
	OK      bool   `json:"ok"`
	Key     string `json:"key"`
	Deleted bool   `json:"deleted"`
}

// SessionsDelete deletes an (archived) session.
func (a API) SessionsDelete(ctx context.Context, p SessionsDeleteParams) (*SessionsDeleteResult, error) {
	var r SessionsDeleteResult
	if err := a.R.Request(ctx, MethodSessionsDelete, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// AgentSummary is one agents.list entry.
type AgentSummary struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Identity *struct {
		Name  string `json:"name,omitempty"`
		Emoji string `json:"emoji,omitempty"`
	} `json:"identity,omitempty"`
	// DefaultPermissionMode is the mode of the agent's sessions that set none (2026.9.6).
	DefaultPermissionMode string `json:"defaultPermissionMode,omitempty"`
}

// AgentsListResult is the agents.list result.
type AgentsListResult struct {
	DefaultID string         `json:"defaultId"`
	MainKey   string         `json:"mainKey,omitempty"`
	Scope     string         `json:"scope,omitempty"`
	Agents    []AgentSummary `json:"agents"`
}

// SessionsSearchParams are sessions.search params (closed schema). Without SessionKeys the
// Gateway searches every session of every user: callers must always pass the keys they may
// search (1 to 200).
type SessionsSearchParams struct {
	Query       string   `json:"query"`
	SessionKeys []string `json:"sessionKeys"`
	AgentID     string   `json:"agentId,omitempty"`
	Limit       int      `json:"limit,omitempty"` // 1..25
}

// SessionsSearchHit is one sessions.search result: a transcript message matching the query.
type SessionsSearchHit struct {
	SessionKey string  `json:"sessionKey"`
	SessionID  string  `json:"sessionId"`
	MessageID  string  `json:"messageId"`
	Role       string  `json:"role"` // user | assistant
	Timestamp  int64   `json:"timestamp"`
	Snippet    string  `json:"snippet"`
	Score      float64 `json:"score"`
}

// SessionsSearchResult is the sessions.search result.
type SessionsSearchResult struct {
	Results   []SessionsSearchHit `json:"results"`
	Indexing  bool                `json:"indexing,omitempty"`
	Truncated bool                `json:"truncated,omitempty"`
}

// SessionsSearch searches the text of user and assistant messages of the given sessions (the
// Gateway's full-text index, verified on 2026.9.6: whole words, all of them, "quoted phrases";
// the best matches first).
func (a API) SessionsSearch(ctx context.Context, p SessionsSearchParams) (*SessionsSearchResult, error) {
	if len(p.SessionKeys) == 0 {
		return &SessionsSearchResult{}, nil
	}
	var r SessionsSearchResult
	if err := a.R.Request(ctx, MethodSessionsSearch, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ModelsListParams are models.list params (closed schema).
type ModelsListParams struct {
	AgentID string `json:"agentId,omitempty"`
}

// ModelChoice is one models.list entry. The model's id for sessions.patch is Provider/ID.
type ModelChoice struct {
	ID              string          `json:"id"`
	Name            string          `json:"name,omitempty"`
	Provider        string          `json:"provider"`
	Reasoning       bool            `json:"reasoning,omitempty"`
	Available       *bool           `json:"available,omitempty"`
	ThinkingLevels  []ThinkingLevel `json:"thinkingLevels,omitempty"`
	ThinkingDefault string          `json:"thinkingDefault,omitempty"`
}

// Ref is the model's sessions.patch reference, "provider/id".
func (m ModelChoice) Ref() string { return m.Provider + "/" + m.ID }

// ModelsListResult is the models.list result.
type ModelsListResult struct {
	Models []ModelChoice `json:"models"`
}

// ModelsList lists the models an agent can use (the Gateway's catalog; it can answer
// UNAVAILABLE while the catalog is not ready).
func (a API) ModelsList(ctx context.Context, p ModelsListParams) (*ModelsListResult, error) {
	var r ModelsListResult
	if err := a.R.Request(ctx, MethodModelsList, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// AgentsList lists the Gateway's agents.
func (a API) AgentsList(ctx context.Context) (*AgentsListResult, error) {
	var r AgentsListResult
	if err := a.R.Request(ctx, MethodAgentsList, struct{}{}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ExecApproval is one pending exec approval (exec.approval.list row or the payload of
// exec.approval.requested).
type ExecApproval struct {
	ID           string              `json:"id"`
	ApprovalKind string              `json:"approvalKind,omitempty"`
	Request      ExecApprovalRequest `json:"request"`
	CreatedAtMs  int64               `json:"createdAtMs,omitempty"`
	ExpiresAtMs  int64               `json:"expiresAtMs,omitempty"`
}

// ExecApprovalRequest is what an exec approval asks for. SessionKey and Cwd can carry server
// details: never forward the request as is.
type ExecApprovalRequest struct {
	Command     string   `json:"command"`
	CommandArgv []string `json:"commandArgv,omitempty"`
	Cwd         string   `json:"cwd,omitempty"`
	Host        string   `json:"host,omitempty"`
	AgentID     string   `json:"agentId,omitempty"`
	SessionKey  string   `json:"sessionKey,omitempty"`
	RunID       string   `json:"runId,omitempty"`
	WarningText string   `json:"warningText,omitempty"`
}

// ExecApprovalList backfills pending exec approvals (needs operator.approvals). The Gateway
// answers with a bare array; an {"approvals":[…]} object is accepted too.
func (a API) ExecApprovalList(ctx context.Context) ([]ExecApproval, error) {
	var raw json.RawMessage
	if err := a.R.Request(ctx, MethodExecApprovalList, struct{}{}, &raw); err != nil {
		return nil, err
	}
	var rows []ExecApproval
	if json.Unmarshal(raw, &rows) == nil {
		return rows, nil
	}
	var wrapped struct {
		Approvals []ExecApproval `json:"approvals"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return nil, fmt.Errorf("gateway: exec.approval.list: unexpected answer: %s", shortJSONErr(err))
	}
	return wrapped.Approvals, nil
}

// Exec approval decisions.
const (
	DecisionAllowOnce   = "allow-once"
	DecisionAllowAlways = "allow-always"
	DecisionDeny        = "deny"
)

// ExecApprovalResolveParams are exec.approval.resolve params.
type ExecApprovalResolveParams struct {
	ID       string `json:"id"`
	Decision string `json:"decision"`
}

// ExecApprovalResolve answers an exec approval. The raw result is returned.
func (a API) ExecApprovalResolve(ctx context.Context, p ExecApprovalResolveParams) (json.RawMessage, error) {
	var r json.RawMessage
	if err := a.R.Request(ctx, MethodExecApprovalResolve, p, &r); err != nil {
		return nil, err
	}
	return r, nil
}

// HealthResult is the part of the health snapshot clawchat reads.
type HealthResult struct {
	OK             bool   `json:"ok"`
	TS             int64  `json:"ts,omitempty"`
	DefaultAgentID string `json:"defaultAgentId,omitempty"`
}

// Health calls health (no scope needed).
func (a API) Health(ctx context.Context) (*HealthResult, error) {
	var r HealthResult
	if err := a.R.Request(ctx, MethodHealth, struct{}{}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Typed methods on the client itself (API over c).
func (c *Client) ChatSend(ctx context.Context, p ChatSendParams) (*ChatSendResult, error) {
	return API{R: c}.ChatSend(ctx, p)
}
func (c *Client) ChatHistory(ctx context.Context, p ChatHistoryParams) (*ChatHistoryResult, error) {
	return API{R: c}.ChatHistory(ctx, p)
}
func (c *Client) ChatAbort(ctx context.Context, p ChatAbortParams) (*ChatAbortResult, error) {
	return API{R: c}.ChatAbort(ctx, p)
}
func (c *Client) SessionsList(ctx context.Context, p SessionsListParams) (*SessionsListResult, error) {
	return API{R: c}.SessionsList(ctx, p)
}
func (c *Client) SessionsPatch(ctx context.Context, p SessionsPatchParams) (*SessionsPatchResult, error) {
	return API{R: c}.SessionsPatch(ctx, p)
}
func (c *Client) SessionsDelete(ctx context.Context, p SessionsDeleteParams) (*SessionsDeleteResult, error) {
	return API{R: c}.SessionsDelete(ctx, p)
}
func (c *Client) SessionsSearch(ctx context.Context, p SessionsSearchParams) (*SessionsSearchResult, error) {
	return API{R: c}.SessionsSearch(ctx, p)
}
func (c *Client) SessionsTitle(ctx context.Context, p SessionsTitleParams) (*SessionsTitleResult, error) {
	return API{R: c}.SessionsTitle(ctx, p)
}
func (c *Client) ModelsList(ctx context.Context, p ModelsListParams) (*ModelsListResult, error) {
	return API{R: c}.ModelsList(ctx, p)
}
func (c *Client) AgentsList(ctx context.Context) (*AgentsListResult, error) {
	return API{R: c}.AgentsList(ctx)
}
func (c *Client) ExecApprovalList(ctx context.Context) ([]ExecApproval, error) {
	return API{R: c}.ExecApprovalList(ctx)
}
func (c *Client) ExecApprovalResolve(ctx context.Context, p ExecApprovalResolveParams) (json.RawMessage, error) {
	return API{R: c}.ExecApprovalResolve(ctx, p)
}
func (c *Client) Health(ctx context.Context) (*HealthResult, error) { return API{R: c}.Health(ctx) }
