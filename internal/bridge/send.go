package bridge

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Attachment is a file sent with a message; Content is base64.
type Attachment struct {
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
	Content  string `json:"content"`
}

// SendParams is one message from a client.
type SendParams struct {
	Conversation string
	ID           string // client message id; retries with the same id never run twice
	Text         string
	Attachments  []Attachment
	// Create makes the conversation when u does not have it yet (REST send semantics).
	Create bool
}

// Send statuses.
const (
	StatusStarted   = "started"
	StatusQueued    = "queued"
	StatusDuplicate = "duplicate"
)

// SendResult is the answer to a send.
type SendResult struct {
	RunID  string `json:"runId"`
	Status string `json:"status"` // started | queued | duplicate
}

func (s *Service) checkAttachments(atts []Attachment, textLen int) error {
	if len(atts) == 0 {
		return nil
	}
	l := s.gatewayLimits()
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
// same runId and never runs twice.
func (s *Service) Send(ctx context.Context, u chat.User, p SendParams) (SendResult, error) {
	res, err := s.send(ctx, u, p)
	if gatewayAction(u, p.Conversation, err) {
		d := map[string]any{"ok": err == nil}
		if err == nil {
			d["runId"], d["status"] = res.RunID, res.Status
		}
		s.audit(ctx, u, "gateway.send", p.Conversation, d)
	}
	return res, err
}

func (s *Service) send(ctx context.Context, u chat.User, p SendParams) (SendResult, error) {
	if len(p.Text) > s.cfg.MaxTextBytes {
		s.emitError(u.ID, "too_large", "message too long", p.Conversation)
		return SendResult{}, fmt.Errorf("message longer than %d bytes: %w", s.cfg.MaxTextBytes, chat.ErrTooLarge)
	}
	if strings.TrimSpace(p.Text) == "" && len(p.Attachments) == 0 {
		return SendResult{}, fmt.Errorf("message is empty: %w", chat.ErrInvalid)
	}
	if err := noNUL("message", p.Text); err != nil { // the Gateway refuses them after the 202
		return SendResult{}, err
	}
	if p.ID != "" && !clientIDRe.MatchString(p.ID) {
		return SendResult{}, fmt.Errorf("message id must match [A-Za-z0-9._:-]{1,128}: %w", chat.ErrInvalid)
	}
	c, err := s.lookup(ctx, u, p.Conversation)
	if errors.Is(err, chat.ErrNotFound) && p.Create && chat.ValidConversationID(p.Conversation) {
		c, err = s.create(ctx, u, CreateParams{ID: p.Conversation})
		if errors.Is(err, chat.ErrConflict) { // created concurrently
			c, err = s.lookup(ctx, u, p.Conversation)
		} else if err == nil {
			s.cfg.Publisher.Publish(u.ID, chat.ConversationCreated{ConversationView: s.view(c)}.Event())
		}
	}
	if err != nil {
		return SendResult{}, err
	}
	if err := s.checkAttachments(p.Attachments, len(p.Text)); err != nil {
		s.emitError(u.ID, "too_large", "attachment too large", c.ID)
		return SendResult{}, err
	}
	clientID := p.ID
	if clientID == "" {
		clientID = randomHex(12)
	}
	runID := idempotencyKey(u.ID, c.SessionKey, clientID)

	// Duplicate check before the rate limit, so a retry is never refused.
	s.mu.Lock()
	if r := s.runs[runID]; r != nil {
		s.mu.Unlock()
		return SendResult{RunID: runID, Status: StatusDuplicate}, nil
	}
	if _, ok := s.recent[runID]; ok {
		s.mu.Unlock()
		return SendResult{RunID: runID, Status: StatusDuplicate}, nil
	}
	if cs := s.convs[c.SessionKey]; cs != nil {
		for _, q := range cs.queue {
			if q.runID == runID {
				s.mu.Unlock()
				return SendResult{RunID: runID, Status: StatusDuplicate}, nil
			}
		}
	}
	s.mu.Unlock()

	if !s.limiters.Allow(u.ID) {
		s.emitError(u.ID, "rate_limited", "sending too fast; wait a moment", c.ID)
		return SendResult{}, fmt.Errorf("sending too fast: %w", chat.ErrRateLimited)
	}

	q := queued{runID: runID, messageID: clientID, text: p.Text, atts: p.Attachments, sender: u}
	if !u.IsOwner() {
		q.suppress = !isAllowedCommand(p.Text, s.cfg.CommandAllowlist)
	}
	if !u.IsOwner() && !isGateway(c) {
		pol := s.memberPolicy(c.AgentID)
		q.policy = &pol
	}
	if (q.suppress || q.policy != nil) && !s.canSuppress() {
		s.emitError(u.ID, "unavailable", userMessage(errNoAdmin), c.ID)
		return SendResult{}, errNoAdmin
	}

	s.mu.Lock()
	if isGateway(c) {
		s.watchLocked(c.SessionKey, u.ID)
	}
	cs := s.convs[c.SessionKey]
	if cs == nil {
		cs = &convState{key: c.SessionKey, userID: u.ID, convID: c.ID}
		s.convs[c.SessionKey] = cs
	}
	if cs.active != nil || len(cs.queue) > 0 {
		if len(cs.queue) >= s.cfg.MaxQueued {
			s.mu.Unlock()
			s.emitError(u.ID, "limit_reached", "too many queued messages in this conversation", c.ID)
			return SendResult{}, fmt.Errorf("at most %d queued messages per conversation: %w", s.cfg.MaxQueued, chat.ErrLimitReached)
		}
		cs.queue = append(cs.queue, q)
		pos := len(cs.queue)
		s.mu.Unlock()
		s.cfg.Publisher.Publish(u.ID, chat.RunQueued{
			Conversation: c.ID, MessageID: clientID, RunID: runID, Position: pos, Text: p.Text,
		}.Event())
		return SendResult{RunID: runID, Status: StatusQueued}, nil
	}
	if s.userRuns[u.ID] >= s.cfg.MaxConcurrentRuns {
		s.mu.Unlock()
		s.emitError(u.ID, "limit_reached", "too many replies running at once; wait for one to finish", c.ID)
		return SendResult{}, fmt.Errorf("at most %d runs at once: %w", s.cfg.MaxConcurrentRuns, chat.ErrLimitReached)
	}
	r := s.startRunLocked(cs, q)
	s.mu.Unlock()

	// Accepted: from here the send does not depend on the caller's connection (runstate.go).
	sctx, cancel := s.sendContext(ctx)
	defer cancel()
	status, err := s.dispatch(sctx, r, q)
	if err != nil {
		return SendResult{}, err
	}
	s.touch(ctx, c, p.Text)
	return SendResult{RunID: runID, Status: status}, nil
}

// startRunLocked registers q as cs's active run and announces it; s.mu held.
func (s *Service) startRunLocked(cs *convState, q queued) *run {
	now := s.cfg.Now()
	r := &run{
		id: q.runID, key: cs.key, userID: cs.userID, convID: cs.convID, messageID: q.messageID, sender: q.sender.Name,
		tools: map[string]*toolState{}, started: now, lastEvent: now, msg: &q,
	}
	cs.active = r
	s.runs[r.id] = r
	s.userRuns[r.userID]++
	// Published under s.mu so that run.started precedes every event of the run.
	s.announceLocked(r, &q.text)
	return r
}

// dispatch sends an already-registered run to the Gateway. On failure the run ends with run.error.
func (s *Service) dispatch(ctx context.Context, r *run, q queued) (string, error) {
	var ack gateway.ChatSendResult
	err := s.sendChecked(ctx, r, q, &ack)
	if err != nil && answerLost(ctx, err) {
		// Written, but the answer was lost: the Gateway may have it. The run stays; the
		// reconciliation after the reconnect (or right away, when connected) settles it.
		s.log.Info("chat.send answer lost; reconciling", "run", r.id, "err", err)
		s.mu.Lock()
		r.unknown = true
		connected := s.gwState == StateConnected
		s.mu.Unlock()
		if connected {
			s.goBackground(func() { s.reconcileRun(s.base, r.id) })
		}
		return StatusStarted, nil
	}
	if err != nil && s.renew(ctx, r, q, err) {
		return StatusStarted, nil // the Gateway refused a message it had lost: sent as a new turn
	}
	if err != nil {
		if !isChatError(err) { // the member-policy refusals are already phrased for the user
			err = s.mapUpstreamError(ctx, gateway.MethodChatSend, err)
		}
		s.failSend(r, err)
		return "", err
	}
	s.mu.Lock()
	r.sent, r.unknown = true, false
	resent := r.resent
	s.mu.Unlock()
	if resent {
		s.log.Info("lost message sent again", "run", r.id, "status", ack.Status)
	}
	switch ack.Status {
	case "in_flight", "ok":
		// The Gateway already has this message (a retry after a restart of clawchat).
		if ack.Status == "ok" {
			// It finished already: its reply is in history; resolve the run from there.
			s.goBackground(func() { s.reconcileRun(s.base, r.id) })
		}
		return StatusDuplicate, nil
	}
	return StatusStarted, nil
}

// sendParams is q's chat.send request (docs/security.md "Members and the agent's tools").
func (s *Service) sendParams(r *run, q queued) gateway.ChatSendParams {
	p := gateway.ChatSendParams{
		SessionKey: r.key, Message: q.text, IdempotencyKey: r.id,
		SuppressCommandInterpretation: q.suppress,
	}
	for _, a := range q.atts {
		p.Attachments = append(p.Attachments, gateway.ChatAttachment{FileName: a.Name, MimeType: a.MimeType, Content: a.Content})
	}
	if s.canSuppress() && q.sender.ID != "" {
		// Identity for the agent: admin-only fields, so only sent when the scope is there.
		p.SystemInputProvenance = &gateway.InputProvenance{Kind: "external_user", SourceChannel: "clawchat"}
		p.SystemProvenanceReceipt = senderReceipt(q.sender)
	}
	if q.policy != nil {
		mode := q.policy.Mode
		p.ExpectedPermissionMode = &mode
		p.ExpectedToolOverrides = &gateway.ToolOverridesOrNone{V: q.policy.Tools}
	}
	return p
}

// sendOnce is one chat.send; its error is the Upstream's own (unmapped).
func (s *Service) sendOnce(ctx context.Context, p gateway.ChatSendParams, ack *gateway.ChatSendResult) error {
	res, err := s.rawGW.ChatSend(ctx, p)
	if err == nil && ack != nil {
		*ack = *res
	}
	return err
}

// sendChecked sends q, conditional on its session policy. A session without any policy gets it
// and the send is tried once more; a session whose policy differs is refused (errPolicyDrift) and
// the owners are told. Policy refusals come back as chat sentinels phrased for the user; any
// other error is the Upstream's own (dispatch tells lost answers and refusals apart, then maps).
func (s *Service) sendChecked(ctx context.Context, r *run, q queued, ack *gateway.ChatSendResult) error {
	params := s.sendParams(r, q)
	err := s.sendOnce(ctx, params, ack)
	if err != nil && q.policy != nil && isSettingsChanged(err) {
		var st policyState
		if st, err = s.sessionPolicy(ctx, r.key, *q.policy); err != nil {
			return err
		}
		if st == policyDrifted {
			s.policyDrift(ctx, r, q)
			return errPolicyDrift
		}
		if st == policyUnset {
			if err := s.applyPolicy(ctx, r.key, *q.policy); err != nil {
				return err
			}
		}
		err = s.sendOnce(ctx, params, ack)
		if err != nil && isSettingsChanged(err) {
			s.policyDrift(ctx, r, q)
			return errPolicyDrift
		}
	}
	if err != nil && (q.suppress || q.policy != nil) && isAdminRefused(err) {
		s.log.Error("the Gateway refused a member's send for lack of operator.admin; members cannot send until clawchat's connection holds it", "err", err)
		return errNoAdmin
	}
	return err
}

// isChatError reports whether err already carries a chat sentinel (and a message for the user).
func isChatError(err error) bool {
	for _, e := range []error{chat.ErrForbidden, chat.ErrUnavailable, chat.ErrInvalid, chat.ErrNotFound, chat.ErrConflict, chat.ErrTooLarge, chat.ErrLimitReached, chat.ErrRateLimited} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// PolicyDrift is the policy.drift payload owners get when a member's conversation was refused
// because its Gateway session's policy was changed outside clawchat.
type PolicyDrift = chat.PolicyDrift

// policyDrift tells the owners and the audit log that q's session policy drifted.
func (s *Service) policyDrift(ctx context.Context, r *run, q queued) {
	agent := agentOfKey(r.key)
	s.log.Warn("refused a member's send: the session's policy was changed outside clawchat",
		"user_id", r.userID, "agent_id", agent, "expected_mode", q.policy.Mode)
	s.audit(ctx, q.sender, "policy.drift", r.key, map[string]any{"expectedMode": q.policy.Mode})
	ev := PolicyDrift{
		User: r.userID, AgentID: agent, Expected: q.policy.Mode,
		Message: "A member's conversation was refused: its Gateway session's permission settings were changed outside clawchat (for example in the Control UI). clawchat never runs a member's message under changed settings.",
	}.Event()
	for _, o := range s.ownerIDs() {
		s.cfg.Publisher.Publish(o, ev)
	}
}

// agentOfKey is the agent id of a session key agent:<id>:….
func agentOfKey(key string) string {
	rest, _ := strings.CutPrefix(key, "agent:")
	id, _, _ := strings.Cut(rest, ":")
	return id
}

func userMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i > 0 && (errors.Is(err, chat.ErrUnavailable) || errors.Is(err, chat.ErrConflict) || errors.Is(err, chat.ErrForbidden)) {
		return msg[:i]
	}
	return "the message could not be sent"
}

// touch records activity on c; a conversation without a title is named after its first message
// (what users expect from a chat list), and its owner's clients learn the new title.
func (s *Service) touch(ctx context.Context, c chat.Conversation, text string) {
	if isGateway(c) {
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
		s.log.Debug("touch conversation", "err", err)
		return
	}
	if named {
		s.cfg.Publisher.Publish(c.UserID, chat.ConversationUpdated{ConversationView: s.view(c)}.Event())
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

// endRunLocked forgets r; it reports false when r had already ended. s.mu held.
func (s *Service) endRunLocked(r *run) bool {
	if s.runs[r.id] != r {
		return false
	}
	delete(s.runs, r.id)
	s.recent[r.id] = recentRun{at: s.cfg.Now(), userID: r.userID, conv: r.convID}
	if s.userRuns[r.userID]--; s.userRuns[r.userID] <= 0 {
		delete(s.userRuns, r.userID)
	}
	if cs := s.convs[r.key]; cs != nil && cs.active == r {
		cs.active = nil
		s.promoteLocked(r.key)
		if cs.active == nil && len(cs.queue) == 0 {
			delete(s.convs, r.key)
		}
	}
	return true
}

// next starts the first queued message of the conversation, if any, in the background.
func (s *Service) next(key string) {
	s.mu.Lock()
	cs := s.convs[key]
	if cs == nil || cs.active != nil || len(cs.queue) == 0 {
		s.mu.Unlock()
		return
	}
	q := cs.queue[0]
	cs.queue = cs.queue[1:]
	r := s.startRunLocked(cs, q)
	s.mu.Unlock()
	s.goBackground(func() {
		ctx, cancel := s.sendContext(s.base)
		defer cancel()
		if _, err := s.dispatch(ctx, r, q); err != nil {
			s.log.Warn("queued send failed", "err", err)
		}
	})
}

// Abort stops u's run in a conversation: runID when given (a queued message is removed from the
// queue), else the conversation's active run. It reports whether something was stopped.
func (s *Service) Abort(ctx context.Context, u chat.User, conversation, runID string) (bool, error) {
	aborted, err := s.abort(ctx, u, conversation, runID)
	if gatewayAction(u, conversation, err) {
		s.audit(ctx, u, "gateway.abort", conversation, map[string]any{"ok": err == nil, "runId": runID, "aborted": aborted})
	}
	return aborted, err
}

func (s *Service) abort(ctx context.Context, u chat.User, conversation, runID string) (bool, error) {
	c, err := s.lookup(ctx, u, conversation)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	cs := s.convs[c.SessionKey]
	if cs != nil && runID != "" {
		for i, q := range cs.queue {
			if q.runID == runID {
				cs.queue = append(cs.queue[:i:i], cs.queue[i+1:]...)
				s.mu.Unlock()
				s.cfg.Publisher.Publish(u.ID, chat.RunAborted{
					Conversation: c.ID, RunID: runID, MessageID: q.messageID, Text: "",
				}.Event())
				return true, nil
			}
		}
	}
	if runID == "" && cs != nil && cs.active != nil {
		runID = cs.active.id
	}
	s.mu.Unlock()
	if runID == "" && isGateway(c) {
		return false, nil // never abort someone else's run in a Gateway session without its id
	}
	res, err := s.gw.ChatAbort(ctx, gateway.ChatAbortParams{SessionKey: c.SessionKey, RunID: runID})
	if err != nil {
		return false, err
	}
	return res.Aborted, nil
}

// gatewayAction reports whether an owner's call on conversation is an authorized action on a
// Gateway session (a gw: id), which is audited whatever its outcome. Refusals that the id did not
// pass (not found) are not audited: nothing reached the Gateway.
func gatewayAction(u chat.User, conversation string, err error) bool {
	if !u.IsOwner() || errors.Is(err, chat.ErrNotFound) {
		return false
	}
	_, ok := parseGatewayID(conversation)
	return ok
}
