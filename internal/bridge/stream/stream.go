// Package stream translates the Gateway's chat and agent events into clawchat's run events
// (docs/api.md): deltas (with the revision a client needs to merge them with a snapshot),
// reasoning, tools, usage, approval notices, and the run's end. The Gateway's payloads never
// reach a browser: every event is rebuilt from typed fields and bounded (bridge/runtext,
// bridge/transcript). Which run an event belongs to, and who may see it, is the run tracker's
// answer (Runs.Route, bridge/runs); the run's content is bridge/runtext's.
//
// A Translator has no state of its own. HandleChat and HandleAgent are called from the Gateway
// client's single dispatch goroutine, in order.
package stream

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/runs"
	"github.com/clawchat/clawchat/internal/bridge/runtext"
	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Runs is the run tracker as translation needs it (runs.Tracker implements it).
type Runs interface {
	// Route returns the run of an event of runID in session key, adopting a run started
	// elsewhere; nil when nobody here may see it. reopen brings back a run ended by inference.
	Route(runID, key string, reopen bool) *runs.Run
	// Publish sends a run event to the run's user, if they may still see it.
	Publish(r *runs.Run, ev chat.Event)
	// Finish ends r with a terminal payload (chat.RunFinal, RunAborted or RunError).
	Finish(r *runs.Run, p chat.Payload) bool
	// Bare marks r as ended by a final without message or text, and resolves it from history.
	Bare(r *runs.Run)
	// Dropped sends r's message once more as a new turn after the Gateway dropped it without
	// processing it; false when r cannot be renewed (runs.Tracker.Dropped).
	Dropped(r *runs.Run) bool
}

// Translator turns Gateway events into run events.
type Translator struct {
	runs  Runs
	order func(key, runID string, fn, detach func())
	now   func() time.Time
}

// New returns a Translator over the run tracker r. order runs the handling of one event of a
// session key in order with that key's other events (bridge/ordered.Queue.Do; nil: at once).
func New(r Runs, order func(key, runID string, fn, detach func()), now func() time.Time) *Translator {
	if order == nil {
		order = func(_, _ string, fn, _ func()) { fn() }
	}
	return &Translator{runs: r, order: order, now: now}
}

// HandleChat translates one Gateway chat event for the owner of its session (routeRun, onChat).
// Events of sessions nobody may see are dropped; raw payloads are never forwarded. It is called
// from the Gateway client's single event goroutine, in order, and hands the event to
// the order function (bridge/ordered), which runs it at once or on a worker of its session (bridge/ordered).
func (t *Translator) HandleChat(payload json.RawMessage) {
	var p gateway.ChatEvent
	if gateway.UnmarshalChatEvent(payload, &p) != nil || p.RunID == "" || p.SessionKey == "" {
		return
	}
	reopen := p.State == "delta" || (p.State == "final" && len(p.Message) > 0 && string(p.Message) != "null")
	key := strings.ToLower(p.SessionKey)
	t.order(key, p.RunID, func() {
		if r := t.runs.Route(p.RunID, key, reopen); r != nil {
			t.onChat(r, &p)
		}
	}, func() {
		// p.Message points into payload (UnmarshalChatEvent): a deferred event keeps a copy.
		p.Message = append(json.RawMessage(nil), p.Message...)
	})
}

// HandleAgent translates one Gateway agent event (reasoning, tools, usage, approval notices) for
// the owner of its session, like HandleChat.
func (t *Translator) HandleAgent(payload json.RawMessage) {
	var p gateway.AgentEvent
	if json.Unmarshal(payload, &p) != nil || p.RunID == "" || p.SessionKey == "" {
		return
	}
	key := strings.ToLower(p.SessionKey)
	t.order(key, p.RunID, func() {
		if r := t.runs.Route(p.RunID, key, false); r != nil {
			t.onAgent(r, &p)
		}
	}, nil)
}

func (t *Translator) onChat(r *runs.Run, p *gateway.ChatEvent) {
	switch p.State {
	case "status":
		if p.Phase != "" {
			t.runs.Publish(r, chat.RunStatus{Conversation: r.ConvID(), RunID: r.ID(), Phase: p.Phase}.Event())
		}
	case "delta":
		// "rev" numbers the run's text changes, so a client that also got a run.snapshot (which
		// carries the rev it reflects) can drop deltas the snapshot already holds.
		prev, next, replace, rev := r.Content().ApplyDelta(p)
		if replace {
			t.runs.Publish(r, chat.RunDelta{Conversation: r.ConvID(), RunID: r.ID(), Text: next, Replace: true, Rev: rev}.Event())
		} else if inc := next[len(prev):]; inc != "" && strings.HasPrefix(next, prev) {
			t.runs.Publish(r, chat.RunDelta{Conversation: r.ConvID(), RunID: r.ID(), Text: inc, Rev: rev}.Event())
		}
		if len(p.Usage) > 0 {
			t.publishUsage(r, p.Usage)
		}
	case "final":
		text, bare := r.Content().Final(p.Message)
		if bare {
			// A final without message or text: the Gateway merged this message into another turn
			// or parked it behind one. It is not "the complete reply"; history says where the
			// reply is (bridge/runs).
			t.runs.Bare(r)
			return
		}
		t.runs.Finish(r, chat.RunFinal{Text: text, Usage: transcript.UsageOf(p.Usage), StopReason: p.StopReason})
	case "aborted":
		text, ok := gateway.SnapshotText(p.Message)
		if !ok {
			text = r.Content().Text()
		}
		t.runs.Finish(r, chat.RunAborted{Text: text})
	case "error":
		if gateway.InputDropped(p.ErrorMessage) {
			// The Gateway dropped the message without processing it and asks for a new turn:
			// clawchat sends it once more (the run ends interrupted, continuedBy). A turn it
			// cannot renew ends "lost", so its sender knows to send it again.
			if t.runs.Dropped(r) {
				return
			}
			partial := r.Content().Text()
			t.runs.Finish(r, chat.RunError{Message: "the assistant lost this message; send it again", Kind: "lost", Text: &partial})
			return
		}
		msg := p.ErrorMessage
		if msg == "" {
			msg = "the assistant failed to reply"
		}
		partial := r.Content().Text()
		t.runs.Finish(r, chat.RunError{Message: transcript.Truncate(msg, transcript.MaxErrorMessage), Text: &partial, Kind: p.ErrorKind})
	}
}

func (t *Translator) publishUsage(r *runs.Run, raw json.RawMessage) {
	if u := transcript.UsageOf(raw); u != nil {
		t.runs.Publish(r, chat.RunUsage{Conversation: r.ConvID(), RunID: r.ID(), Input: u.Input, Output: u.Output, Cost: u.Cost}.Event())
	}
}

func (t *Translator) onAgent(r *runs.Run, p *gateway.AgentEvent) {
	switch p.Stream {
	case "thinking":
		if inc := r.Content().AddReasoning(p.Data); inc != "" {
			t.runs.Publish(r, chat.RunReasoning{Conversation: r.ConvID(), RunID: r.ID(), Text: inc}.Event())
		}
	case "usage":
		t.publishUsage(r, p.Data)
	case "tool", "item":
		t.onTool(r, p)
	case "approval":
		t.onRunApproval(r, p)
	}
}

// onRunApproval turns the in-stream approval notice of a run into a run.tool entry named "exec
// approval" for the run's conversation owner (runtext.ParseApproval: no command, host or path).
func (t *Translator) onRunApproval(r *runs.Run, p *gateway.AgentEvent) {
	if d, ok := runtext.ParseApproval(p.Data); ok {
		t.applyTool(r, "tool", d)
	}
}

func (t *Translator) onTool(r *runs.Run, p *gateway.AgentEvent) {
	if d, ok := runtext.ParseTool(p.Stream, p.Data); ok {
		t.applyTool(r, p.Stream, d)
	}
}

// applyTool updates r's tool d (from stream tool or item) and publishes run.tool when clients
// must hear of it.
func (t *Translator) applyTool(r *runs.Run, stream string, d runtext.ToolEvent) {
	if out, emit := r.Content().ApplyTool(stream, d, t.now()); emit {
		out.Conversation, out.RunID = r.ConvID(), r.ID()
		t.runs.Publish(r, out.Event())
	}
}
