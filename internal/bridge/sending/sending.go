// Package sending accepts users' messages: it checks them (size, NUL, attachments against the
// Gateway's announced limits, the message id), authorizes the conversation (bridge/conversations,
// created on the fly for REST sends), answers retries of a message as duplicates (never runs it
// twice), applies the per-user send rate (idle limiters evicted), decides the member safety of
// the send (bridge/policy: command suppression, the conditional session policy) and hands it to
// the run tracker (bridge/runs), which queues it behind a running turn or starts it. It also
// stops runs (Abort), performs the chat.send itself for the tracker (ChatSend: conditional on the
// policy, telling the owners when it drifted) and names a conversation after its first message.
//
// A Service's only state is its rate limiters (internal/ratelimit, own lock). It is safe for
// concurrent use.
package sending

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/clawchat/clawchat/internal/bridge/conversations"
	"github.com/clawchat/clawchat/internal/bridge/policy"
	"github.com/clawchat/clawchat/internal/bridge/runs"
	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/bridge/upstream"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/ratelimit"
)

// Attachment is a file sent with a message; Content is base64.
type Attachment struct {
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
	Content  string `json:"content"`
}

// Params is one message from a client.
type Params struct {
	Conversation string
	ID           string // client message id; retries with the same id never run twice
	Text         string
	Attachments  []Attachment
	// Create makes the conversation when u does not have it yet (REST send semantics).
	Create bool
	// AgentContext is text the agent reads after the sender line and before the message, never
	// in the transcript: an embedded message's fenced page context (internal/embed). It rides
	// in chat.send's systemProvenanceReceipt, so it needs the admin scope like the sender line.
	AgentContext string
}

// Result is the answer to a send.
type Result struct {
	RunID  string `json:"runId"`
	Status string `json:"status"` // started | queued | duplicate (runs.Status*)
}

// Limits are the attachment bounds the Gateway announced in hello-ok (policy.attachments,
// policy.maxPayload). Zero means "no bound known".
type Limits struct {
	MaxAttachmentBytes int64
	MaxImageBytes      int64
	MaxPayload         int64
}

// Conversations is the authorization gate (bridge/conversations).
type Conversations interface {
	Lookup(ctx context.Context, u chat.User, id string) (chat.Conversation, error)
	CreateRow(ctx context.Context, u chat.User, p conversations.CreateParams) (chat.Conversation, error)
	View(ctx context.Context, c chat.Conversation) chat.ConversationView
	// MemberPolicyApplies reports whether shared conversation c runs under the member policy
	// (a participant is a member; issue 13).
	MemberPolicyApplies(ctx context.Context, c chat.Conversation) bool
}

// Runs is the run tracker (bridge/runs).
type Runs interface {
	// Duplicate reports whether runID is tracked, recently ended or queued in session key.
	Duplicate(runID, key string) bool
	// Submit queues m behind session t.Key's running turn or starts it (chat.send through
	// ChatSend); runs.ErrQueueFull and runs.ErrTooManyRuns refuse it.
	Submit(ctx context.Context, t runs.Target, m runs.Message) (status string, err error)
	// Unqueue removes the queued message runID of session key (its client message id and true),
	// or reports false.
	Unqueue(key, runID string) (messageID string, ok bool)
	// Active returns the id of session key's active run, or "".
	Active(key string) string
	// SenderOf returns who sent run runID of session key (running or queued), or false.
	SenderOf(key, runID string) (userID string, ok bool)
}

// Store records a conversation's activity and title.
type Store interface {
	UpdateConversation(ctx context.Context, c chat.Conversation) error
}

// SenderRecorder records who sent a message of a shared conversation (internal/store; issue 13).
type SenderRecorder interface {
	RecordSender(ctx context.Context, sessionKey, runID, userID, name string, at int64) error
}

// Publisher delivers events to a user's connections.
type Publisher interface {
	Publish(userID string, ev chat.Event) uint64
}

// Config configures a Service. Every field without "optional" is required.
type Config struct {
	Conversations Conversations
	Runs          Runs
	Policy        *policy.Enforcer
	Store         Store
	Publisher     Publisher
	// Gateway is the typed Gateway API with errors mapped for users (chat.abort).
	Gateway gateway.API
	// Watch adds an owner to a Gateway session's watchers (bridge/owners).
	Watch func(key, userID string)
	// Limits returns the Gateway's attachment bounds.
	Limits           func() Limits
	MaxTextBytes     int
	CommandAllowlist []string
	SendRate         rate.Limit
	SendBurst        int
	// OwnerIDs returns who is told about a policy drift.
	OwnerIDs func() []string
	Audit    func(ctx context.Context, u chat.User, action, target string, detail map[string]any)
	Now      func() time.Time
	Logger   *slog.Logger
	// Named is told of a conversation just named after its first message, with that message
	// (optional; bridge/titles asks the agent for a short title and labels the session).
	Named func(c chat.Conversation, text string)
}

// Service accepts messages.
type Service struct {
	cfg      Config
	limiters *ratelimit.Limiter
}

// New returns a Service.
func New(cfg Config) *Service {
	return &Service{cfg: cfg, limiters: ratelimit.New(ratelimit.Config{Rate: cfg.SendRate, Burst: cfg.SendBurst})} // idle users are evicted
}

// Limiters is the number of live per-user send limiters (idle ones are evicted).
func (s *Service) Limiters() int { return s.limiters.Len() }

func (s *Service) emitError(userID, code, msg, conv string) {
	s.cfg.Publisher.Publish(userID, chat.ErrorEvent{Code: code, Message: msg, Conversation: conv}.Event())
}

// checkAttachments bounds attachments by what the Gateway announced (Config.Limits).
func (s *Service) checkAttachments(atts []Attachment, textLen int) error {
	if len(atts) == 0 {
		return nil
	}
	l := s.cfg.Limits()
	total := int64(textLen)
	for _, a := range atts {
		n := int64(base64.StdEncoding.DecodedLen(len(a.Content)))
		total += int64(len(a.Content))
		if _, err := base64.StdEncoding.DecodeString(a.Content); err != nil {
			return fmt.Errorf("attachment %q is not valid base64: %w", a.Name, chat.ErrInvalid)
		}
		isImage := strings.HasPrefix(strings.ToLower(a.MimeType), "image/")
		if isImage && l.MaxImageBytes > 0 && n > l.MaxImageBytes {
			return fmt.Errorf("image %q is larger than %d bytes: %w", a.Name, l.MaxImageBytes, chat.ErrTooLarge)
		}
		if !isImage && l.MaxAttachmentBytes > 0 && n > l.MaxAttachmentBytes {
			return fmt.Errorf("attachment %q is larger than %d bytes: %w", a.Name, l.MaxAttachmentBytes, chat.ErrTooLarge)
		}
	}
	if l.MaxPayload > 0 && total+4096 > l.MaxPayload {
		return fmt.Errorf("message with attachments is larger than %d bytes: %w", l.MaxPayload, chat.ErrTooLarge)
	}
	return nil
}

// Send sends a message to one of u's conversations. When the conversation has a run going, the
// message is queued in clawchat (run.queued) and sent when that run ends (run.started), so every
// message gets its own run and reply. A retry with the same client id answers duplicate with the
// same runId and never runs twice. An owner's send to a Gateway session is audited.
func (s *Service) Send(ctx context.Context, u chat.User, p Params) (Result, error) {
	res, err := s.send(ctx, u, p)
	if conversations.GatewayAction(u, p.Conversation, err) {
		d := map[string]any{"ok": err == nil}
		if err == nil {
			d["runId"], d["status"] = res.RunID, res.Status
		}
		s.cfg.Audit(ctx, u, "gateway.send", p.Conversation, d)
	}
	return res, err
}

func (s *Service) send(ctx context.Context, u chat.User, p Params) (Result, error) {
	if len(p.Text) > s.cfg.MaxTextBytes {
		s.emitError(u.ID, "too_large", "message too long", p.Conversation)
		return Result{}, fmt.Errorf("message longer than %d bytes: %w", s.cfg.MaxTextBytes, chat.ErrTooLarge)
	}
	if strings.TrimSpace(p.Text) == "" && len(p.Attachments) == 0 {
		return Result{}, fmt.Errorf("message is empty: %w", chat.ErrInvalid)
	}
	if err := conversations.NoNUL("message", p.Text); err != nil { // the Gateway refuses them after the 202
		return Result{}, err
	}
	if p.ID != "" && !sessionkey.ValidClientID(p.ID) {
		return Result{}, fmt.Errorf("message id must match [A-Za-z0-9._:-]{1,128}: %w", chat.ErrInvalid)
	}
	convs := s.cfg.Conversations
	c, err := convs.Lookup(ctx, u, p.Conversation)
	if errors.Is(err, chat.ErrNotFound) && p.Create && chat.ValidConversationID(p.Conversation) {
		c, err = convs.CreateRow(ctx, u, conversations.CreateParams{ID: p.Conversation})
		if errors.Is(err, chat.ErrConflict) { // created concurrently
			c, err = convs.Lookup(ctx, u, p.Conversation)
		} else if err == nil {
			s.cfg.Publisher.Publish(u.ID, chat.ConversationCreated{ConversationView: convs.View(ctx, c)}.Event())
		}
	}
	if err != nil {
		return Result{}, err
	}
	if c.Role != "" && !c.Role.CanSend() {
		return Result{}, errReadOnly
	}
	if err := s.checkAttachments(p.Attachments, len(p.Text)); err != nil {
		s.emitError(u.ID, "too_large", "attachment too large", c.ID)
		return Result{}, err
	}
	clientID := p.ID
	if clientID == "" {
		clientID = sessionkey.RandomHex(12)
	}
	runID := sessionkey.IdempotencyKey(u.ID, c.SessionKey, clientID)

	// Duplicate check before the rate limit, so a retry is never refused.
	if s.cfg.Runs.Duplicate(runID, c.SessionKey) {
		return Result{RunID: runID, Status: runs.StatusDuplicate}, nil
	}
	if !s.limiters.Allow(u.ID) {
		s.emitError(u.ID, "rate_limited", "sending too fast; wait a moment", c.ID)
		return Result{}, fmt.Errorf("sending too fast: %w", chat.ErrRateLimited)
	}

	m := runs.Message{RunID: runID, MessageID: clientID, Text: p.Text, Sender: u, AgentContext: p.AgentContext}
	for _, a := range p.Attachments {
		m.Attachments = append(m.Attachments, gateway.ChatAttachment{FileName: a.Name, MimeType: a.MimeType, Content: a.Content})
	}
	gw := conversations.IsGateway(c)
	if !u.IsOwner() {
		m.Suppress = !policy.IsAllowedCommand(p.Text, s.cfg.CommandAllowlist)
	}
	// The session policy is the most restrictive of the participants' roles: a member's send, and
	// every send in a conversation shared with a member, runs under the member policy.
	if !gw && (!u.IsOwner() || s.cfg.Conversations.MemberPolicyApplies(ctx, c)) {
		pol := s.cfg.Policy.ForMember(c.AgentID)
		m.Policy = &pol
	}
	if (m.Suppress || m.Policy != nil || m.AgentContext != "") && !s.cfg.Policy.CanSuppress() {
		s.emitError(u.ID, "unavailable", upstream.UserMessage(policy.ErrNoAdmin), c.ID)
		return Result{}, policy.ErrNoAdmin
	}
	if gw {
		s.cfg.Watch(c.SessionKey, u.ID)
	}
	status, err := s.cfg.Runs.Submit(ctx, runs.Target{Key: c.SessionKey, UserID: u.ID, ConvID: c.ID}, m)
	switch {
	case errors.Is(err, runs.ErrQueueFull):
		s.emitError(u.ID, "limit_reached", "too many queued messages in this conversation", c.ID)
		return Result{}, err
	case errors.Is(err, runs.ErrTooManyRuns):
		s.emitError(u.ID, "limit_reached", "too many replies running at once; wait for one to finish", c.ID)
		return Result{}, err
	case err != nil:
		return Result{}, err
	}
	if c.Shared {
		if rec, ok := s.cfg.Store.(SenderRecorder); ok {
			name := u.Name
			if name == "" {
				name = u.ID
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := rec.RecordSender(rctx, c.SessionKey, runID, u.ID, name, s.cfg.Now().UnixMilli()); err != nil {
				s.cfg.Logger.Warn("sender of a shared conversation's message not recorded; history shows it without a name", "err", err)
			}
			cancel()
		}
	}
	if status != runs.StatusQueued {
		s.touch(ctx, c, p.Text)
	}
	return Result{RunID: runID, Status: status}, nil
}

// ChatSend is the run tracker's chat.send (runs.Config.Send): m in session key under run runID,
// conditional on its session policy (bridge/policy); a drifted policy is refused and the owners
// and the audit log are told. Errors other than policy refusals are the Upstream's own.
func (s *Service) ChatSend(ctx context.Context, key, runID, userID string, m *runs.Message) (*gateway.ChatSendResult, error) {
	p := s.cfg.Policy.Params(key, runID, m.Text, m.Attachments, m.Sender, m.Suppress, m.Policy)
	if m.AgentContext != "" && p.SystemProvenanceReceipt != "" {
		// After the sender line, before the message: what the agent reads; the transcript keeps
		// only the message (docs/embed.md "Context injection").
		p.SystemProvenanceReceipt += "\n\n" + m.AgentContext
	}
	return s.cfg.Policy.Send(ctx, p, m.Policy, func() { s.policyDrift(ctx, key, userID, m) })
}

// policyDrift tells the owners and the audit log that m's session policy drifted.
func (s *Service) policyDrift(ctx context.Context, key, userID string, m *runs.Message) {
	agent := sessionkey.AgentOf(key)
	s.cfg.Logger.Warn("refused a member's send: the session's policy was changed outside clawchat",
		"user_id", userID, "agent_id", agent, "expected_mode", m.Policy.Mode)
	s.cfg.Audit(ctx, m.Sender, "policy.drift", key, map[string]any{"expectedMode": m.Policy.Mode})
	ev := chat.PolicyDrift{
		User: userID, AgentID: agent, Expected: m.Policy.Mode,
		Message: "A member's conversation was refused: its Gateway session's permission settings were changed outside clawchat (for example in the Control UI). clawchat never runs a member's message under changed settings.",
	}.Event()
	for _, o := range s.cfg.OwnerIDs() {
		s.cfg.Publisher.Publish(o, ev)
	}
}

// touch records activity on c; a conversation without a title is named after its first message
// (what users expect from a chat list), and its owner's clients learn the new title.
func (s *Service) touch(ctx context.Context, c chat.Conversation, text string) {
	if conversations.IsGateway(c) {
		return
	}
	c.LastActivityAt = s.cfg.Now().UTC()
	named := false
	if c.Title == "" {
		if c.Title = titleFrom(text); c.Title != "" {
			c.UpdatedAt, named = c.LastActivityAt, true
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second) // the send is accepted: record it even if the request ends
	defer cancel()
	if err := s.cfg.Store.UpdateConversation(ctx, c); err != nil {
		s.cfg.Logger.Debug("touch conversation", "err", err)
		return
	}
	if named {
		s.cfg.Publisher.Publish(c.UserID, chat.ConversationUpdated{ConversationView: s.cfg.Conversations.View(ctx, c)}.Event())
		if s.cfg.Named != nil {
			s.cfg.Named(c, text)
		}
	}
}

// titleFrom makes a conversation title from a message: its first non-empty line, spaces folded,
// at most 60 characters (cut at a word when possible).
func titleFrom(text string) string {
	var line string
	for l := range strings.SplitSeq(text, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			line = l
			break
		}
	}
	const maxRunes = 60
	r := []rune(line)
	if len(r) <= maxRunes {
		return line
	}
	cut := string(r[:maxRunes])
	if i := strings.LastIndexByte(cut, ' '); i > maxRunes/2 {
		cut = cut[:i]
	}
	return cut + "…"
}

var (
	errReadOnly  = chat.Public(chat.ErrForbidden, "read-only participants cannot send")
	errNotSender = chat.Public(chat.ErrForbidden, "only its sender or the conversation's owner can stop this reply")
)

// Abort stops u's run in a conversation: runID when given (a queued message is removed from the
// queue), else the conversation's active run. It reports whether something was stopped. An
// owner's abort in a Gateway session is audited.
func (s *Service) Abort(ctx context.Context, u chat.User, conversation, runID string) (bool, error) {
	aborted, err := s.abort(ctx, u, conversation, runID)
	if conversations.GatewayAction(u, conversation, err) {
		s.cfg.Audit(ctx, u, "gateway.abort", conversation, map[string]any{"ok": err == nil, "runId": runID, "aborted": aborted})
	}
	return aborted, err
}

func (s *Service) abort(ctx context.Context, u chat.User, conversation, runID string) (bool, error) {
	c, err := s.cfg.Conversations.Lookup(ctx, u, conversation)
	if err != nil {
		return false, err
	}
	if c.Shared && c.Role != chat.ShareOwner {
		// In a shared conversation a turn is stopped by whoever sent it, or by the owner.
		id := runID
		if id == "" {
			id = s.cfg.Runs.Active(c.SessionKey)
		}
		if sender, ok := s.cfg.Runs.SenderOf(c.SessionKey, id); id != "" && (!ok || sender != u.ID) {
			return false, errNotSender
		}
	}
	if runID != "" {
		if messageID, ok := s.cfg.Runs.Unqueue(c.SessionKey, runID); ok {
			s.cfg.Publisher.Publish(u.ID, chat.RunAborted{Conversation: c.ID, RunID: runID, MessageID: messageID, Text: ""}.Event())
			return true, nil
		}
	}
	if runID == "" {
		runID = s.cfg.Runs.Active(c.SessionKey)
	}
	if runID == "" && conversations.IsGateway(c) {
		return false, nil // never abort someone else's run in a Gateway session without its id
	}
	res, err := s.cfg.Gateway.ChatAbort(ctx, gateway.ChatAbortParams{SessionKey: c.SessionKey, RunID: runID})
	if err != nil {
		return false, err
	}
	return res.Aborted, nil
}
