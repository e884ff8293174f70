package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// Chat-core end-to-end tests: the real clawchat binary, scripted through its REST + SSE API (the
// routes scripts and miso-chat's smoke test use), in front of a real OpenClaw Gateway.

// apiClient is one signed-in user talking to clawchat over REST and SSE.
type apiClient struct {
	t      testing.TB
	base   string
	cookie string
}

func signIn(t testing.TB, base, user, pass string) *apiClient {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	res, err := http.Post(base+"/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("sign in %s: %v", user, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("sign in %s: %s %s", user, res.Status, b)
	}
	for _, c := range res.Cookies() {
		if c.Name == "clawchat_session" {
			return &apiClient{t: t, base: base, cookie: c.Name + "=" + c.Value}
		}
	}
	t.Fatalf("sign in %s: no session cookie", user)
	return nil
}

// do sends a request and decodes a JSON answer into out (when non-nil); it returns the status.
func (c *apiClient) do(method, path string, in, out any) int {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Header.Set("Cookie", c.cookie)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return res.StatusCode
}

type sendAnswer struct {
	OK     bool   `json:"ok"`
	RunID  string `json:"runId"`
	Status string `json:"status"`
}

func (c *apiClient) send(key, text string) sendAnswer {
	c.t.Helper()
	var a sendAnswer
	if st := c.do("POST", "/api/sessions/"+key+"/send", map[string]string{"message": text}, &a); st/100 != 2 || a.RunID == "" {
		c.t.Fatalf("send to %s: status %d, answer %+v", key, st, a)
	}
	return a
}

type historyMsg struct {
	Role    string `json:"role"`
	Text    string `json:"text"`
	Aborted bool   `json:"aborted"`
	RunID   string `json:"runId"`
}

func (c *apiClient) history(key string) []historyMsg {
	c.t.Helper()
	var h struct {
		Messages []historyMsg `json:"messages"`
	}
	if st := c.do("GET", "/api/sessions/"+key+"/history", nil, &h); st != http.StatusOK {
		c.t.Fatalf("history %s: status %d", key, st)
	}
	return h.Messages
}

// sseEvent is one server-sent event.
type sseEvent struct {
	ID, Name string
	Data     map[string]any
}

// sseStream is an open GET /api/events; it records every event for waiting on.
type sseStream struct {
	t       testing.TB
	res     *http.Response
	mu      sync.Mutex
	events  []sseEvent
	changed chan struct{}
	done    chan struct{}
}

func (c *apiClient) events(lastEventID string) *sseStream {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+"/api/events", nil)
	req.Header.Set("Cookie", c.cookie)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("open SSE: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		c.t.Fatalf("open SSE: %s", res.Status)
	}
	s := &sseStream{t: c.t, res: res, changed: make(chan struct{}), done: make(chan struct{})}
	go s.read()
	c.t.Cleanup(s.close)
	return s
}

func (s *sseStream) read() {
	defer close(s.done)
	sc := bufio.NewScanner(s.res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	var ev sseEvent
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Name != "" {
				_ = json.Unmarshal([]byte(data.String()), &ev.Data)
				s.mu.Lock()
				s.events = append(s.events, ev)
				close(s.changed)
				s.changed = make(chan struct{})
				s.mu.Unlock()
			}
			ev, data = sseEvent{}, strings.Builder{}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data.WriteString(line[6:])
		}
	}
}

func (s *sseStream) close() {
	s.res.Body.Close()
	<-s.done
}

func (s *sseStream) snapshot() []sseEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sseEvent(nil), s.events...)
}

// waitFor waits until cond holds for the events seen so far.
func (s *sseStream) waitFor(timeout time.Duration, what string, cond func([]sseEvent) bool) []sseEvent {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		evs := append([]sseEvent(nil), s.events...)
		ch := s.changed
		s.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-ch:
		case <-s.done:
			if !cond(s.snapshot()) {
				s.t.Fatalf("SSE stream ended while waiting for %s; got %s", what, names(evs))
			}
		case <-deadline:
			s.t.Fatalf("timed out after %s waiting for %s; got %s", timeout, what, names(evs))
		}
	}
}

func names(evs []sseEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s(%v) ", e.Name, e.Data["runId"])
	}
	return b.String()
}

// runEvents returns the events of one run.
func runEvents(evs []sseEvent, runID string) []sseEvent {
	var out []sseEvent
	for _, e := range evs {
		if e.Data["runId"] == runID {
			out = append(out, e)
		}
	}
	return out
}

func hasEvent(name, runID string) func([]sseEvent) bool {
	return func(evs []sseEvent) bool {
		for _, e := range runEvents(evs, runID) {
			if e.Name == name {
				return true
			}
		}
		return false
	}
}

func eventText(evs []sseEvent, name, runID string) string {
	for _, e := range runEvents(evs, runID) {
		if e.Name == name {
			s, _ := e.Data["text"].(string)
			return s
		}
	}
	return ""
}

// streamedText rebuilds a run's text from its deltas the way a client does: a snapshot replaces
// the text, and a delta whose rev the text already reflects is dropped.
func streamedText(evs []sseEvent, runID string) string {
	var text string
	var rev float64
	for _, e := range runEvents(evs, runID) {
		r, _ := e.Data["rev"].(float64)
		switch e.Name {
		case "run.delta":
			if r != 0 && r <= rev {
				continue
			}
			d, _ := e.Data["text"].(string)
			if rp, _ := e.Data["replace"].(bool); rp {
				text = d
			} else {
				text += d
			}
			rev = r
		case "run.snapshot":
			text, _ = e.Data["text"].(string)
			rev = r
		}
	}
	return text
}

func echoOf(msg string, words int) string {
	// The scripted model strips directives and echoes the rest, then appends w1..wN.
	var b strings.Builder
	b.WriteString("Echo: " + msg)
	for i := 1; i <= words; i++ {
		fmt.Fprintf(&b, " w%d", i)
	}
	return b.String()
}

func TestChatTwoUsersPrivateConversations(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	alice := signIn(t, srv.URL, "alice", alicePass)
	bob := signIn(t, srv.URL, "bob", bobPass)
	aliceEvents := alice.events("")
	bobEvents := bob.events("")

	// Both send to the same key at the same time: two private conversations.
	var wg sync.WaitGroup
	var ra, rb sendAnswer
	wg.Add(2)
	go func() { defer wg.Done(); ra = alice.send("default", "alice secret plan [delay=20] [words=8]") }()
	go func() { defer wg.Done(); rb = bob.send("default", "bob private note [delay=20] [words=8]") }()
	wg.Wait()
	if ra.RunID == rb.RunID {
		t.Fatalf("both users got run %s", ra.RunID)
	}
	aev := aliceEvents.waitFor(90*time.Second, "alice's final", hasEvent("run.final", ra.RunID))
	bev := bobEvents.waitFor(90*time.Second, "bob's final", hasEvent("run.final", rb.RunID))
	if got, want := eventText(aev, "run.final", ra.RunID), echoOf("alice secret plan", 8); got != want {
		t.Errorf("alice final = %q, want %q", got, want)
	}
	if got, want := eventText(bev, "run.final", rb.RunID), echoOf("bob private note", 8); got != want {
		t.Errorf("bob final = %q, want %q", got, want)
	}
	// Neither stream carries anything of the other user's run.
	for _, e := range aliceEvents.snapshot() {
		if e.Data["runId"] == rb.RunID || strings.Contains(fmt.Sprint(e.Data), "bob private") {
			t.Errorf("alice received bob's event %s %v", e.Name, e.Data)
		}
	}
	for _, e := range bobEvents.snapshot() {
		if e.Data["runId"] == ra.RunID || strings.Contains(fmt.Sprint(e.Data), "alice secret") {
			t.Errorf("bob received alice's event %s %v", e.Name, e.Data)
		}
	}
	// Each history holds only its owner's exchange.
	for _, m := range bob.history("default") {
		if strings.Contains(m.Text, "alice") {
			t.Errorf("bob's history has %q", m.Text)
		}
	}
	// A conversation only alice has is "not found" for bob, in every route.
	alice.send("alice-only", "just mine [delay=5]")
	aliceEvents.waitFor(90*time.Second, "alice-only run", func(evs []sseEvent) bool {
		for _, e := range evs {
			if e.Name == "run.final" && e.Data["conversation"] == "alice-only" {
				return true
			}
		}
		return false
	})
	var errBody, neverBody map[string]any
	st1 := bob.do("GET", "/api/sessions/alice-only/history", nil, &errBody)
	st2 := bob.do("GET", "/api/sessions/never-used-key/history", nil, &neverBody)
	if st1 != http.StatusNotFound || st2 != http.StatusNotFound || fmt.Sprint(errBody) != fmt.Sprint(neverBody) {
		t.Errorf("bob reading alice's conversation: %d %v; a never-used key: %d %v (want identical 404s)", st1, errBody, st2, neverBody)
	}
	if st := bob.do("POST", "/api/sessions/alice-only/abort", map[string]string{}, nil); st != http.StatusNotFound {
		t.Errorf("bob aborting alice's conversation: %d, want 404", st)
	}
	var list struct {
		Sessions []struct {
			ID string `json:"id"`
		} `json:"sessions"`
	}
	bob.do("GET", "/api/sessions", nil, &list)
	for _, s := range list.Sessions {
		if s.ID == "alice-only" {
			t.Errorf("bob's list shows alice-only")
		}
	}
}

func TestChatAbortKeepsPartialText(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	alice := signIn(t, srv.URL, "alice", alicePass)
	ev := alice.events("")
	r := alice.send("abort-me", "long answer please [delay=100] [words=300]")
	ev.waitFor(90*time.Second, "a few words streamed", func(evs []sseEvent) bool {
		return strings.Contains(streamedText(evs, r.RunID), " w2")
	})

	var ans struct {
		OK      bool `json:"ok"`
		Aborted bool `json:"aborted"`
	}
	if st := alice.do("POST", "/api/sessions/abort-me/abort", map[string]string{"runId": r.RunID}, &ans); st/100 != 2 || !ans.Aborted {
		t.Fatalf("abort: status %d, answer %+v", st, ans)
	}
	evs := ev.waitFor(30*time.Second, "run.aborted", hasEvent("run.aborted", r.RunID))
	partial := eventText(evs, "run.aborted", r.RunID)
	if !strings.HasPrefix(partial, "Echo: long answer please") || strings.Contains(partial, "w300") {
		t.Errorf("aborted text = %q, want a partial echo", partial)
	}
	var found bool
	for _, m := range alice.history("abort-me") {
		if m.Role == "assistant" && m.Aborted && strings.HasPrefix(m.Text, "Echo: long answer please") {
			found = true
		}
	}
	if !found {
		t.Errorf("history has no aborted partial reply: %+v", alice.history("abort-me"))
	}
	// The conversation takes a new message at once.
	r2 := alice.send("abort-me", "after abort [delay=5]")
	ev.waitFor(90*time.Second, "final after abort", hasEvent("run.final", r2.RunID))
}

func TestChatSSEResumeWithLastEventID(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	alice := signIn(t, srv.URL, "alice", alicePass)
	first := alice.events("")
	const words = 60
	r := alice.send("resume", "resume me [delay=40] [words=60]")
	evs := first.waitFor(90*time.Second, "a few deltas", func(evs []sseEvent) bool {
		n := 0
		for _, e := range runEvents(evs, r.RunID) {
			if e.Name == "run.delta" {
				n++
			}
		}
		return n >= 3
	})
	first.close()
	last := evs[len(evs)-1].ID
	if last == "" {
		t.Fatal("SSE events carry no id")
	}

	second := alice.events(last)
	rest := second.waitFor(90*time.Second, "final after resume", hasEvent("run.final", r.RunID))
	// No duplicate: nothing at or before the resume point comes again.
	seen := map[string]bool{}
	for _, e := range evs {
		seen[e.ID] = true
	}
	for _, e := range rest {
		if seen[e.ID] {
			t.Errorf("event %s (%s) delivered twice", e.ID, e.Name)
		}
	}
	// No gap: the deltas before and after the resume add up to the final text.
	all := append(append([]sseEvent(nil), evs...), rest...)
	want := echoOf("resume me", words)
	if got := streamedText(all, r.RunID); got != want {
		t.Errorf("streamed text across the resume = %q, want %q", got, want)
	}
	if got := eventText(rest, "run.final", r.RunID); got != want {
		t.Errorf("final = %q, want %q", got, want)
	}
}

// TestChatGatewayRestartMidStream restarts the Gateway while a reply streams: the reply still
// completes in history and reaches the connected client, and clawchat reconnects by itself.
func TestChatGatewayRestartMidStream(t *testing.T) {
	g := ownGateway(t, ochar.Options{})
	srv := startServer(t, g)
	alice := signIn(t, srv.URL, "alice", alicePass)
	ev := alice.events("")
	r := alice.send("restart", "survive a restart [delay=60] [words=40]")
	ev.waitFor(90*time.Second, "first delta", hasEvent("run.delta", r.RunID))

	restarted := make(chan error, 1)
	go func() { restarted <- g.Restart(ctxT(t, 3*time.Minute)) }()
	want := echoOf("survive a restart", 40)
	evs := ev.waitFor(3*time.Minute, "final across the restart", hasEvent("run.final", r.RunID))
	if got := eventText(evs, "run.final", r.RunID); got != want {
		t.Errorf("final = %q, want %q", got, want)
	}
	if err := <-restarted; err != nil {
		t.Fatalf("restart gateway: %v", err)
	}
	// clawchat is ready again without a restart of its own, and history has the whole reply.
	waitReady(t, srv.URL, 2*time.Minute)
	var ok bool
	for _, m := range alice.history("restart") {
		if m.Role == "assistant" && m.Text == want {
			ok = true
		}
	}
	if !ok {
		t.Errorf("history lacks the complete reply %q: %+v", want, alice.history("restart"))
	}
	// And it works for a new message.
	r2 := alice.send("restart", "after restart [delay=5]")
	ev.waitFor(2*time.Minute, "final after restart", hasEvent("run.final", r2.RunID))
}

// TestChatConnectionLossReconciledFromHistory cuts clawchat's Gateway connection while a run
// streams and keeps it cut until the run has finished on the Gateway: the final reply, whose
// events clawchat never saw, still reaches the client (reconciled from chat.history).
func TestChatConnectionLossReconciledFromHistory(t *testing.T) {
	g := sharedGateway(t)
	px := newCutProxy(t, strings.TrimPrefix(g.URL, "ws://"))
	srv := startServerWith(t, g, "ws://"+px.addr())
	alice := signIn(t, srv.URL, "alice", alicePass)
	ev := alice.events("")
	r := alice.send("cut", "lose my stream [delay=30] [words=40]")
	ev.waitFor(90*time.Second, "first delta", hasEvent("run.delta", r.RunID))

	px.cut()
	ev.waitFor(30*time.Second, "gateway.status reconnecting", func(evs []sseEvent) bool {
		for _, e := range evs {
			if e.Name == "gateway.status" && e.Data["state"] != "connected" {
				return true
			}
		}
		return false
	})
	// Wait, on the Gateway itself, until the run is over; only then let clawchat back in.
	watcher := startClient(t, g.URL, g.Token)
	watcher.waitState(60*time.Second, gateway.StateConnected)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rows := watcher.history(t, "agent:main:clawchat:"+userID(t, alice)+":cut")
		if len(rows) >= 2 && rows[len(rows)-1].Role == "assistant" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not finish on the gateway: %+v", rows)
		}
		time.Sleep(200 * time.Millisecond) // polling the Gateway's history: no event tells us
	}
	px.restore()
	want := echoOf("lose my stream", 40)
	evs := ev.waitFor(2*time.Minute, "reconciled final", hasEvent("run.final", r.RunID))
	if got := eventText(evs, "run.final", r.RunID); got != want {
		t.Errorf("reconciled final = %q, want %q", got, want)
	}
}

func userID(t testing.TB, c *apiClient) string {
	t.Helper()
	var me struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if st := c.do("GET", "/api/me", nil, &me); st != http.StatusOK || me.User.ID == "" {
		t.Fatalf("GET /api/me: %d %+v", st, me)
	}
	return me.User.ID
}

func waitReady(t testing.TB, base string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("clawchat not ready again after %s", timeout)
		}
		time.Sleep(200 * time.Millisecond) // /readyz has no push signal
	}
}

// cutProxy is a TCP proxy between clawchat and the Gateway that a test can cut (close every
// connection and refuse new ones) and restore.
type cutProxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(u, c); u.Close() }()
		go func() { defer p.wg.Done(); _, _ = io.Copy(c, u); c.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// startServerWith is startServer with clawchat pointed at gatewayURL (for example a proxy in
// front of g) and extra environment variables.
func startServerWith(t testing.TB, g *ochar.Gateway, gatewayURL string, extraEnv ...string) *server {
	t.Helper()
	port := freeLoopbackPort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	s := &server{
		t: t, bin: buildClawchat(t), URL: base, log: &lockedBuffer{},
		env: append([]string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + t.TempDir(),
			fmt.Sprintf("CLAWCHAT_LISTEN=127.0.0.1:%d", port),
			"CLAWCHAT_DATA_DIR=" + t.TempDir(),
			"CLAWCHAT_PUBLIC_URL=" + base,
			"CLAWCHAT_LOCAL_USERS=alice:" + alicePass + ",bob:" + bobPass,
			"OPENCLAW_GATEWAY_URL=" + gatewayURL,
			"OPENCLAW_GATEWAY_TOKEN=" + g.Token,
		}, extraEnv...),
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}
