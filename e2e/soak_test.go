package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// TestSoakNeverLoseAReply runs the fault mix of issue 17 against the real Gateway, seeded:
// several users streaming replies over /ws; abrupt TCP drops mid-stream with resume by epoch and
// seq (as the web app does); sends dropped in flight and sent again with the same id; Gateway
// SIGKILLs and restarts; a connection that never reads. For every message it asserts exactly one
// reply in history, that the client's final view equals history, and that no run is open once
// the Gateway has been idle 5 s. Seeds: CLAWCHAT_SOAK_SEEDS (comma list, default "1").
func TestSoakNeverLoseAReply(t *testing.T) {
	seeds := []uint64{1}
	if v := os.Getenv("CLAWCHAT_SOAK_SEEDS"); v != "" {
		seeds = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("CLAWCHAT_SOAK_SEEDS: %v", err)
			}
			seeds = append(seeds, n)
		}
	}
	g := ownGateway(t, ochar.Options{WordDelay: 60 * time.Millisecond})
	users := []string{"u1", "u2", "u3", "u4"}
	var creds []string
	for _, u := range users {
		creds = append(creds, u+":"+u+"-correct-horse-1")
	}
	srv := startServerWith(t, g, g.URL, "CLAWCHAT_LOCAL_USERS="+strings.Join(creds, ","), "CLAWCHAT_OWNERS=u1")
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { soak(t, g, srv, users, seed) })
	}
}

type soakFigures struct {
	runs, reconnects, kills, inflightDrops, failed, hung, mismatched, lost, duplicated atomic.Int64
	// recoveryAfterReply counts the Gateway's own recovery turns ("[System] Your previous turn
	// was interrupted…") that follow a message already answered: after a SIGKILL while a later
	// message's input was admitted but not yet in the transcript, OpenClaw resumes the session
	// with that prompt and no user message, then drops the input ("Pending input ownership
	// ended"), which clawchat sends again as a new turn. The recovery turn answers the prompt,
	// not the earlier message: it is not a second reply to it.
	recoveryAfterReply atomic.Int64
}

func soak(t *testing.T, g *ochar.Gateway, srv *server, users []string, seed uint64) {
	t.Logf("soak seed %d (rerun with CLAWCHAT_SOAK_SEEDS=%d)", seed, seed)
	defer func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d", seed)
		}
	}()
	const perUser = 5
	var fig soakFigures
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	stopKills := make(chan struct{})
	killsDone := make(chan struct{})
	go func() { // the Gateway crashes twice, mid-traffic
		defer close(killsDone)
		rng := rand.New(rand.NewPCG(seed, 99))
		for range 2 {
			select {
			case <-stopKills:
				return
			case <-time.After(time.Duration(4000+rng.IntN(5000)) * time.Millisecond):
			}
			if err := g.Kill(); err != nil {
				t.Errorf("kill: %v", err)
				return
			}
			fig.kills.Add(1)
			start := time.Now()
			if err := g.Restart(ctx); err != nil {
				t.Errorf("restart: %v", err)
				return
			}
			gwReady := time.Now()
			// time to ready: clawchat's /readyz after the Gateway's
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if res, err := http.Get(srv.URL + "/readyz"); err == nil {
					res.Body.Close()
					if res.StatusCode == 200 {
						break
					}
				}
				time.Sleep(50 * time.Millisecond) // /readyz has no push signal
			}
			t.Logf("gateway killed and restarted in %s; clawchat ready %s after the Gateway", gwReady.Sub(start), time.Since(gwReady))
		}
	}()

	// A connection that never reads.
	slow := signIn(t, srv.URL, users[0], users[0]+"-correct-horse-1")
	sc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {slow.cookie}, "Origin": {srv.URL}}})
	if err != nil {
		t.Fatalf("slow reader: %v", err)
	}
	_ = sc.Write(ctx, websocket.MessageText, []byte(`{"type":"req","id":"s","method":"subscribe","params":{}}`))
	defer sc.CloseNow()

	var wg sync.WaitGroup
	results := make([][]soakMsg, len(users))
	clients := make([]*soakClient, len(users))
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], clients[i] = soakUser(ctx, t, srv, u, seed*100+uint64(i), perUser, &fig)
		}()
	}
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.drop()
			}
		}
	}()
	wg.Wait()
	close(stopKills)
	<-killsDone

	// No run open once the Gateway has been idle 5 s.
	for i, u := range users {
		c := signIn(t, srv.URL, u, u+"-correct-horse-1")
		conv := fmt.Sprintf("soak-%d-%d", seed, i)
		idleSince := time.Time{}
		deadline := time.Now().Add(90 * time.Second)
		for {
			var h struct {
				Running bool `json:"running"`
			}
			c.do("GET", "/api/sessions/"+conv+"/history", nil, &h)
			if !h.Running {
				if idleSince.IsZero() {
					idleSince = time.Now()
				}
			} else {
				idleSince = time.Time{}
			}
			if !idleSince.IsZero() && time.Since(idleSince) > 5*time.Second {
				break
			}
			if time.Now().After(deadline) {
				fig.hung.Add(1)
				t.Errorf("seed %d: %s: a run is still open", seed, conv)
				break
			}
			time.Sleep(250 * time.Millisecond) // polling history: the condition is the absence of events
		}
		// The client's final view: how the last run of each message's chain ended, as its
		// connection (resumed across every drop) shows it now.
		if cl := clients[i]; cl != nil {
			for j := range results[i] {
				m := &results[i][j]
				if len(m.ids) == 0 {
					continue
				}
				chain, end := cl.end(m.ids[len(m.ids)-1])
				m.runs = chain
				if end != nil {
					m.state, _ = end["event"].(string)
					m.final, _ = end["text"].(string)
					m.kind, _ = end["kind"].(string)
				}
			}
		}
		checkSoakHistory(t, seed, c, conv, results[i], &fig)
	}
	t.Logf("seed %d figures: messages=%d runs=%d reconnects=%d kills=%d inflight-drops=%d reported-failed=%d hung=%d mismatched=%d lost=%d duplicated=%d recovery-after-reply=%d",
		seed, len(users)*perUser, fig.runs.Load(), fig.reconnects.Load(), fig.kills.Load(), fig.inflightDrops.Load(), fig.failed.Load(), fig.hung.Load(), fig.mismatched.Load(), fig.lost.Load(), fig.duplicated.Load(), fig.recoveryAfterReply.Load())
	if t.Failed() || fig.failed.Load() > 0 {
		for l := range strings.SplitSeq(srv.log.String(), "\n") {
			if strings.Contains(l, "chat.send") || strings.Contains(l, "resend") || strings.Contains(l, "renew") || strings.Contains(l, "lost") {
				t.Logf("clawchat: %.300s", l)
			}
		}
	}
}

// soakMsg is one message and what the client saw of its reply.
type soakMsg struct {
	text  string
	ids   []string // the runId of each attempt
	kind  string   // run.error kind
	runs  []string // the run and the runs that continued it
	final string   // the final reply text the client saw ("" when none)
	state string
}

// soakClient is a /ws client that resumes by epoch and seq across abrupt drops.
type soakClient struct {
	t      *testing.T
	base   string
	cookie string

	mu     sync.Mutex
	conn   *websocket.Conn
	epoch  string
	seq    uint64
	ends   map[string]map[string]any // runId → terminal payload (with "event")
	cont   map[string]string         // runId → continuedBy
	resp   map[string]chan map[string]any
	nextID int
	gen    int
}

func (c *soakClient) connect(ctx context.Context) error {
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {c.cookie}, "Origin": {c.base}}})
	if err != nil {
		return err
	}
	conn.SetReadLimit(4 << 20)
	c.mu.Lock()
	c.conn = conn
	c.gen++
	gen := c.gen
	params := map[string]any{}
	if c.epoch != "" {
		params = map[string]any{"epoch": c.epoch, "since": c.seq}
	}
	c.mu.Unlock()
	go c.read(ctx, conn, gen)
	b, _ := json.Marshal(map[string]any{"type": "req", "id": "sub", "method": "subscribe", "params": params})
	return conn.Write(ctx, websocket.MessageText, b)
}

func (c *soakClient) read(ctx context.Context, conn *websocket.Conn, gen int) {
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var f struct {
			Type    string          `json:"type"`
			ID      string          `json:"id"`
			OK      bool            `json:"ok"`
			Event   string          `json:"event"`
			Seq     uint64          `json:"seq"`
			Payload json.RawMessage `json:"payload"`
			Error   json.RawMessage `json:"error"`
		}
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		var p map[string]any
		_ = json.Unmarshal(f.Payload, &p)
		c.mu.Lock()
		if gen != c.gen {
			c.mu.Unlock()
			return
		}
		switch f.Type {
		case "res":
			if f.ID == "sub" && p != nil {
				c.epoch, _ = p["epoch"].(string)
			}
			if ch := c.resp[f.ID]; ch != nil {
				if !f.OK {
					p = map[string]any{"error": string(f.Error)}
				}
				ch <- p
				delete(c.resp, f.ID)
			}
		case "event":
			if f.Seq > 0 {
				if f.Seq <= c.seq {
					c.mu.Unlock()
					continue
				}
				c.seq = f.Seq
			}
			if f.Event == "hello" {
				c.mu.Unlock()
				continue
			}
			c.apply(f.Event, p)
		}
		c.mu.Unlock()
	}
}

// apply records terminal events (and terminal snapshots after a resync); c.mu held.
func (c *soakClient) apply(name string, p map[string]any) {
	id, _ := p["runId"].(string)
	if id == "" {
		return
	}
	if name == "run.snapshot" {
		switch p["state"] {
		case "final":
			name = "run.final"
		case "aborted":
			name = "run.aborted"
		case "error":
			name = "run.error"
		default:
			return
		}
	}
	switch name {
	case "run.final", "run.aborted", "run.error":
		p["event"] = name
		c.ends[id] = p
		if cb, _ := p["continuedBy"].(string); cb != "" {
			c.cont[id] = cb
		}
	}
}

// reconnect connects until it succeeds (or ctx ends).
func (c *soakClient) reconnect(ctx context.Context, fig *soakFigures) {
	for ctx.Err() == nil {
		if c.connect(ctx) == nil {
			fig.reconnects.Add(1)
			return
		}
		time.Sleep(100 * time.Millisecond) // clawchat refuses while it restarts: retry
	}
}

// reconnectIfDown reconnects when the connection is down.
func (c *soakClient) reconnectIfDown(ctx context.Context, fig *soakFigures) {
	c.mu.Lock()
	down := c.conn == nil
	c.mu.Unlock()
	if down {
		c.reconnect(ctx, fig)
	}
}

// drop closes the connection abruptly (no close frame).
func (c *soakClient) drop() {
	c.mu.Lock()
	conn := c.conn
	c.conn = nil
	c.gen++
	for id, ch := range c.resp {
		close(ch)
		delete(c.resp, id)
	}
	c.mu.Unlock()
	if conn != nil {
		_ = conn.CloseNow()
	}
}

// request sends a request; the answer channel is closed if the connection drops first.
func (c *soakClient) request(ctx context.Context, method string, params any) (chan map[string]any, error) {
	c.mu.Lock()
	conn := c.conn
	c.nextID++
	id := "r" + strconv.Itoa(c.nextID)
	ch := make(chan map[string]any, 1)
	c.resp[id] = ch
	c.mu.Unlock()
	if conn == nil {
		return nil, fmt.Errorf("not connected")
	}
	b, _ := json.Marshal(map[string]any{"type": "req", "id": id, "method": method, "params": params})
	return ch, conn.Write(ctx, websocket.MessageText, b)
}

// end returns the terminal payload of the last run of the chain that starts at runID.
func (c *soakClient) end(runID string) (chain []string, p map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := runID; id != ""; id = c.cont[id] {
		chain = append(chain, id)
		p = c.ends[id]
		if c.cont[id] == "" {
			break
		}
	}
	return chain, p
}

func soakUser(ctx context.Context, t *testing.T, srv *server, user string, seed uint64, n int, fig *soakFigures) ([]soakMsg, *soakClient) {
	rng := rand.New(rand.NewPCG(seed, 7))
	api := signIn(t, srv.URL, user, user+"-correct-horse-1")
	conv := fmt.Sprintf("soak-%d-%d", seed/100, seed%100)
	if st := api.do("POST", "/api/sessions", map[string]string{"id": conv}, nil); st != http.StatusCreated {
		t.Errorf("create %s: %d", conv, st)
		return nil, nil
	}
	c := &soakClient{t: t, base: srv.URL, cookie: api.cookie, ends: map[string]map[string]any{}, cont: map[string]string{}, resp: map[string]chan map[string]any{}}
	reconnect := func() { c.reconnect(ctx, fig) }
	reconnect()
	// Abrupt drops every 0.3-2 s, reconnecting after 0-500 ms.
	stopDrops := make(chan struct{})
	dropsDone := make(chan struct{})
	go func() {
		defer close(dropsDone)
		r := rand.New(rand.NewPCG(seed, 13))
		for {
			select {
			case <-stopDrops:
				return
			case <-time.After(time.Duration(300+r.IntN(1700)) * time.Millisecond):
			}
			c.drop()
			time.Sleep(time.Duration(r.IntN(500)) * time.Millisecond)
			reconnect()
		}
	}()
	// The drops stop with the traffic; the connection stays up (resuming) until the checks.
	defer func() { close(stopDrops); <-dropsDone; c.reconnectIfDown(ctx, fig) }()

	var out []soakMsg
	for i := range n {
		text := fmt.Sprintf("%s message %d [words=%d]", user, i, 20+rng.IntN(30))
		inflightDrop := rng.IntN(3) == 0
		m := soakMsg{text: text}
		// A message clawchat reports as not sent or lost is sent again, with a new id, as a user
		// taps "retry"; at most twice.
		for attempt := 0; attempt < 3; attempt++ {
			id := fmt.Sprintf("%s-s%d-m%d-a%d", user, seed, i, attempt)
			runID := soakSend(ctx, c, rng, conv, id, text, &inflightDrop, fig)
			if runID == "" {
				t.Errorf("seed %d: %s: message %d never accepted", seed/100, user, i)
				fig.lost.Add(1)
				break
			}
			fig.runs.Add(1)
			m.ids = append(m.ids, runID)
			deadline := time.Now().Add(3 * time.Minute)
			for {
				chain, end := c.end(runID)
				if end != nil && (end["continuedBy"] == nil || end["continuedBy"] == "") {
					m.runs, m.state = chain, end["event"].(string)
					m.final, _ = end["text"].(string)
					m.kind, _ = end["kind"].(string)
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("seed %d: %s: no end for message %d (run %s, chain %v)", seed/100, user, i, runID, chain)
					fig.hung.Add(1)
					break
				}
				time.Sleep(50 * time.Millisecond) // polling the client's own view
			}
			if m.state != "run.error" || (m.kind != "not_sent" && m.kind != "lost" && m.kind != "interrupted") {
				break
			}
			fig.failed.Add(1)
			_, end := c.end(runID)
			t.Logf("seed %d: %s: message %d reported failed (%s: %v); sending it again", seed/100, user, i, m.kind, end["message"])
		}
		out = append(out, m)
	}
	return out, c
}

// soakSend sends text with id until clawchat accepts it and returns the runId; when
// *inflightDrop, the first try's connection is dropped right after the request is written and the
// send is repeated with the same id after the reconnect.
func soakSend(ctx context.Context, c *soakClient, rng *rand.Rand, conv, id, text string, inflightDrop *bool, fig *soakFigures) string {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ch, err := c.request(ctx, "send", map[string]any{"conversation": conv, "id": id, "text": text})
		if err != nil {
			time.Sleep(50 * time.Millisecond) // reconnecting
			continue
		}
		if *inflightDrop {
			*inflightDrop = false
			fig.inflightDrops.Add(1)
			time.Sleep(time.Duration(rng.IntN(80)) * time.Millisecond)
			c.drop()
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			c.reconnect(ctx, fig)
			continue // send again with the same id
		}
		select {
		case p, ok := <-ch:
			if ok && p["runId"] != nil {
				return p["runId"].(string)
			} else if ok {
				time.Sleep(300 * time.Millisecond) // refused (Gateway down): the user taps Send again
			}
		case <-time.After(10 * time.Second):
		}
	}
	return ""
}

// checkSoakHistory compares every message with clawchat's history of the conversation.
func checkSoakHistory(t *testing.T, seed uint64, c *apiClient, conv string, msgs []soakMsg, fig *soakFigures) {
	hist := c.history(conv)
	before := fig.lost.Load() + fig.duplicated.Load() + fig.mismatched.Load()
	defer func() {
		if fig.lost.Load()+fig.duplicated.Load()+fig.mismatched.Load() != before {
			for i, h := range hist {
				t.Logf("%s history[%d] %s run=%s aborted=%v %.160q", conv, i, h.Role, h.RunID, h.Aborted, h.Text)
			}
		}
	}()
	for _, m := range msgs {
		last := -1
		for i, h := range hist {
			if h.Role == "user" && h.Text == m.text {
				last = i
			}
		}
		if last < 0 {
			fig.lost.Add(1)
			t.Errorf("seed %d: %s: %q is not in history (client saw %s %s %q, runs %v %v)", seed, conv, m.text, m.state, m.kind, m.final, m.ids, m.runs)
			continue
		}
		var replies []string
		for _, h := range hist[last+1:] {
			if h.Role == "user" && !strings.HasPrefix(h.Text, "[System]") {
				break
			}
			if h.Role == "user" && len(replies) > 0 {
				// A recovery prompt after the message's reply: the Gateway resuming the session
				// for a later input (soakFigures.recoveryAfterReply), not this message's turn.
				fig.recoveryAfterReply.Add(1)
				t.Logf("seed %d: %s: the Gateway's recovery turn follows the answered %q", seed, conv, m.text)
				break
			}
			if h.Role == "assistant" && h.Text != "" {
				replies = append(replies, h.Text)
			}
		}
		switch {
		case len(replies) == 0:
			fig.lost.Add(1)
			t.Errorf("seed %d: %s: no reply to %q in history (client saw %s %q)", seed, conv, m.text, m.state, m.final)
		case len(replies) > 1:
			fig.duplicated.Add(1)
			t.Errorf("seed %d: %s: %d replies to %q in history", seed, conv, len(replies), m.text)
		case replies[0] != m.final || m.state != "run.final":
			fig.mismatched.Add(1)
			t.Errorf("seed %d: %s: client saw %s %q for %q, history has %q", seed, conv, m.state, m.final, m.text, replies[0])
		}
	}
}
