// Package fakemodel is a deterministic, scripted, OpenAI-compatible chat-completions server. It
// is the model provider of the test OpenClaw Gateway that the end-to-end tests and the demo run
// (see internal/testkit/ochar); it never talks to a real model.
//
// It answers POST /v1/chat/completions (streaming SSE and non-streaming), GET /v1/models and
// GET /healthz. The reply to a user message is "Echo: <user text>", streamed word by word with a
// per-word delay, so that a run lasts long enough to be watched or aborted. Directives anywhere
// in the user text change the reply (case-insensitive) and are removed from the echo:
//
//	[delay=MS]    per-word delay in milliseconds for this reply (default Options.Delay)
//	[words=N]     append N numbered filler words "w1 w2 … wN"
//	[tool]        answer with a tool call first ("ls" with {"path":"."} when offered), then,
//	              once the tool result comes back, with text
//	[tool=NAME]   the same, calling NAME
//	[args=JSON]   the tool call's JSON arguments (default {})
//	[think]       stream a few reasoning_content deltas before the text
//	[error=CODE]  answer with HTTP status CODE and an OpenAI-style error body
//	[midfail]     stream three words, then drop the TCP connection
//	[doc=N]       append a Markdown document of about N words (headings, paragraphs, lists,
//	              fenced code blocks and tables), streamed word by word with its line breaks
//	[suggest]     answer with a clawchat-suggestion block (docs/embed.md) that replaces the
//	              selection of the page context the message carried with its upper-case form
//
// A request whose system prompt asks for a "concise session title" (OpenClaw's
// sessions.title.prepare, sent to the utility model) is answered with Title(message) at once and
// is not listed in GET /requests.
//
// OpenClaw wraps the user's text as "[Sat 2026-11-21 15:17 UTC] <text>\n\nRuntime: …" and
// appends a second user message holding only <<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>; the
// model skips that message and strips the wrapper, so the echo is exactly what the user typed.
// clawchat puts a sender line ("[clawchat sender] Alice (…)" and a blank line) before every
// message; the echo leaves it out, and GET /requests lists the latest user turns with their
// sender line and the tools offered, so tests can check what reached the model. An embedded
// message's page context (the "[clawchat page context]" block after the sender line, ending with
// its ``` line) is split off the same way and listed as Context.
package fakemodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

// Options configure a model handler. The zero value is usable.
type Options struct {
	// Delay is the default pause before each streamed word (0: no pause).
	Delay time.Duration
	// Model is the model id reported by /v1/models and in completions (default "echo").
	Model string
	// Logger receives one record per request and per outcome (default: discard).
	Logger *slog.Logger
}

// Directive patterns. Compiled once; regexps are immutable and safe for concurrent use.
var (
	reDelay     = regexp.MustCompile(`(?i)\[delay=(\d+)\]`)
	reWords     = regexp.MustCompile(`(?i)\[words=(\d+)\]`)
	reTool      = regexp.MustCompile(`(?i)\[tool(?:=([A-Za-z0-9_.:-]+))?\]`)
	reError     = regexp.MustCompile(`(?i)\[error=(\d{3})\]`)
	reMidfail   = regexp.MustCompile(`(?i)\[midfail\]`)
	reThink     = regexp.MustCompile(`(?i)\[think\]`)
	reDoc       = regexp.MustCompile(`(?i)\[doc=(\d+)\]`)
	reSuggest   = regexp.MustCompile(`(?i)\[suggest\]`)
	reArgsStart = regexp.MustCompile(`(?i)\[args=`)
	// reEnvelope matches the "[Sat 2026-11-21 15:17 UTC] " prefix OpenClaw puts in front of
	// the user's text.
	reEnvelope = regexp.MustCompile(`^\[[^\]]*\d{4}-\d{2}-\d{2}[^\]]*\]\s*`)
)

// internalContextMarker starts the extra user message OpenClaw appends to every turn.
const internalContextMarker = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>"

// maxBody bounds a request body (OpenClaw's system prompt alone is about 49 KB).
const maxBody = 32 << 20

type handler struct {
	opts Options
	seq  atomic.Int64
	mux  *http.ServeMux

	mu   sync.Mutex
	seen []Seen // the latest user turns, oldest first (at most maxSeen)
}

// Seen is one user turn as the model received it: GET /requests lists the latest ones, so that
// tests can check what reached the model (the sender line clawchat adds, the exact text).
type Seen struct {
	// Sender is clawchat's identity line ("[clawchat sender] …"), "" when there was none.
	Sender string `json:"sender"`
	// Text is the user's text as the model got it, the envelope and sender line removed.
	Text string `json:"text"`
	// Context is the embedded page context block the message carried ("" when none).
	Context string `json:"context"`
	// Tools are the names of the tools the Gateway offered the model for this turn.
	Tools []string `json:"tools"`
}

const maxSeen = 200

// New returns the model's HTTP handler. It is safe for concurrent use; every request is
// independent except for a request counter used in ids.
func New(opts Options) http.Handler {
	if opts.Model == "" {
		opts.Model = "echo"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{opts: opts, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /v1/chat/completions", h.chat)
	h.mux.HandleFunc("POST /chat/completions", h.chat)
	h.mux.HandleFunc("GET /v1/models", h.models)
	h.mux.HandleFunc("GET /models", h.models)
	h.mux.HandleFunc("GET /requests", func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h.seen)
	})
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Message is one chat message as OpenAI-compatible clients send it.
type message struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

type request struct {
	Model    string    `json:"model"`
	Messages []message `json:"messages"`
	Stream   bool      `json:"stream"`
	Tools    []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// plan is what the model will answer.
type plan struct {
	mode      string // echo, tool_call, after_tool, error, midfail
	words     []string
	reasoning []string
	delay     time.Duration
	toolName  string
	toolArgs  string
	errCode   int
}

// contentText flattens message content (a string or an array of parts).
func contentText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text *string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var texts []string
		for _, p := range parts {
			if p.Text != nil {
				texts = append(texts, *p.Text)
			}
		}
		return strings.Join(texts, "\n")
	}
	return string(raw)
}

// UserText returns what the human typed in a user message as OpenClaw forwards it: the
// timestamp envelope and the Runtime suffix removed. ok is false for OpenClaw's internal-context
// message, which is not the user's.
func UserText(content string) (text string, ok bool) {
	_, text, ok = splitUserContent(content)
	return text, ok
}

// senderPrefix starts the identity line clawchat puts before every message it sends
// (chat.send systemProvenanceReceipt, bridge/policy); the Gateway joins it to the message with
// a blank line.
const senderPrefix = "[clawchat sender]"

// pageContextPrefix starts the page context block of an embedded message (internal/embed Fence).
const pageContextPrefix = "[clawchat page context]"

// splitPageContext splits an embedded message's page context block (which ends with the first
// line that is exactly ```) off the text.
func splitPageContext(t string) (pageCtx, text string) {
	if !strings.HasPrefix(t, pageContextPrefix) {
		return "", t
	}
	lines := strings.Split(t, "\n")
	inside := false
	for i, l := range lines {
		switch {
		case l == "```json":
			inside = true
		case inside && l == "```":
			return strings.Join(lines[:i+1], "\n"), strings.TrimLeft(strings.Join(lines[i+1:], "\n"), "\n")
		}
	}
	return t, ""
}

// splitUserContent returns the sender line and the user's text of a user message.
func splitUserContent(content string) (sender, text string, ok bool) {
	sender, _, text, ok = splitUserParts(content)
	return sender, text, ok
}

// splitUserParts returns the sender line, the page context and the user's text of a user message.
func splitUserParts(content string) (sender, pageCtx, text string, ok bool) {
	t := strings.TrimSpace(content)
	if strings.HasPrefix(t, internalContextMarker) {
		return "", "", "", false
	}
	if k := strings.Index(t, "\n\nRuntime: "); k >= 0 {
		t = t[:k]
	}
	t = reEnvelope.ReplaceAllString(t, "")
	if strings.HasPrefix(t, senderPrefix) {
		sender, t, _ = strings.Cut(t, "\n\n")
	}
	pageCtx, t = splitPageContext(t)
	return sender, pageCtx, t, true
}

// lastPageContext returns the page context block of the latest user turn ("" when none).
func lastPageContext(msgs []message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != "user" {
			continue
		}
		if _, pc, _, ok := splitUserParts(contentText(msgs[i].Content)); ok {
			return pc
		}
	}
	return ""
}

// suggestionReply is the [suggest] answer: a clawchat-suggestion block replacing the page
// context's selection with its upper-case form.
func suggestionReply(pageCtx string) string {
	var c struct {
		Selection string `json:"selection"`
	}
	if i := strings.Index(pageCtx, "```json\n"); i >= 0 {
		body := strings.TrimSuffix(pageCtx[i+len("```json\n"):], "```")
		_ = json.Unmarshal([]byte(body), &c)
	}
	if c.Selection == "" {
		return "There is no selection to improve."
	}
	b, _ := json.Marshal(map[string]string{"anchor": c.Selection, "text": strings.ToUpper(c.Selection)})
	return "Here is a suggestion:\n\n```clawchat-suggestion\n" + string(b) + "\n```"
}

// lastUserTurn returns the latest user text and its index (-1 when there is none).
func lastUserTurn(msgs []message) (string, int) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != "user" {
			continue
		}
		if t, ok := UserText(contentText(msgs[i].Content)); ok {
			return t, i
		}
	}
	return "", -1
}

// toolArgs returns the JSON value after "[args=", or "{}" when absent or invalid.
func toolArgs(s string) string {
	loc := reArgsStart.FindStringIndex(s)
	if loc == nil {
		return "{}"
	}
	var v any
	if err := json.NewDecoder(strings.NewReader(s[loc[1]:])).Decode(&v); err != nil {
		return "{}"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// StripDirectives removes every directive from s and normalizes white space.
func StripDirectives(s string) string {
	if loc := reArgsStart.FindStringIndex(s); loc != nil {
		dec := json.NewDecoder(strings.NewReader(s[loc[1]:]))
		var v any
		if dec.Decode(&v) == nil {
			rest := strings.TrimLeft(s[loc[1]+int(dec.InputOffset()):], " ")
			s = s[:loc[0]] + strings.TrimPrefix(rest, "]")
		}
	}
	for _, re := range []*regexp.Regexp{reDelay, reWords, reTool, reError, reMidfail, reThink, reDoc, reSuggest} {
		s = re.ReplaceAllString(s, "")
	}
	return strings.Join(strings.Fields(s), " ")
}

// titlePrompt is in the system prompt of OpenClaw's title requests (sessions.title.prepare).
const titlePrompt = "concise session title"

// Title is the scripted model's answer to a title request for a conversation that starts with
// userText: its first six words without directives or Markdown punctuation, the first letter
// upper-cased ("Untitled" when nothing is left).
func Title(userText string) string {
	t := strings.Map(func(r rune) rune {
		if strings.ContainsRune("#*_`>[]|~", r) {
			return ' '
		}
		return r
	}, StripDirectives(userText))
	words := strings.Fields(t)
	if len(words) == 0 {
		return "Untitled"
	}
	words = words[:min(len(words), 6)]
	r := []rune(strings.Join(words, " "))
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// Reply returns the text the model answers to user text (no tool, error or midfail handling):
// "Echo: <text without directives>" plus any [words=N] filler. Tests use it to predict replies.
func Reply(userText string) string {
	return strings.Join(echoWords(userText), " ")
}

func echoWords(userText string) []string {
	words := strings.Fields("Echo: " + StripDirectives(userText))
	if m := reWords.FindStringSubmatch(userText); m != nil {
		n, _ := strconv.Atoi(m[1])
		n = min(n, 100000)
		for i := 1; i <= n; i++ {
			words = append(words, "w"+strconv.Itoa(i))
		}
	}
	if m := reDoc.FindStringSubmatch(userText); m != nil {
		n, _ := strconv.Atoi(m[1])
		words = append(words, docWords(min(n, 100000))...)
	}
	return words
}

// docSection is one section of the [doc=N] document; %d is the section number. Words are
// separated by single spaces when streamed, so line breaks and indentation ride at the start
// of a word.
const docSection = "\n\n## Section %d\n\nThis section explains a small part of the design in plain words, " +
	"with some **bold** text, a little _emphasis_ and `inline code` so that the renderer has work to do.\n\n" +
	"- first point about the design\n- second point, a bit longer than the first one\n- third point\n\n" +
	"```go\nfunc section%d(xs []int) int {\n\ttotal := 0\n\tfor _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn total\n}\n```\n\n" +
	"| Name | Value | Note |\n|---|---|---|\n| alpha | %d | the first row |\n| beta | %d | the second row |\n\n" +
	"A closing paragraph for this section that is long enough to wrap over several lines on a phone screen."

// docWords returns about n words of a Markdown document made of numbered sections.
func docWords(n int) []string {
	var words []string
	for i := 1; len(words) < n; i++ {
		words = append(words, strings.Split(fmt.Sprintf(docSection, i, i, i, i*10), " ")...)
	}
	return words
}

func (h *handler) makePlan(req *request) plan {
	p := plan{delay: h.opts.Delay, mode: "echo"}
	user, iu := lastUserTurn(req.Messages)
	for _, m := range req.Messages {
		if m.Role == "system" && strings.Contains(contentText(m.Content), titlePrompt) {
			return plan{mode: "title", words: strings.Fields(Title(user))}
		}
	}
	var toolResult *message
	for j := len(req.Messages) - 1; j > iu && iu >= 0; j-- {
		if req.Messages[j].Role == "tool" {
			toolResult = &req.Messages[j]
			break
		}
	}
	if m := reDelay.FindStringSubmatch(user); m != nil {
		ms, _ := strconv.Atoi(m[1])
		p.delay = time.Duration(ms) * time.Millisecond
	}
	if m := reError.FindStringSubmatch(user); m != nil {
		p.errCode, _ = strconv.Atoi(m[1])
		p.mode = "error"
		return p
	}
	if reThink.MatchString(user) {
		p.reasoning = strings.Fields("Thinking about how to echo this message deterministically.")
	}
	if toolResult != nil {
		res := contentText(toolResult.Content)
		if len(res) > 120 {
			res = res[:120] + "..."
		}
		p.mode = "after_tool"
		p.words = strings.Fields("Tool finished. Result starts with: " + res)
		return p
	}
	if m := reTool.FindStringSubmatch(user); m != nil {
		name := m[1]
		if name == "" {
			name = pickTool(req)
		}
		if name != "" {
			p.mode = "tool_call"
			p.toolName = name
			p.toolArgs = toolArgs(user)
			if p.toolArgs == "{}" && name == "ls" {
				p.toolArgs = `{"path":"."}`
			}
			return p
		}
	}
	if reSuggest.MatchString(user) {
		p.words = strings.Split(suggestionReply(lastPageContext(req.Messages)), " ")
		return p
	}
	p.words = echoWords(user)
	if reMidfail.MatchString(user) {
		p.mode = "midfail"
	}
	return p
}

// pickTool chooses a harmless tool from those offered.
func pickTool(req *request) string {
	have := map[string]bool{}
	for _, t := range req.Tools {
		have[t.Function.Name] = true
	}
	for _, pref := range []string{"ls", "session_status", "sessions_list", "read"} {
		if have[pref] {
			return pref
		}
	}
	if len(req.Tools) > 0 {
		return req.Tools[0].Function.Name
	}
	return ""
}

// record keeps the request's latest user turn for GET /requests.
func (h *handler) record(req *request) {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role != "user" {
			continue
		}
		sender, pageCtx, text, ok := splitUserParts(contentText(req.Messages[i].Content))
		if !ok {
			continue
		}
		seen := Seen{Sender: sender, Context: pageCtx, Text: text, Tools: []string{}}
		for _, t := range req.Tools {
			seen.Tools = append(seen.Tools, t.Function.Name)
		}
		h.mu.Lock()
		if len(h.seen) >= maxSeen {
			h.seen = h.seen[1:]
		}
		h.seen = append(h.seen, seen)
		h.mu.Unlock()
		return
	}
}

func (h *handler) models(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []any{
		map[string]any{"id": h.opts.Model, "object": "model", "created": 0, "owned_by": "fakemodel"}}})
}

func (h *handler) chat(w http.ResponseWriter, r *http.Request) {
	n := h.seq.Add(1)
	log := h.opts.Logger.With("req", n)
	var req request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "bad json")
		log.Info("fakemodel: bad request", "err", err)
		return
	}
	p := h.makePlan(&req)
	if p.mode != "title" {
		h.record(&req)
	}
	log.Info("fakemodel: request", "stream", req.Stream, "messages", len(req.Messages),
		"tools", len(req.Tools), "mode", p.mode, "words", len(p.words), "delay", p.delay)
	if p.errCode != 0 {
		writeError(w, p.errCode, "server_error", fmt.Sprintf("fakemodel forced error %d", p.errCode))
		return
	}
	model := req.Model
	if model == "" {
		model = h.opts.Model
	}
	id := fmt.Sprintf("chatcmpl-fake-%d", n)
	callID := fmt.Sprintf("call_fake_%d", n)
	usage := map[string]any{"prompt_tokens": 10, "completion_tokens": len(p.words) + len(p.reasoning) + 1,
		"total_tokens": 11 + len(p.words) + len(p.reasoning)}

	if !req.Stream {
		msg := map[string]any{"role": "assistant", "content": strings.Join(p.words, " ")}
		finish := "stop"
		if p.toolName != "" {
			msg["content"] = nil
			msg["tool_calls"] = []any{map[string]any{"id": callID, "type": "function",
				"function": map[string]any{"name": p.toolName, "arguments": p.toolArgs}}}
			finish = "tool_calls"
		}
		if p.reasoning != nil {
			msg["reasoning_content"] = strings.Join(p.reasoning, " ")
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "chat.completion",
			"created": time.Now().Unix(), "model": model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   usage})
		log.Info("fakemodel: done", "stream", false)
		return
	}

	st := &streamer{w: w, r: r, id: id, model: model, delay: p.delay}
	if fl, ok := w.(http.Flusher); ok {
		st.fl = fl
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	sent, err := h.stream(st, p, callID)
	if err != nil {
		log.Info("fakemodel: stream ended early", "reason", err, "afterWords", sent)
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		st.send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": time.Now().Unix(),
			"model": model, "choices": []any{}, "usage": usage})
	}
	io.WriteString(w, "data: [DONE]\n\n")
	st.flush()
	log.Info("fakemodel: done", "stream", true, "mode", p.mode, "words", sent)
}

// errClientGone and errMidfail end a stream early.
var (
	errClientGone = errors.New("client gone")
	errMidfail    = errors.New("midfail: connection dropped")
)

func (h *handler) stream(st *streamer, p plan, callID string) (int, error) {
	if !st.chunk(map[string]any{"role": "assistant", "content": ""}, nil) {
		return 0, errClientGone
	}
	for i, wd := range p.reasoning {
		if !st.sleep() || !st.chunk(map[string]any{"reasoning_content": sep(i) + wd}, nil) {
			return 0, errClientGone
		}
	}
	if p.toolName != "" {
		if !st.sleep() {
			return 0, errClientGone
		}
		st.chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": callID, "type": "function",
			"function": map[string]any{"name": p.toolName, "arguments": ""}}}}, nil)
		st.chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0,
			"function": map[string]any{"arguments": p.toolArgs}}}}, nil)
		if !st.chunk(map[string]any{}, "tool_calls") {
			return 0, errClientGone
		}
		return 0, nil
	}
	for i, wd := range p.words {
		if !st.sleep() {
			return i, errClientGone
		}
		if p.mode == "midfail" && i == 3 {
			if hj, ok := st.w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
				}
			}
			return i, errMidfail
		}
		if !st.chunk(map[string]any{"content": sep(i) + wd}, nil) {
			return i, errClientGone
		}
	}
	if !st.chunk(map[string]any{}, "stop") {
		return len(p.words), errClientGone
	}
	return len(p.words), nil
}

func sep(i int) string {
	if i == 0 {
		return ""
	}
	return " "
}

// streamer writes SSE chunks of one completion.
type streamer struct {
	w     http.ResponseWriter
	fl    http.Flusher
	r     *http.Request
	id    string
	model string
	delay time.Duration
}

func (s *streamer) flush() {
	if s.fl != nil {
		s.fl.Flush()
	}
}

func (s *streamer) send(v any) bool {
	b, _ := json.Marshal(v)
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", b); err != nil {
		return false
	}
	s.flush()
	return s.r.Context().Err() == nil
}

func (s *streamer) chunk(delta map[string]any, finish any) bool {
	return s.send(map[string]any{"id": s.id, "object": "chat.completion.chunk", "created": time.Now().Unix(),
		"model": s.model, "choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
}

// sleep waits the per-word delay; false when the client went away.
func (s *streamer) sleep() bool {
	ctx := s.r.Context()
	if s.delay <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": "fake_error"}})
}

// CheckLoopback returns an error unless addr ("host:port") names a loopback host.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("fakemodel: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("fakemodel: refusing non-loopback listen address %q", addr)
	}
	return nil
}
