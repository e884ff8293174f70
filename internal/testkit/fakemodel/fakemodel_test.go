package fakemodel

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openclawUser wraps text the way OpenClaw forwards it to a model.
func openclawUser(text string) []map[string]any {
	return []map[string]any{
		{"role": "system", "content": "You are a helpful assistant."},
		{"role": "user", "content": "[Sat 2026-11-21 15:17 UTC] " + text + "\n\nRuntime: agent=main | session=agent:main:x"},
		{"role": "user", "content": internalContextMarker + "\nsecret internal stuff\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>"},
	}
}

type streamResult struct {
	content   string
	reasoning string
	toolName  string
	toolArgs  string
	finish    string
	done      bool
	chunks    int
}

func post(t *testing.T, srv *httptest.Server, body map[string]any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := srv.Client().Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readStream(t *testing.T, r io.Reader) (streamResult, error) {
	t.Helper()
	var res streamResult
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			res.done = true
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content          string `json:"content"`
					ReasoningContent string `json:"reasoning_content"`
					ToolCalls        []struct {
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("bad chunk %q: %v", line, err)
		}
		res.chunks++
		for _, ch := range c.Choices {
			res.content += ch.Delta.Content
			res.reasoning += ch.Delta.ReasoningContent
			for _, tc := range ch.Delta.ToolCalls {
				res.toolName += tc.Function.Name
				res.toolArgs += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				res.finish = *ch.FinishReason
			}
		}
	}
	return res, sc.Err()
}

func TestStreamEchoesExactlyTheUserText(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	resp := post(t, srv, map[string]any{"model": "echo", "stream": true, "messages": openclawUser("Hello there, gateway")})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	res, err := readStream(t, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := streamResult{content: "Echo: Hello there, gateway", finish: "stop", done: true, chunks: 6}
	if diff := cmp.Diff(want, res, cmp.AllowUnexported(streamResult{})); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
}

func TestDirectives(t *testing.T) {
	srv := httptest.NewServer(New(Options{Delay: time.Second}))
	defer srv.Close()
	tests := []struct {
		name string
		text string
		want streamResult
	}{
		{"words and delay", "count [words=3] [delay=0]",
			streamResult{content: "Echo: count w1 w2 w3", finish: "stop", done: true}},
		{"think", "ponder [think] [delay=0]",
			streamResult{content: "Echo: ponder", reasoning: "Thinking about how to echo this message deterministically.", finish: "stop", done: true}},
		{"tool named with args", `run [tool=read] [args={"path":"a.txt"}] [delay=0]`,
			streamResult{toolName: "read", toolArgs: `{"path":"a.txt"}`, finish: "tool_calls", done: true}},
		{"tool default", "list [tool] [delay=0]",
			streamResult{toolName: "ls", toolArgs: `{"path":"."}`, finish: "tool_calls", done: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			resp := post(t, srv, map[string]any{"stream": true, "messages": openclawUser(tt.text),
				"tools": []any{map[string]any{"type": "function", "function": map[string]any{"name": "ls"}}}})
			res, err := readStream(t, resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			res.chunks = 0
			if diff := cmp.Diff(tt.want, res, cmp.AllowUnexported(streamResult{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if d := time.Since(start); d > 900*time.Millisecond {
				t.Errorf("[delay=0] not honoured: took %v", d)
			}
		})
	}
}

func TestToolResultGivesText(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	msgs := openclawUser("list [tool]")
	msgs = append(msgs,
		map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "callfake1", "type": "function",
			"function": map[string]any{"name": "ls", "arguments": "{}"}}}},
		map[string]any{"role": "tool", "tool_call_id": "callfake1", "content": "AGENTS.md"})
	res, err := readStream(t, post(t, srv, map[string]any{"stream": true, "messages": msgs}).Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.content != "Tool finished. Result starts with: AGENTS.md" || res.toolName != "" {
		t.Errorf("got %+v", res)
	}
}

func TestNonStreaming(t *testing.T) {
	srv := httptest.NewServer(New(Options{Delay: time.Hour}))
	defer srv.Close()
	resp := post(t, srv, map[string]any{"messages": []any{map[string]any{"role": "user",
		"content": []any{map[string]any{"type": "text", "text": "part one"}, map[string]any{"type": "text", "text": "two"}}}}})
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.Choices) != 1 || out.Choices[0].Message.Content != "Echo: part one two" || out.Choices[0].FinishReason != "stop" {
		t.Errorf("got %+v", out)
	}
}

func TestForcedError(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	resp := post(t, srv, map[string]any{"stream": true, "messages": openclawUser("fail [error=503]")})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"type":"server_error"`) {
		t.Errorf("status %d body %s", resp.StatusCode, body)
	}
}

func TestMidfailDropsConnection(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	resp := post(t, srv, map[string]any{"stream": true, "messages": openclawUser("one two three four five [midfail]")})
	res, err := readStream(t, resp.Body)
	if err == nil && res.done {
		t.Fatalf("stream completed: %+v", res)
	}
	if res.content != "Echo: one two" {
		t.Errorf("content before drop = %q", res.content)
	}
}

func TestClientGoneStopsStream(t *testing.T) {
	srv := httptest.NewServer(New(Options{Delay: 20 * time.Millisecond}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	b, _ := json.Marshal(map[string]any{"stream": true, "messages": openclawUser("long [words=1000]")})
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions", strings.NewReader(string(b)))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	// srv.Close (deferred) blocks until the handler returns; goleak checks nothing is left.
}

func TestModelsAndHealth(t *testing.T) {
	srv := httptest.NewServer(New(Options{Model: "m1"}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"id":"m1"`) {
		t.Errorf("models: %s", body)
	}
	resp, err = srv.Client().Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	resp, err = srv.Client().Get(srv.URL + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET completions: %d", resp.StatusCode)
	}
}

func TestUserText(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"[Sat 2026-11-21 15:17 UTC] hi there\n\nRuntime: agent=main | session=x", "hi there", true},
		{"plain [words=2]", "plain [words=2]", true},
		{internalContextMarker + " stuff", "", false},
		{"[not a date] keep", "[not a date] keep", true},
	}
	for _, tt := range tests {
		got, ok := UserText(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("UserText(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if got := Reply("a [words=2] [delay=5] b"); got != "Echo: a b w1 w2" {
		t.Errorf("Reply = %q", got)
	}
	doc := Reply("md [doc=120]")
	for _, want := range []string{"Echo: md \n\n## Section 1\n\n", "```go\nfunc section1(xs []int) int {\n\ttotal := 0\n", "| alpha | 1 | the first row |\n", "## Section 2"} {
		if !strings.Contains(doc, want) {
			t.Errorf("Reply with [doc=120] lacks %q:\n%s", want, doc)
		}
	}
	if n := len(strings.Fields(doc)); n < 120 || n > 260 {
		t.Errorf("[doc=120] gave %d words", n)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "10.0.0.1:0", "example.com:80", "nonsense"} {
		if s, err := Start(addr, Options{}); err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
	s, err := Start("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + s.Addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasSuffix(s.URL, "/v1") {
		t.Errorf("URL %q", s.URL)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestSenderLineIsRecordedNotEchoed(t *testing.T) {
	h := New(Options{})
	content := "[Thu 2026-12-03 14:00 UTC] [clawchat sender] Alice (clawchat user id \"alice\", role member).\n\n/status [words=1]\n\nRuntime: x"
	body := `{"model":"echo","messages":[{"role":"user","content":` + strconv.Quote(content) + `}],"tools":[{"function":{"name":"read"}}]}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body)))
	if !strings.Contains(rec.Body.String(), "Echo: /status w1") || strings.Contains(rec.Body.String(), "clawchat sender") {
		t.Fatalf("reply = %s", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/requests", nil))
	var seen []Seen
	if err := json.Unmarshal(rec.Body.Bytes(), &seen); err != nil || len(seen) != 1 {
		t.Fatalf("requests = %s (%v)", rec.Body.String(), err)
	}
	if seen[0].Sender != `[clawchat sender] Alice (clawchat user id "alice", role member).` || seen[0].Text != "/status [words=1]" || seen[0].Tools[0] != "read" {
		t.Fatalf("seen = %+v", seen[0])
	}
}

// OpenClaw's title requests (sessions.title.prepare) get a short title at once, even with an
// hour's delay per word, and are not listed with the user turns.
func TestTitleRequest(t *testing.T) {
	srv := httptest.NewServer(New(Options{Delay: time.Hour}))
	defer srv.Close()
	resp := post(t, srv, map[string]any{"stream": true, "messages": []any{
		map[string]any{"role": "system", "content": "Generate a concise session title (3-6 words, max 60 characters) from the user's first message."},
		map[string]any{"role": "user", "content": "# Can you **plan** a trip to `Lisbon` in May? [words=9]"}}})
	res, err := readStream(t, resp.Body)
	if err != nil || !res.done {
		t.Fatalf("stream: %v (done %v)", err, res.done)
	}
	if want := "Can you plan a trip to"; res.content != want || Title("# Can you **plan** a trip to `Lisbon` in May? [words=9]") != want {
		t.Errorf("title %q, want %q", res.content, want)
	}
	if got := Title(" [think] "); got != "Untitled" {
		t.Errorf("Title of directives only = %q", got)
	}
	r, err := srv.Client().Get(srv.URL + "/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK || strings.Contains(string(b), "Lisbon") {
		t.Errorf("title request listed in /requests: %s", b)
	}
}
