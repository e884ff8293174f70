package gatewaytest

import (
	"strings"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/gateway"
)

// Reply describes one scripted agent run for StreamReply.
type Reply struct {
	RunID      string
	SessionKey string
	// Chunks are the text increments; the cumulative text is their concatenation.
	Chunks []string
	// Final is the terminal state: "final" (default), "aborted" or "error".
	Final string
	// ErrorMessage goes into an error/aborted terminal event.
	ErrorMessage string
	// Delay is the pause between chunks (default 0).
	Delay time.Duration
	// FinalWithoutMessage omits message on the terminal event (as the Gateway does for
	// busy-session sends and silent replies).
	FinalWithoutMessage bool
}

// StreamReply broadcasts a run the way OpenClaw 2026.9.6 does: chat status, agent
// lifecycle start, per chunk an agent assistant event and a chat delta (deltaText +
// cumulative message), agent lifecycle end, then the last delta and the terminal chat
// event sharing its seq. It blocks until everything is sent.
func (s *Server) StreamReply(r Reply) {
	seq := 0
	next := func() int { seq++; return seq }
	agentKey := "main"
	if parts := strings.SplitN(r.SessionKey, ":", 3); len(parts) == 3 && parts[0] == "agent" {
		agentKey = parts[1]
	}
	chat := func(fields map[string]any) map[string]any {
		m := map[string]any{"runId": r.RunID, "sessionKey": r.SessionKey, "agentId": agentKey}
		for k, v := range fields {
			m[k] = v
		}
		return m
	}
	agent := func(stream string, data map[string]any) map[string]any {
		return map[string]any{"runId": r.RunID, "sessionKey": r.SessionKey, "agentId": agentKey, "stream": stream,
			"data": data, "seq": next(), "ts": time.Now().UnixMilli(), "isHeartbeat": false}
	}
	message := func(text string) map[string]any {
		return map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text}}, "timestamp": time.Now().UnixMilli()}
	}
	s.Broadcast("chat", chat(map[string]any{"seq": next(), "state": "status", "phase": "starting_model"}))
	s.Broadcast("agent", agent("lifecycle", map[string]any{"phase": "start", "startedAt": time.Now().UnixMilli()}))
	text := ""
	for i, c := range r.Chunks {
		if i > 0 && r.Delay > 0 {
			time.Sleep(r.Delay)
		}
		text += c
		ev := agent("assistant", map[string]any{"text": text, "delta": c})
		s.Broadcast("agent", ev)
		if i < len(r.Chunks)-1 { // the last delta is held back until the run ends
			s.Broadcast("chat", chat(map[string]any{"seq": ev["seq"], "state": "delta", "deltaText": c, "message": message(text)}))
		}
	}
	final := r.Final
	if final == "" {
		final = gateway.ChatStateFinal
	}
	phase := "end"
	if final == gateway.ChatStateError {
		phase = "error"
	}
	s.Broadcast("agent", agent("lifecycle", map[string]any{"phase": phase, "endedAt": time.Now().UnixMilli()}))
	if len(r.Chunks) > 0 {
		last := r.Chunks[len(r.Chunks)-1]
		s.Broadcast("chat", chat(map[string]any{"seq": seq, "state": "delta", "deltaText": last, "message": message(text)}))
	}
	term := map[string]any{"seq": seq, "state": final}
	switch final {
	case gateway.ChatStateFinal:
		term["stopReason"] = "stop"
	case gateway.ChatStateAborted:
		term["stopReason"] = "rpc"
	}
	if r.ErrorMessage != "" {
		term["errorMessage"] = r.ErrorMessage
	}
	if !r.FinalWithoutMessage && (len(r.Chunks) > 0 || final == gateway.ChatStateFinal) {
		term["message"] = message(text)
	}
	s.Broadcast("chat", chat(term))
}

// HandleEchoChat installs a chat.send handler that acks {runId: idempotencyKey,
// status: "started"} and then streams "Echo: <message>" in word chunks, like the fake
// model used for the live recordings. Repeated idempotency keys answer
// {status: "in_flight"} without a new run.
func (s *Server) HandleEchoChat() {
	seen := map[string]bool{}
	var mu sync.Mutex
	s.Handle(gateway.MethodChatSend, func(c *Call) (any, error) {
		var p gateway.ChatSendParams
		if err := c.Decode(&p); err != nil {
			return nil, err
		}
		mu.Lock()
		dup := seen[p.IdempotencyKey]
		seen[p.IdempotencyKey] = true
		mu.Unlock()
		if dup {
			return map[string]any{"runId": p.IdempotencyKey, "status": "in_flight"}, nil
		}
		words := strings.Fields("Echo: " + p.Message)
		chunks := make([]string, len(words))
		for i, w := range words {
			if i > 0 {
				w = " " + w
			}
			chunks[i] = w
		}
		c.AfterResponse(func() {
			s.StreamReply(Reply{RunID: p.IdempotencyKey, SessionKey: canonicalKey(p.SessionKey), Chunks: chunks})
		})
		return map[string]any{"runId": p.IdempotencyKey, "status": "started"}, nil
	})
}

// canonicalKey mimics the Gateway's session key canonicalisation: lower-case, and
// keys without the agent prefix land under agent:main:.
func canonicalKey(k string) string {
	k = strings.ToLower(k)
	if !strings.HasPrefix(k, "agent:") {
		k = "agent:main:" + k
	}
	return k
}
