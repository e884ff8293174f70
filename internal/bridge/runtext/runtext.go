// Package runtext is the content of one run as its owner sees it while it streams: the visible
// text (with a revision number that run.delta and run.snapshot carry), the reasoning, and the
// tool calls with bounded previews. It applies the Gateway's delta rule (openclaw-protocol.md
// §4.2) in amortised O(1) per delta. A Content has its own lock; it is safe for concurrent use
// and must not be copied. Model output is hostile: previews are bounded, tool results shown only
// as text (bridge/transcript).
package runtext

import (
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// maxTools bounds the tool calls a run keeps.
const maxTools = 256

// Content is a run's text, reasoning and tools. The zero value is empty and ready to use.
type Content struct {
	mu        sync.Mutex
	text      string          // visible reply so far; set with setText/appendText
	rev       uint64          // bumped by every change of text
	buf       strings.Builder // backs text while deltas append to it
	reasoning string
	tools     map[string]*tool
	order     []string
}

type tool struct {
	chat.ToolView
	started time.Time
	ended   bool
}

// Text returns the text so far.
func (c *Content) Text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.text
}

// SetText replaces the text (a resync from history) and returns its revision.
func (c *Content) SetText(s string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setText(s)
	return c.rev
}

// Replace sets the text to s when it differs and returns the new revision; changed is false (and
// nothing happens) when it was s already.
func (c *Content) Replace(s string) (rev uint64, changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.text == s {
		return c.rev, false
	}
	c.setText(s)
	return c.rev, true
}

// Final returns the text of a final event with snapshot message msg: the snapshot's text, else
// the text so far. bare reports a final with neither (no message, no text, no tools): the
// Gateway merged the message into another turn or parked it, and history must say where the
// reply is.
func (c *Content) Final(msg json.RawMessage) (text string, bare bool) {
	text, ok := gateway.SnapshotText(msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		text = c.text
	}
	return text, !ok && text == "" && len(c.tools) == 0
}

// AddReasoning applies an agent "thinking" event's data ({text} cumulative or {delta}) and returns
// the new reasoning text ("" when nothing new).
func (c *Content) AddReasoning(data json.RawMessage) string {
	var d struct {
		Text  string  `json:"text"`
		Delta *string `json:"delta"`
	}
	if json.Unmarshal(data, &d) != nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var inc string
	if d.Delta != nil {
		inc = *d.Delta
		c.reasoning += inc
	} else if strings.HasPrefix(d.Text, c.reasoning) {
		inc = d.Text[len(c.reasoning):]
		c.reasoning = d.Text
	}
	return inc
}

// View returns everything a run.snapshot shows: text, its revision, reasoning and tools in the
// order they started.
func (c *Content) View() (text string, rev uint64, reasoning string, tools []chat.ToolView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tools = make([]chat.ToolView, 0, len(c.order))
	for _, id := range c.order {
		tools = append(tools, c.tools[id].ToolView)
	}
	return c.text, c.rev, c.reasoning, tools
}

// ApplyDelta applies a delta event to the run text by the rule of openclaw-protocol.md §4.2 and
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
// made outside c's lock and committed only if a reconcile did not change the text meanwhile.
func (c *Content) ApplyDelta(p *gateway.ChatEvent) (prev, next string, replace bool, rev uint64) {
	for {
		c.mu.Lock()
		prev = c.text
		c.mu.Unlock()
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
		c.mu.Lock()
		if c.text != prev { // a reconcile replaced the text meanwhile (rare): decide again
			c.mu.Unlock()
			continue
		}
		if appendDelta {
			c.appendText(*p.DeltaText)
		} else {
			c.setText(next)
		}
		next, rev = c.text, c.rev
		c.mu.Unlock()
		return prev, next, replace, rev
	}
}

// setText replaces the text; c.mu held.
func (c *Content) setText(s string) {
	c.rev++
	c.text = s
	c.buf.Reset() // never reused: strings handed out still point into it
}

// appendText appends inc to the text in amortised O(1): c.text is a view of c.buf, which
// only ever grows (strings.Builder never rewrites bytes it has handed out, so earlier texts and
// published increments stay valid). If c.text was set elsewhere the buffer starts again from it.
// c.mu held.
func (c *Content) appendText(inc string) {
	if inc == "" {
		return
	}
	c.rev++
	// Equal strings that share their bytes compare in O(1); c.text is normally the buffer's view.
	if c.buf.Len() != len(c.text) || c.buf.String() != c.text {
		c.buf.Reset()
		c.buf.Grow(2 * (len(c.text) + len(inc)))
		c.buf.WriteString(c.text)
	}
	c.buf.WriteString(inc)
	c.text = c.buf.String()
}

var (
	approvalStatusRe = regexp.MustCompile(`^[a-z_-]{1,32}$`)
	approvalIDRe     = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,200}$`) // as bridge/approvals
)

// ParseApproval turns the in-stream approval notice of a run (agent stream "approval", phase
// requested/resolved) into a tool entry named "exec approval" (for stream "tool"), so the chat
// shows that the run waits for (or got) a decision. It carries no command, host or path: the
// command itself is shown to owners only, through approval.requested. It reports false for
// anything else.
func ParseApproval(data json.RawMessage) (ToolEvent, bool) {
	var d struct {
		Phase      string `json:"phase"`
		Kind       string `json:"kind"`
		Status     string `json:"status"`
		ApprovalID string `json:"approvalId"`
		ItemID     string `json:"itemId"`
		ToolCallID string `json:"toolCallId"`
	}
	if json.Unmarshal(data, &d) != nil || (d.Kind != "" && d.Kind != "exec") {
		return ToolEvent{}, false
	}
	id := d.ApprovalID
	if id == "" {
		id = d.ItemID
	}
	if id == "" {
		id = d.ToolCallID
	}
	if !approvalIDRe.MatchString(id) {
		return ToolEvent{}, false
	}
	status := d.Status
	if !approvalStatusRe.MatchString(status) {
		status = ""
	}
	t := ToolEvent{Name: "exec approval", ToolCallID: "approval:" + id}
	switch d.Phase {
	case "requested":
		t.Phase = "start"
	case "resolved":
		t.Phase, t.IsError, t.resultText = "result", status == "denied" || status == "failed" || status == "unavailable", status
	default:
		return ToolEvent{}, false
	}
	return t, true
}

// ToolEvent is the data of an agent event of stream tool or item. resultText, when set, is the
// result preview as is (an approval's status) instead of one read from Result.
type ToolEvent struct {
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

// ParseTool reads the data of an agent event of stream tool or item; it reports false when it is
// not a tool call (no id, an item of another kind, unreadable).
func ParseTool(stream string, data json.RawMessage) (ToolEvent, bool) {
	var d ToolEvent
	if json.Unmarshal(data, &d) != nil || d.ToolCallID == "" {
		return d, false
	}
	if stream == "item" && d.Kind != "" && d.Kind != "tool" {
		return d, false
	}
	return d, true
}

// ApplyTool updates tool d (from stream tool or item) at time now and returns the run.tool event
// clients must hear of (its Conversation and RunID left for the caller), or false when there is
// nothing to tell. A run keeps at most 256 tools.
func (c *Content) ApplyTool(stream string, d ToolEvent, now time.Time) (chat.RunTool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tools == nil {
		c.tools = map[string]*tool{}
	}
	t := c.tools[d.ToolCallID]
	if t == nil {
		if len(c.tools) >= maxTools {
			return chat.RunTool{}, false
		}
		t = &tool{ToolView: chat.ToolView{ID: d.ToolCallID, Name: d.Name}, started: now}
		c.tools[d.ToolCallID] = t
		c.order = append(c.order, d.ToolCallID)
	}
	if t.Name == "" {
		t.Name = d.Name
	}
	out := chat.RunTool{ToolCallID: t.ID, Name: t.Name}
	emit := false
	switch d.Phase {
	case "start":
		if len(d.Args) > 0 {
			t.Args = transcript.Preview(d.Args, transcript.MaxArgsPreview)
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
			t.Result = transcript.Truncate(d.resultText, transcript.MaxResultPreview)
			t.Error = d.IsError
		case stream == "tool":
			t.Result = transcript.ResultPreview(d.Result)
			t.Error = d.IsError
		default:
			t.Error = d.Status == "failed" || (len(d.Error) > 0 && string(d.Error) != "null" && string(d.Error) != "false")
		}
		out.Phase, emit = "end", true
		out.Result = t.Result
		failed, ms := t.Error, now.Sub(t.started).Milliseconds()
		out.Error, out.DurationMs = &failed, &ms
	}
	return out, emit
}
