package bench

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// GatewayRun is one streaming chat run the fake Gateway knows: the session key and run id that
// clawchat sent in a chat.send.
type GatewayRun struct {
	SessionKey string
	RunID      string
}

// FakeGateway is a minimal, fast OpenClaw Gateway (protocol v4 subset) for benchmarks. It
// answers the handshake (connect.challenge → connect → hello-ok), records every chat.send as a
// Run, answers the read methods clawchat uses with empty results, and streams `chat` delta
// events at a controlled rate with a send timestamp in each deltaText.
//
// It also serves /direct?group=N: plain WebSocket clients that receive the very same event frames
// straight from the fake (the "direct" baseline, the physical limit of the loopback path).
//
// All methods are safe for concurrent use. Close stops the server and every connection.
type FakeGateway struct {
	token  string
	log    *slog.Logger
	ln     net.Listener
	srv    *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	ops     map[*opConn]struct{}
	runs    []GatewayRun
	direct  map[int][]*directConn
	ndirect atomic.Int64
	runsCh  chan struct{} // closed and replaced whenever runs changes
	targets map[string]*streamTarget
	control atomic.Bool // serve /control/ (child process mode)
}

type opConn struct {
	c   *websocket.Conn
	seq atomic.Int64
	wmu sync.Mutex
}

type directConn struct {
	ch chan []byte
}

// NewFakeGateway listens on a free loopback port. Connections must present token.
func NewFakeGateway(token string, log *slog.Logger) (*FakeGateway, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakegw: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &FakeGateway{
		token: token, log: log, ln: ln, ctx: ctx, cancel: cancel,
		ops: map[*opConn]struct{}{}, direct: map[int][]*directConn{}, runsCh: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/direct", g.serveDirect)
	mux.HandleFunc("/control/", g.serveControl)
	mux.HandleFunc("/", g.serveGateway)
	g.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		_ = g.srv.Serve(ln)
	}()
	return g, nil
}

// URL returns the Gateway URL (ws://127.0.0.1:port).
func (g *FakeGateway) URL() string { return "ws://" + g.ln.Addr().String() }

// Close stops the server and waits for its goroutines.
func (g *FakeGateway) Close() {
	g.cancel()
	_ = g.srv.Close()
	g.mu.Lock()
	for op := range g.ops {
		_ = op.c.CloseNow()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// Runs returns the runs recorded so far, in the order their chat.send arrived.
func (g *FakeGateway) Runs(context.Context) ([]GatewayRun, error) { return g.runsNow(), nil }

func (g *FakeGateway) runsNow() []GatewayRun {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GatewayRun(nil), g.runs...)
}

// WaitRuns waits until at least n runs are recorded.
func (g *FakeGateway) WaitRuns(ctx context.Context, n int) ([]GatewayRun, error) {
	for {
		g.mu.Lock()
		if len(g.runs) >= n {
			r := append([]GatewayRun(nil), g.runs...)
			g.mu.Unlock()
			return r, nil
		}
		ch := g.runsCh
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("fakegw: waiting for %d runs (have %d): %w", n, len(g.runsNow()), ctx.Err())
		}
	}
}

// Operators returns the number of connected operator (clawchat) connections.
func (g *FakeGateway) Operators() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.ops)
}

// DirectClients returns the number of connected /direct clients.
func (g *FakeGateway) DirectClients(context.Context) (int, error) { return int(g.ndirect.Load()), nil }

type gwFrame struct {
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func (g *FakeGateway) serveGateway(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(32 << 20)
	op := &opConn{c: c}
	ctx := g.ctx
	defer c.CloseNow()
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := op.write(ctx, fmt.Appendf(nil, `{"type":"event","event":"connect.challenge","payload":{"nonce":%q,"ts":%d,"capabilities":[]}}`, nonce, time.Now().UnixMilli())); err != nil {
		return
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		return
	}
	var f gwFrame
	if json.Unmarshal(data, &f) != nil || f.Type != "req" || f.Method != "connect" {
		_ = c.Close(websocket.StatusPolicyViolation, "invalid handshake")
		return
	}
	var p struct {
		Scopes []string `json:"scopes"`
		Auth   struct {
			Token string `json:"token"`
		} `json:"auth"`
	}
	_ = json.Unmarshal(f.Params, &p)
	if p.Auth.Token != g.token {
		_ = op.write(ctx, fmt.Appendf(nil, `{"type":"res","id":%q,"ok":false,"error":{"code":"INVALID_REQUEST","message":"unauthorized: gateway token mismatch","details":{"code":"AUTH_TOKEN_MISMATCH"}}}`, f.ID))
		_ = c.Close(websocket.StatusPolicyViolation, "unauthorized")
		return
	}
	scopes := p.Scopes
	if len(scopes) == 0 {
		scopes = []string{"operator.read", "operator.write"}
	}
	sj, _ := json.Marshal(scopes)
	hello := fmt.Appendf(nil, `{"type":"res","id":%q,"ok":true,"payload":{"type":"hello-ok","protocol":4,`+
		`"server":{"version":"2026.9.6","bootId":"bench","connId":%q},`+
		`"features":{"methods":["health","chat.send","chat.history","chat.abort","sessions.list","agents.list"],"events":["chat","agent","tick","shutdown"],"capabilities":[]},`+
		`"snapshot":{"presence":[],"health":{},"stateVersion":{"presence":1,"health":1},"uptimeMs":1,`+
		`"sessionDefaults":{"defaultAgentId":"main","mainKey":"main","mainSessionKey":"agent:main:main","scope":"per-sender"}},`+
		`"auth":{"method":"token","role":"operator","scopes":%s},`+
		`"policy":{"maxPayload":26214400,"maxBufferedBytes":52428800,"tickIntervalMs":30000,"attachments":{"maxBytes":19464192,"maxImageBytes":6291456}}}}`,
		f.ID, nonce, sj)
	if err := op.write(ctx, hello); err != nil {
		return
	}
	g.mu.Lock()
	g.ops[op] = struct{}{}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.ops, op)
		g.mu.Unlock()
	}()
	tickCtx, stopTick := context.WithCancel(ctx)
	defer stopTick()
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-tickCtx.Done():
				return
			case now := <-t.C:
				_ = op.event(tickCtx, "tick", fmt.Appendf(nil, `{"ts":%d}`, now.UnixMilli()))
			}
		}
	}()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var f gwFrame
		if json.Unmarshal(data, &f) != nil || f.Type != "req" {
			continue
		}
		res := g.answer(f)
		if err := op.write(ctx, res); err != nil {
			return
		}
	}
}

func (g *FakeGateway) answer(f gwFrame) []byte {
	ok := func(payload string) []byte {
		return fmt.Appendf(nil, `{"type":"res","id":%q,"ok":true,"payload":%s}`, f.ID, payload)
	}
	switch f.Method {
	case "chat.send":
		var p struct {
			SessionKey     string `json:"sessionKey"`
			IdempotencyKey string `json:"idempotencyKey"`
		}
		if json.Unmarshal(f.Params, &p) != nil || p.SessionKey == "" || p.IdempotencyKey == "" {
			return fmt.Appendf(nil, `{"type":"res","id":%q,"ok":false,"error":{"code":"INVALID_REQUEST","message":"invalid chat.send params"}}`, f.ID)
		}
		g.mu.Lock()
		g.runs = append(g.runs, GatewayRun{SessionKey: p.SessionKey, RunID: p.IdempotencyKey})
		close(g.runsCh)
		g.runsCh = make(chan struct{})
		g.mu.Unlock()
		rid, _ := json.Marshal(p.IdempotencyKey)
		return ok(`{"runId":` + string(rid) + `,"status":"started"}`)
	case "chat.history":
		var p struct {
			SessionKey string `json:"sessionKey"`
		}
		_ = json.Unmarshal(f.Params, &p)
		k, _ := json.Marshal(p.SessionKey)
		return ok(`{"sessionKey":` + string(k) + `,"messages":[]}`)
	case "sessions.list":
		return ok(`{"ts":0,"path":"","count":0,"defaults":{},"sessions":[]}`)
	case "agents.list":
		return ok(`{"defaultId":"main","mainKey":"main","scope":"per-sender","agents":[{"id":"main","name":"Main"}]}`)
	case "health":
		return ok(`{"ok":true,"ts":0}`)
	case "chat.abort":
		return ok(`{"ok":true,"aborted":false,"runIds":[]}`)
	}
	return ok(`{}`)
}

func (op *opConn) write(ctx context.Context, b []byte) error {
	return op.c.Write(ctx, websocket.MessageText, b)
}

// event writes an event frame with the next envelope seq.
func (op *opConn) event(ctx context.Context, name string, payload []byte) error {
	op.wmu.Lock()
	defer op.wmu.Unlock()
	b := make([]byte, 0, len(payload)+64)
	b = append(b, `{"type":"event","event":"`...)
	b = append(b, name...)
	b = append(b, `","payload":`...)
	b = append(b, payload...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, op.seq.Add(1), 10)
	b = append(b, '}')
	return op.c.Write(ctx, websocket.MessageText, b)
}

// serveDirect is the direct baseline's server: a minimal WebSocket server that writes every
// frame queued for a connection since its last write with one write syscall (the cheapest way a
// server can deliver), from one goroutine per connection. It never reads application data; it
// only notices the client going away.
func (g *FakeGateway) serveDirect(w http.ResponseWriter, r *http.Request) {
	group, err := strconv.Atoi(r.URL.Query().Get("group"))
	key := r.Header.Get("Sec-WebSocket-Key")
	if err != nil || group < 0 || key == "" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "websocket upgrade with ?group=N required", http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
	if brw.Flush() != nil {
		_ = nc.Close()
		return
	}
	dc := &directConn{ch: make(chan []byte, 1024)}
	g.mu.Lock()
	g.direct[group] = append(g.direct[group], dc)
	g.mu.Unlock()
	g.ndirect.Add(1)
	ctx, cancel := context.WithCancel(g.ctx)
	defer func() {
		cancel()
		g.ndirect.Add(-1)
		g.mu.Lock()
		dcs := g.direct[group]
		for i, x := range dcs {
			if x == dc {
				g.direct[group] = append(dcs[:i:i], dcs[i+1:]...)
				break
			}
		}
		g.mu.Unlock()
		_ = nc.Close()
	}()
	go func() { // the client only ever sends its close frame: EOF or anything else ends us
		_, _ = io.Copy(io.Discard, brw.Reader)
		cancel()
		_ = nc.Close()
	}()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-dc.ch:
			buf = appendFrame(buf[:0], b)
		more:
			for {
				select {
				case b := <-dc.ch:
					buf = appendFrame(buf, b)
				default:
					break more
				}
			}
			if _, err := nc.Write(buf); err != nil {
				return
			}
		}
	}
}

// appendFrame appends p as one unmasked server text frame.
func appendFrame(b, p []byte) []byte {
	n := len(p)
	switch {
	case n < 126:
		b = append(b, 0x81, byte(n))
	case n < 1<<16:
		b = append(b, 0x81, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x81, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

// StreamSpec says what to stream.
type StreamSpec struct {
	// Rate is the number of Gateway chat delta events per second, spread round-robin over the
	// targets.
	Rate float64
	// Duration of the stream.
	Duration time.Duration
	// Runs are the targets in gateway mode: each event goes to every operator connection with
	// this run's session key. Ignored when Direct is set.
	Runs []GatewayRun
	// Direct streams to the /direct groups 0..Groups-1 instead (each event to every client of
	// one group), with the same frame a Gateway operator connection would get.
	Direct bool
	Groups int
	// Count, when positive, stops the stream after this many delta events (before Duration).
	Count int64
	// RunLength, when positive, ends a run with a final event after this many deltas and goes
	// on in the same session with a new run id (as a follow-up turn would), so the cumulative
	// text stays bounded. Zero streams one endless run per target.
	RunLength int
	// Snapshots adds the cumulative assistant message to every delta, as the real Gateway does.
	Snapshots bool
}

// StreamStats is what Stream did.
type StreamStats struct {
	Events  int64 // chat delta events emitted
	Elapsed time.Duration
}

// streamTarget is the live run of one session (gateway mode) or group (direct mode). It lives
// across Stream calls so that run ids are never reused.
type streamTarget struct {
	sessionKey string
	baseRunID  string
	gen        int
	runID      string
	seq        int64
	n          int
	text       []byte
}

func (g *FakeGateway) target(key, sessionKey, runID string) *streamTarget {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.targets == nil {
		g.targets = map[string]*streamTarget{}
	}
	t := g.targets[key]
	if t == nil {
		t = &streamTarget{sessionKey: sessionKey, baseRunID: runID, runID: runID}
		g.targets[key] = t
	}
	return t
}

// Stream emits chat delta events at spec.Rate for spec.Duration, or until ctx is done. Each
// delta's deltaText is "[ts:<unix nanos>] " taken right before the frame is built. Writes are
// blocking, so a consumer that cannot keep up slows the stream down (visible as Events below
// Rate×Duration).
func (g *FakeGateway) Stream(ctx context.Context, spec StreamSpec) (StreamStats, error) {
	var targets []*streamTarget
	if spec.Direct {
		for i := range spec.Groups {
			targets = append(targets, g.target("direct/"+strconv.Itoa(i), "agent:main:direct-bench:"+strconv.Itoa(i), "direct-run-"+strconv.Itoa(i)))
		}
	} else {
		for _, r := range spec.Runs {
			targets = append(targets, g.target("gw/"+r.RunID, r.SessionKey, r.RunID))
		}
	}
	n := len(targets)
	if n == 0 || spec.Rate <= 0 {
		return StreamStats{}, errors.New("fakegw: nothing to stream")
	}
	ctx, cancel := context.WithTimeout(ctx, spec.Duration+5*time.Second)
	defer cancel()
	var ops []*opConn
	if !spec.Direct {
		g.mu.Lock()
		for op := range g.ops {
			ops = append(ops, op)
		}
		g.mu.Unlock()
		if len(ops) == 0 {
			return StreamStats{}, errors.New("fakegw: no operator connection")
		}
	}
	emit := func(i int, payload []byte) error {
		if spec.Direct {
			return g.emitDirect(ctx, i, payload)
		}
		for _, op := range ops {
			if err := op.event(ctx, "chat", payload); err != nil {
				return fmt.Errorf("fakegw: stream: %w", err)
			}
		}
		return nil
	}
	start := time.Now()
	var sent int64
	for {
		el := time.Since(start)
		if el >= spec.Duration || ctx.Err() != nil || (spec.Count > 0 && sent >= spec.Count) {
			break
		}
		due := int64(spec.Rate * el.Seconds())
		if spec.Count > 0 {
			due = min(due, spec.Count)
		}
		if sent >= due {
			next := time.Duration(float64(sent+1) / spec.Rate * float64(time.Second))
			time.Sleep(max(next-el, 50*time.Microsecond))
			continue
		}
		for ; sent < due; sent++ {
			i := int(sent % int64(n))
			t := targets[i]
			var frame []byte
			if spec.Direct {
				frame = t.browserDelta()
			} else {
				frame = t.delta(spec.Snapshots)
			}
			if err := emit(i, frame); err != nil {
				return StreamStats{Events: sent, Elapsed: time.Since(start)}, err
			}
			if spec.RunLength > 0 && t.n >= spec.RunLength {
				if spec.Direct {
					frame = t.browserFinal()
				} else {
					frame = t.final()
				}
				if err := emit(i, frame); err != nil {
					return StreamStats{Events: sent, Elapsed: time.Since(start)}, err
				}
			}
		}
	}
	return StreamStats{Events: sent, Elapsed: time.Since(start)}, nil
}

// advance moves the target's run on by one delta and returns its text.
func (t *streamTarget) advance() []byte {
	t.seq++
	t.n++
	mark := make([]byte, 0, 32)
	mark = append(mark, "[ts:"...)
	mark = strconv.AppendInt(mark, time.Now().UnixNano(), 10)
	mark = append(mark, "] "...)
	t.text = append(t.text, mark...)
	return mark
}

// browserDelta advances the run and returns the frame a browser gets for it from clawchat
// (run.delta with the increment): the direct baseline's frame, the physical minimum.
func (t *streamTarget) browserDelta() []byte {
	mark := t.advance()
	b := make([]byte, 0, 128+len(t.runID))
	b = append(b, `{"type":"event","event":"run.delta","seq":`...)
	b = strconv.AppendInt(b, t.seq, 10)
	b = append(b, `,"payload":{"conversation":"bench-0","runId":`...)
	b = strconv.AppendQuote(b, t.runID)
	b = append(b, `,"text":"`...)
	b = append(b, mark...)
	return append(b, `"}}`...)
}

// browserFinal ends the run with the run.final frame a browser gets and starts the next one.
func (t *streamTarget) browserFinal() []byte {
	b := make([]byte, 0, 128+len(t.runID)+len(t.text))
	b = append(b, `{"type":"event","event":"run.final","seq":`...)
	b = strconv.AppendInt(b, t.seq+1, 10)
	b = append(b, `,"payload":{"conversation":"bench-0","runId":`...)
	b = strconv.AppendQuote(b, t.runID)
	b = append(b, `,"text":"`...)
	b = append(b, t.text...)
	b = append(b, `"}}`...)
	t.next()
	return b
}

func (t *streamTarget) next() {
	t.gen++
	t.runID = t.baseRunID + "-f" + strconv.Itoa(t.gen)
	t.n, t.seq, t.text = 0, 0, t.text[:0]
}

// delta advances the target's run by one delta and returns the chat event payload. deltaText
// comes before message so that a reader can stop at the snapshot.
func (t *streamTarget) delta(snapshot bool) []byte {
	mark := t.advance()
	b := make([]byte, 0, 192+len(t.sessionKey)+len(t.runID)+len(t.text))
	b = t.head(b, "delta")
	b = append(b, `,"deltaText":"`...)
	b = append(b, mark...)
	b = append(b, '"')
	if snapshot {
		b = t.message(b)
	}
	return append(b, '}')
}

// final ends the target's run (with the full text) and starts the next one.
func (t *streamTarget) final() []byte {
	b := make([]byte, 0, 192+len(t.sessionKey)+len(t.runID)+len(t.text))
	b = t.head(b, "final")
	b = append(b, `,"stopReason":"stop"`...)
	b = t.message(b)
	b = append(b, '}')
	t.next()
	return b
}

func (t *streamTarget) head(b []byte, state string) []byte {
	b = append(b, `{"runId":`...)
	b = strconv.AppendQuote(b, t.runID)
	b = append(b, `,"sessionKey":`...)
	b = strconv.AppendQuote(b, t.sessionKey)
	b = append(b, `,"agentId":"main","seq":`...)
	b = strconv.AppendInt(b, t.seq, 10)
	b = append(b, `,"state":"`...)
	b = append(b, state...)
	return append(b, '"')
}

// message appends the cumulative snapshot (the text is ASCII without quotes or escapes).
func (t *streamTarget) message(b []byte) []byte {
	b = append(b, `,"message":{"role":"assistant","content":[{"type":"text","text":"`...)
	b = append(b, t.text...)
	b = append(b, `"}],"timestamp":`...)
	b = strconv.AppendInt(b, time.Now().UnixMilli(), 10)
	return append(b, '}')
}

func (g *FakeGateway) emitDirect(ctx context.Context, group int, b []byte) error {
	g.mu.Lock()
	dcs := g.direct[group]
	g.mu.Unlock()
	for _, dc := range dcs {
		select {
		case dc.ch <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
