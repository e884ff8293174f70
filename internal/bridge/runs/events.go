package runs

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/clawchat/clawchat/internal/bridge/approvals"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// HandleChat translates one Gateway chat event for the owner of its session (routeRun, onChat).
// Events of sessions nobody may see are dropped; raw payloads are never forwarded. It is called
// from the Gateway client's single event goroutine, in order, and hands the event to
// Config.Order, which runs it at once or on a worker of its session (bridge/ordered).
func (s *Tracker) HandleChat(payload json.RawMessage) {
	var p gateway.ChatEvent
	if gateway.UnmarshalChatEvent(payload, &p) != nil || p.RunID == "" || p.SessionKey == "" {
		return
	}
	reopen := p.State == "delta" || (p.State == "final" && len(p.Message) > 0 && string(p.Message) != "null")
	key := strings.ToLower(p.SessionKey)
	s.ordered(key, p.RunID, func() {
		if r := s.routeRun(p.RunID, key, reopen); r != nil {
			s.onChat(r, &p)
		}
	}, func() {
		// p.Message points into payload (UnmarshalChatEvent): a deferred event keeps a copy.
		p.Message = append(json.RawMessage(nil), p.Message...)
	})
}

// HandleAgent translates one Gateway agent event (reasoning, tools, usage, approval notices) for
// the owner of its session, like HandleChat.
func (s *Tracker) HandleAgent(payload json.RawMessage) {
	var p gateway.AgentEvent
	if json.Unmarshal(payload, &p) != nil || p.RunID == "" || p.SessionKey == "" {
		return
	}
	key := strings.ToLower(p.SessionKey)
	s.ordered(key, p.RunID, func() {
		if r := s.routeRun(p.RunID, key, false); r != nil {
			s.onAgent(r, &p)
		}
	}, nil)
}

// owners returns who may see events of key: the conversation's owner for clawchat keys, the
// owners watching a gateway session otherwise (bridge/owners).
func (s *Tracker) owners(key string) (convID string, users []string) {
	if isOwnNamespace(key) {
		s.mu.Lock()
		cs := s.convs[key]
		s.mu.Unlock()
		if cs != nil {
			return cs.convID, []string{cs.userID}
		}
	}
	return s.ownersOf.Resolve(key)
}

// routeRun returns the tracked run for runID, adopting a run started elsewhere (another clawchat
// instance, a channel, a follow-up turn) when its session has an owner here. Gateway sessions are
// delivered to one watching owner (the first found) to keep run state single-owner.
//
// With reopen (a chat delta, or a final with its message), a run that clawchat ended by inference
// without a reply is brought back (reopenLocked).
func (s *Tracker) routeRun(runID, key string, reopen bool) *run {
	s.mu.Lock()
	if r := s.runs[runID]; r != nil {
		if r.key != key { // a run id never moves between sessions; refuse to cross-deliver
			s.mu.Unlock()
			return nil
		}
		r.lastEvent = s.cfg.Now()
		s.mu.Unlock()
		return r
	}
	if rr, ended := s.recent[runID]; ended {
		if reopen && rr.inferred && rr.end != nil && rr.end.event() != "run.final" && isOwnNamespace(key) {
			r := s.reopenLocked(runID, key)
			s.mu.Unlock()
			return r
		}
		s.mu.Unlock()
		return nil // trailing events after final/aborted/error
	}
	s.mu.Unlock()
	convID, users := s.owners(key)
	if len(users) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.runs[runID]; r != nil {
		return r
	}
	cs := s.convs[key]
	if cs == nil {
		cs = &convState{key: key, userID: users[0], convID: convID}
		s.convs[key] = cs
	}
	if cs.active != nil {
		// Another run in the same session (e.g. a Gateway follow-up) while ours runs: track it too,
		// but it does not become the conversation's active run.
		r := &run{id: runID, key: key, userID: cs.userID, convID: cs.convID, tools: map[string]*toolState{}, started: s.cfg.Now(), lastEvent: s.cfg.Now(), sent: true}
		s.runs[runID] = r
		s.userRuns[r.userID]++
		return r
	}
	r := &run{id: runID, key: key, userID: cs.userID, convID: cs.convID, tools: map[string]*toolState{}, started: s.cfg.Now(), lastEvent: s.cfg.Now(), sent: true}
	cs.active = r
	s.runs[runID] = r
	s.userRuns[r.userID]++
	s.announceLocked(r, nil)
	return r
}

// publishRun sends a run event (built with r's conversation and run id) to the run's user, unless
// the run is in a Gateway session and the user is no longer an owner (checked at every delivery:
// issue 16).
func (s *Tracker) publishRun(r *run, ev chat.Event) {
	if !s.deliverable(r) {
		return
	}
	s.cfg.Publisher.Publish(r.userID, ev)
}

func (s *Tracker) onChat(r *run, p *gateway.ChatEvent) {
	switch p.State {
	case "status":
		if p.Phase != "" {
			s.publishRun(r, chat.RunStatus{Conversation: r.convID, RunID: r.id, Phase: p.Phase}.Event())
		}
	case "delta":
		// "rev" numbers the run's text changes, so a client that also got a run.snapshot (which
		// carries the rev it reflects) can drop deltas the snapshot already holds.
		prev, next, replace, rev := s.applyDelta(r, p)
		if replace {
			s.publishRun(r, chat.RunDelta{Conversation: r.convID, RunID: r.id, Text: next, Replace: true, Rev: rev}.Event())
		} else if inc := next[len(prev):]; inc != "" && strings.HasPrefix(next, prev) {
			s.publishRun(r, chat.RunDelta{Conversation: r.convID, RunID: r.id, Text: inc, Rev: rev}.Event())
		}
		if len(p.Usage) > 0 {
			s.publishUsage(r, p.Usage)
		}
	case "final":
		text, ok := gateway.SnapshotText(p.Message)
		s.mu.Lock()
		if !ok {
			text = r.text
		}
		bare := !ok && text == "" && len(r.tools) == 0
		if bare {
			r.bare = true
		}
		s.mu.Unlock()
		if bare {
			// A final without message or text: the Gateway merged this message into another turn
			// or parked it behind one. It is not "the complete reply"; history says where the
			// reply is (runstate.go).
			s.goBackground(func() { s.reconcileRun(s.base, r.id) })
			return
		}
		s.finish(r, chat.RunFinal{Text: text, Usage: usageOf(p.Usage), StopReason: p.StopReason})
	case "aborted":
		text, ok := gateway.SnapshotText(p.Message)
		if !ok {
			s.mu.Lock()
			text = r.text
			s.mu.Unlock()
		}
		s.finish(r, chat.RunAborted{Text: text})
	case "error":
		msg := p.ErrorMessage
		if msg == "" {
			msg = "the assistant failed to reply"
		}
		s.mu.Lock()
		partial := r.text
		s.mu.Unlock()
		s.finish(r, chat.RunError{Message: truncate(msg, maxErrorMessage), Text: &partial, Kind: p.ErrorKind})
	}
}

// applyDelta applies a delta event to the run text by the rule of openclaw-protocol.md §4.2 and
// returns the text before and after, and whether clients must replace their text:
//
//	deltaText absent            → the snapshot's text, replace
//	replace                     → deltaText, replace
//	no text yet, snapshot       → the snapshot's text
//	snapshot ≠ prev + deltaText → the snapshot's text, replace (resync)
//	otherwise                   → prev + deltaText
//
// The common case (the snapshot is exactly prev+deltaText) is proven by gateway.SnapshotIs without
// decoding the snapshot, and the text grows in place (appendText), so a run of n deltas costs
// O(total snapshot bytes) instead of O(n) decodes and O(n²) copies. Every other case decodes the
// snapshot with gateway.SnapshotText as before; a final always takes its snapshot's text. The decision is
// made outside s.mu and committed only if a reconcile did not change the text meanwhile.
func (s *Tracker) applyDelta(r *run, p *gateway.ChatEvent) (prev, next string, replace bool, rev uint64) {
	for {
		s.mu.Lock()
		prev = r.text
		s.mu.Unlock()
		next, replace = "", false
		appendDelta := false
		switch {
		case p.DeltaText == nil:
			next, _ = gateway.SnapshotText(p.Message)
			replace = true
		case p.Replace:
			next, replace = *p.DeltaText, true
		case gateway.SnapshotIs(p.Message, prev, *p.DeltaText):
			appendDelta = true
		default:
			d := *p.DeltaText
			snap, hasSnap := gateway.SnapshotText(p.Message)
			switch {
			case prev == "" && hasSnap:
				next = snap
			case hasSnap && !(len(snap)-len(d) == len(prev) && strings.HasPrefix(snap, prev) && strings.HasSuffix(snap, d)):
				next, replace = snap, true
			default:
				appendDelta = true
			}
		}
		s.mu.Lock()
		if r.text != prev { // a reconcile replaced the text meanwhile (rare): decide again
			s.mu.Unlock()
			continue
		}
		if appendDelta {
			r.appendText(*p.DeltaText)
		} else {
			r.setText(next)
		}
		next, rev = r.text, r.textRev
		s.mu.Unlock()
		return prev, next, replace, rev
	}
}

func (s *Tracker) publishUsage(r *run, raw json.RawMessage) {
	if u := usageOf(raw); u != nil {
		s.publishRun(r, chat.RunUsage{Conversation: r.convID, RunID: r.id, Input: u.Input, Output: u.Output, Cost: u.Cost}.Event())
	}
}

func (s *Tracker) onAgent(r *run, p *gateway.AgentEvent) {
	switch p.Stream {
	case "thinking":
		var d struct {
			Text  string  `json:"text"`
			Delta *string `json:"delta"`
		}
		if json.Unmarshal(p.Data, &d) != nil {
			return
		}
		s.mu.Lock()
		var inc string
		if d.Delta != nil {
			inc = *d.Delta
			r.reasoning += inc
		} else if strings.HasPrefix(d.Text, r.reasoning) {
			inc = d.Text[len(r.reasoning):]
			r.reasoning = d.Text
		}
		s.mu.Unlock()
		if inc != "" {
			s.publishRun(r, chat.RunReasoning{Conversation: r.convID, RunID: r.id, Text: inc}.Event())
		}
	case "usage":
		s.publishUsage(r, p.Data)
	case "tool", "item":
		s.onTool(r, p)
	case "approval":
		s.onRunApproval(r, p)
	}
}

var approvalStatusRe = regexp.MustCompile(`^[a-z_-]{1,32}$`)

// onRunApproval turns the in-stream approval notice of a run (agent stream "approval", phase
// requested/resolved) into a run.tool entry named "exec approval" for the run's conversation
// owner, so the chat shows that the run waits for (or got) a decision. It carries no command, host
// or path: the command itself is shown to owners only, through approval.requested.
func (s *Tracker) onRunApproval(r *run, p *gateway.AgentEvent) {
	var d struct {
		Phase      string `json:"phase"`
		Kind       string `json:"kind"`
		Status     string `json:"status"`
		ApprovalID string `json:"approvalId"`
		ItemID     string `json:"itemId"`
		ToolCallID string `json:"toolCallId"`
	}
	if json.Unmarshal(p.Data, &d) != nil || (d.Kind != "" && d.Kind != "exec") {
		return
	}
	id := d.ApprovalID
	if id == "" {
		id = d.ItemID
	}
	if id == "" {
		id = d.ToolCallID
	}
	if !approvals.ValidID(id) {
		return
	}
	status := d.Status
	if !approvalStatusRe.MatchString(status) {
		status = ""
	}
	t := toolEvent{Name: "exec approval", ToolCallID: "approval:" + id}
	switch d.Phase {
	case "requested":
		t.Phase = "start"
	case "resolved":
		t.Phase, t.IsError, t.resultText = "result", status == "denied" || status == "failed" || status == "unavailable", status
	default:
		return
	}
	s.applyTool(r, "tool", t)
}

// toolEvent is the data of an agent event of stream tool or item. resultText, when set, is the
// result preview as is (an approval's status) instead of one read from Result.
type toolEvent struct {
	Phase      string          `json:"phase"`
	Kind       string          `json:"kind"`
	Name       string          `json:"name"`
	ToolCallID string          `json:"toolCallId"`
	Args       json.RawMessage `json:"args"`
	Result     json.RawMessage `json:"result"`
	IsError    bool            `json:"isError"`
	Status     string          `json:"status"`
	Error      json.RawMessage `json:"error"`
	resultText string
}

func (s *Tracker) onTool(r *run, p *gateway.AgentEvent) {
	var d toolEvent
	if json.Unmarshal(p.Data, &d) != nil || d.ToolCallID == "" {
		return
	}
	if p.Stream == "item" && d.Kind != "" && d.Kind != "tool" {
		return
	}
	s.applyTool(r, p.Stream, d)
}

// applyTool updates r's tool d (from stream tool or item) and publishes run.tool when clients
// must hear of it.
func (s *Tracker) applyTool(r *run, stream string, d toolEvent) {
	now := s.cfg.Now()
	s.mu.Lock()
	t := r.tools[d.ToolCallID]
	if t == nil {
		if len(r.tools) >= 256 {
			s.mu.Unlock()
			return
		}
		t = &toolState{ToolView: chat.ToolView{ID: d.ToolCallID, Name: d.Name}, started: now}
		r.tools[d.ToolCallID] = t
		r.toolOrder = append(r.toolOrder, d.ToolCallID)
	}
	if t.Name == "" {
		t.Name = d.Name
	}
	out := chat.RunTool{Conversation: r.convID, RunID: r.id, ToolCallID: t.ID, Name: t.Name}
	emit := false
	switch d.Phase {
	case "start":
		if len(d.Args) > 0 {
			t.Args = preview(d.Args, maxArgsPreview)
			out.Args = t.Args
		}
		if t.Phase == "" {
			t.Phase, out.Phase, emit = "start", "start", true
		} else if len(d.Args) > 0 && !t.ended {
			out.Phase, emit = "update", true
		}
	case "update":
		if !t.ended && stream == "tool" {
			out.Phase, emit = "update", true
		}
	case "result", "end":
		if t.ended {
			break
		}
		t.ended, t.Phase = true, "end"
		switch {
		case d.resultText != "":
			t.Result = truncate(d.resultText, maxResultPreview)
			t.Error = d.IsError
		case stream == "tool":
			t.Result = resultPreview(d.Result)
			t.Error = d.IsError
		default:
			t.Error = d.Status == "failed" || (len(d.Error) > 0 && string(d.Error) != "null" && string(d.Error) != "false")
		}
		out.Phase, emit = "end", true
		out.Result = t.Result
		failed, ms := t.Error, now.Sub(t.started).Milliseconds()
		out.Error, out.DurationMs = &failed, &ms
	}
	s.mu.Unlock()
	if emit {
		s.publishRun(r, out.Event())
	}
}

// Snapshot returns a run.snapshot event for each of u's active runs (sent after a resync).
func (s *Tracker) Snapshot(u chat.User) []chat.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []chat.Event
	for _, r := range s.runs {
		if r.userID != u.ID {
			continue
		}
		tools := make([]chat.ToolView, 0, len(r.toolOrder))
		for _, id := range r.toolOrder {
			tools = append(tools, r.tools[id].ToolView)
		}
		rev, reasoning := r.textRev, r.reasoning
		out = append(out, chat.RunSnapshot{
			Conversation: r.convID, RunID: r.id, Text: r.text, Rev: &rev, Reasoning: &reasoning,
			Tools: tools, State: "running",
		}.Event())
	}
	return out
}
