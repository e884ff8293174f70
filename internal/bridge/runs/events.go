package runs

import (
	"encoding/json"
	"strings"

	"github.com/clawchat/clawchat/internal/bridge/runtext"
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
		r := &run{id: runID, key: key, userID: cs.userID, convID: cs.convID, started: s.cfg.Now(), lastEvent: s.cfg.Now(), sent: true}
		s.runs[runID] = r
		s.userRuns[r.userID]++
		return r
	}
	r := &run{id: runID, key: key, userID: cs.userID, convID: cs.convID, started: s.cfg.Now(), lastEvent: s.cfg.Now(), sent: true}
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
		prev, next, replace, rev := r.content.ApplyDelta(p)
		if replace {
			s.publishRun(r, chat.RunDelta{Conversation: r.convID, RunID: r.id, Text: next, Replace: true, Rev: rev}.Event())
		} else if inc := next[len(prev):]; inc != "" && strings.HasPrefix(next, prev) {
			s.publishRun(r, chat.RunDelta{Conversation: r.convID, RunID: r.id, Text: inc, Rev: rev}.Event())
		}
		if len(p.Usage) > 0 {
			s.publishUsage(r, p.Usage)
		}
	case "final":
		text, bare := r.content.Final(p.Message)
		if bare {
			s.mu.Lock()
			r.bare = true
			s.mu.Unlock()

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
			text = r.content.Text()
		}
		s.finish(r, chat.RunAborted{Text: text})
	case "error":
		msg := p.ErrorMessage
		if msg == "" {
			msg = "the assistant failed to reply"
		}
		partial := r.content.Text()
		s.finish(r, chat.RunError{Message: truncate(msg, maxErrorMessage), Text: &partial, Kind: p.ErrorKind})
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
		if inc := r.content.AddReasoning(p.Data); inc != "" {
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

// onRunApproval turns the in-stream approval notice of a run into a run.tool entry named "exec
// approval" for the run's conversation owner (runtext.ParseApproval: no command, host or path).
func (s *Tracker) onRunApproval(r *run, p *gateway.AgentEvent) {
	if t, ok := runtext.ParseApproval(p.Data); ok {
		s.applyTool(r, "tool", t)
	}
}

func (s *Tracker) onTool(r *run, p *gateway.AgentEvent) {
	if d, ok := runtext.ParseTool(p.Stream, p.Data); ok {
		s.applyTool(r, p.Stream, d)
	}
}

// applyTool updates r's tool d (from stream tool or item) and publishes run.tool when clients
// must hear of it.
func (s *Tracker) applyTool(r *run, stream string, d runtext.ToolEvent) {
	if out, emit := r.content.ApplyTool(stream, d, s.cfg.Now()); emit {
		out.Conversation, out.RunID = r.convID, r.id
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
		text, rev, reasoning, tools := r.content.View()
		out = append(out, chat.RunSnapshot{
			Conversation: r.convID, RunID: r.id, Text: text, Rev: &rev, Reasoning: &reasoning,
			Tools: tools, State: "running",
		}.Event())
	}
	return out
}
