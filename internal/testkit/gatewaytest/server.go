// Package gatewaytest is a scriptable fake OpenClaw Gateway for tests: an httptest
// WebSocket server (coder/websocket) that speaks protocol 4 closely enough for
// internal/gateway and the code built on it.
//
// What it does, per connection: sends connect.challenge, validates the connect request
// (protocol 4, client id/mode, shared token or password or device token, and the
// Ed25519 device signature when a device is present), answers hello-ok with the
// configured policy and scopes, then serves requests through handlers registered with
// Handle and pushes events with Broadcast. Every event gets a per-connection envelope
// seq starting at 1.
//
// Typical use:
//
//	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: "secret"})
//	srv.Handle("chat.send", func(c *gatewaytest.Call) (any, error) {
//		var p gateway.ChatSendParams
//		if err := c.Decode(&p); err != nil {
//			return nil, err
//		}
//		go srv.Broadcast("chat", map[string]any{"runId": p.IdempotencyKey, "sessionKey": p.SessionKey, "seq": 1, "state": "final"})
//		return map[string]any{"runId": p.IdempotencyKey, "status": "started"}, nil
//	})
//	cl, _ := gateway.New(gateway.Config{URL: srv.URL(), Token: "secret", StateDir: t.TempDir()})
//	go cl.Run(ctx)
//	srv.WaitConnected(ctx)
//
// For chat flows, srv.HandleEchoChat() answers chat.send like the live fake model
// ({runId: idempotencyKey, status: "started"}, then "Echo: <message>" streamed), and
// srv.StreamReply(gatewaytest.Reply{RunID, SessionKey, Chunks, Final, …}) broadcasts one
// run with the Gateway's event shapes and ordering (chat status, agent lifecycle and
// assistant events, chat deltas with cumulative message, the last delta held back and
// sharing its seq with the final). Call.AfterResponse runs code after the ack is written.
//
// Handlers run on their own goroutine per request, so delays and out-of-order answers
// are natural. Returning a *gateway.Error sends it as the error shape; any other error
// becomes INVALID_REQUEST. Unhandled methods answer {} (ok) unless Options.StrictMethods.
//
// Scripting failure modes: DropAll / CloseAll (close codes), Restart (shutdown event,
// close 1012, new bootId), SendRaw (malformed or oversized frames), BroadcastSkipSeq
// (envelope seq gaps), SetToken (refuse auth), SetPairing + PendingPairings / Approve /
// RevokeDevice (pairing flow, 4001), SetAuthRateLimit (AUTH_RATE_LIMITED), SetConnectHook
// (any connect refusal, e.g. startup UNAVAILABLE), Silence (stop answering and ticking).
// Inspection: Connects (connect params + result), Calls, Received (raw frames),
// Connections, WaitConnected / WaitConnections, BootID, DeviceToken.
//
// All methods are safe for concurrent use. The server is closed by t.Cleanup.
package gatewaytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/coder/websocket"
)

// Options configure a Server. Zero values pick the documented defaults.
type Options struct {
	// Token is the accepted shared token; Password the accepted password. When both are
	// empty any auth.token is accepted.
	Token    string
	Password string
	// GrantScopes, when non-nil, are the scopes granted to every successful connect
	// (e.g. []string{} to simulate a remote device-less connection). Nil grants what
	// was requested.
	GrantScopes []string
	// Pairing simulates a remote client: a connect with a device that is not approved
	// fails NOT_PAIRED/PAIRING_REQUIRED, approved devices get a device token in
	// hello-ok, device-less connects get no scopes.
	Pairing bool
	// MaxPayload is policy.maxPayload (default 25 MiB). The server also uses it as its
	// own read limit.
	MaxPayload int64
	// TickInterval is policy.tickIntervalMs (default 30s). Ticks are sent only when
	// SendTicks is set.
	TickInterval time.Duration
	SendTicks    bool
	// AttachmentMaxBytes / AttachmentMaxImageBytes go into policy.attachments
	// (defaults 20 MB / 6 MiB).
	AttachmentMaxBytes      int64
	AttachmentMaxImageBytes int64
	// ServerVersion is hello-ok.server.version (default "2026.9.6").
	ServerVersion string
	// StrictMethods answers unhandled methods with INVALID_REQUEST "unknown method".
	StrictMethods bool
	// SkipSignatureCheck disables device signature verification.
	SkipSignatureCheck bool
	// Protocol is the protocol version the fake speaks (default 4). A connect whose
	// min..max range excludes it is refused INVALID_REQUEST "protocol mismatch" and closed
	// 1002. With Protocol 3 the refusal has the form of OpenClaw releases before 2026.5.12:
	// details {expectedProtocol: 3} and no details.code. Otherwise details carry
	// code PROTOCOL_MISMATCH, as 2026.5.12 and later send.
	Protocol int
}

// Call is one request received by the fake.
type Call struct {
	Method string
	Params json.RawMessage
	// ConnID is the connection's hello-ok connId.
	ConnID string
	// DeviceID is the connection's device id ("" without device).
	DeviceID string

	after []func()
}

// AfterResponse registers f to run (on the handler's goroutine) right after the
// response has been written, e.g. to stream events that must follow the ack.
func (c *Call) AfterResponse(f func()) { c.after = append(c.after, f) }

// Decode decodes the params into v.
func (c *Call) Decode(v any) error {
	if len(c.Params) == 0 {
		return &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "missing params"}
	}
	if err := json.Unmarshal(c.Params, v); err != nil {
		return &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "invalid " + c.Method + " params"}
	}
	return nil
}

// HandlerFunc answers one method. The result is marshalled as the response payload.
type HandlerFunc func(c *Call) (any, error)

// ConnectRecord is what a connect request carried (secrets included: test-only).
type ConnectRecord struct {
	Params gateway.ConnectParams
	// Result is "ok" or the details code / error code returned.
	Result string
	// Origin is the Origin header of the upgrade request.
	Origin string
	// At is when the connect request arrived.
	At time.Time
}

// PairingRequest is a pending device pairing request.
type PairingRequest struct {
	RequestID string
	DeviceID  string
	Scopes    []string
}

// Server is the fake Gateway.
type Server struct {
	t    testing.TB
	opts Options
	hs   *httptest.Server

	mu          sync.Mutex
	handlers    map[string]HandlerFunc
	conns       map[*serverConn]struct{}
	bootID      string
	token       string
	password    string
	pending     map[string]*PairingRequest // by device id
	approved    map[string][]string        // device id -> approved scopes
	devTokens   map[string]string          // device id -> device token
	rateLimit   time.Duration
	connects    []ConnectRecord
	calls       []Call
	received    [][]byte
	silent      bool
	connectHook func(p *gateway.ConnectParams) *gateway.Error
	connChanged chan struct{} // closed and replaced on every conn add/remove
	closed      bool
}

type serverConn struct {
	ws       *websocket.Conn
	connID   string
	deviceID string
	mu       sync.Mutex // serialises seq assignment + write order
	seq      int64
	ctx      context.Context
	cancel   context.CancelFunc
}

// NewServer starts a fake Gateway; it is closed when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Protocol == 0 {
		opts.Protocol = 4
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 25 << 20
	}
	if opts.TickInterval == 0 {
		opts.TickInterval = 30 * time.Second
	}
	if opts.AttachmentMaxBytes == 0 {
		opts.AttachmentMaxBytes = 20 << 20
	}
	if opts.AttachmentMaxImageBytes == 0 {
		opts.AttachmentMaxImageBytes = 6 << 20
	}
	if opts.ServerVersion == "" {
		opts.ServerVersion = "2026.9.6"
	}
	s := &Server{
		t:           t,
		opts:        opts,
		handlers:    make(map[string]HandlerFunc),
		conns:       make(map[*serverConn]struct{}),
		bootID:      randID(),
		token:       opts.Token,
		password:    opts.Password,
		pending:     make(map[string]*PairingRequest),
		approved:    make(map[string][]string),
		devTokens:   make(map[string]string),
		connChanged: make(chan struct{}),
	}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.Close)
	return s
}

// URL returns the ws:// URL of the fake.
func (s *Server) URL() string { return "ws" + strings.TrimPrefix(s.hs.URL, "http") }

// Close closes every connection and the listener. Idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.CloseAll(websocket.StatusGoingAway, "fake gateway closing")
	s.hs.CloseClientConnections()
	s.hs.Close()
}

// Handle registers h for method, replacing any earlier handler.
func (s *Server) Handle(method string, h HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[method] = h
}

// SetToken changes the accepted shared token (use it to refuse a client's token).
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// SetPairing turns the remote/pairing simulation on or off.
func (s *Server) SetPairing(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Pairing = on
}

// SetConnectHook installs f, called for every connect after the protocol/client checks
// and before authentication; a non-nil *gateway.Error refuses the connect with it (close
// 1013 when its code is UNAVAILABLE, else 1008). Nil removes the hook. Use it for
// startup UNAVAILABLE + retryAfterMs, protocol mismatches or any other refusal.
func (s *Server) SetConnectHook(f func(p *gateway.ConnectParams) *gateway.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connectHook = f
}

// SetAuthRateLimit makes every connect fail AUTH_RATE_LIMITED with retryAfter (0 turns
// it off).
func (s *Server) SetAuthRateLimit(retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit = retryAfter
}

// Silence stops (true) or resumes (false) all outbound traffic except WebSocket pongs:
// no responses, no events, no ticks.
func (s *Server) Silence(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = on
}

// PendingPairings returns the pending pairing requests.
func (s *Server) PendingPairings() []PairingRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PairingRequest
	for _, p := range s.pending {
		out = append(out, *p)
	}
	return out
}

// Approve approves a pending pairing request (like `openclaw devices approve`). The
// device's next connect gets a device token.
func (s *Server) Approve(requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for dev, p := range s.pending {
		if p.RequestID == requestID {
			s.approved[dev] = slices.Clone(p.Scopes)
			s.devTokens[dev] = randID()
			delete(s.pending, dev)
			return nil
		}
	}
	return fmt.Errorf("gatewaytest: no pending request %s", requestID)
}

// RevokeDevice removes a device's pairing and token and closes its connections with
// 4001 "device removed".
func (s *Server) RevokeDevice(deviceID string) {
	s.mu.Lock()
	delete(s.approved, deviceID)
	delete(s.devTokens, deviceID)
	var victims []*serverConn
	for c := range s.conns {
		if c.deviceID == deviceID {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		_ = c.ws.Close(4001, "device removed")
	}
}

// DeviceToken returns the device token issued to deviceID ("" if none).
func (s *Server) DeviceToken(deviceID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.devTokens[deviceID]
}

// Connects returns a copy of every connect request seen so far.
func (s *Server) Connects() []ConnectRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.connects)
}

// Received returns every raw text frame clients sent (connect included), in arrival
// order. For conformance checks.
func (s *Server) Received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

func (s *Server) recordRaw(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, slices.Clone(data))
}

// Calls returns the requests received so far for method ("" = all).
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Connections returns the number of authenticated (post hello-ok) connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConnected blocks until at least one authenticated connection exists.
func (s *Server) WaitConnected(ctx context.Context) error { return s.WaitConnections(ctx, 1) }

// WaitConnections blocks until exactly n authenticated connections exist.
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		have, ch := len(s.conns), s.connChanged
		s.mu.Unlock()
		if have == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gatewaytest: waiting for %d connections (have %d): %w", n, have, ctx.Err())
		case <-ch:
		}
	}
}

// Broadcast sends an event to every authenticated connection, with the next envelope
// seq of each connection.
func (s *Server) Broadcast(event string, payload any) {
	for _, c := range s.snapshot() {
		s.sendEvent(c, event, payload, 0)
	}
}

// BroadcastSkipSeq sends an event after skipping n envelope seq numbers on every
// connection (simulating events the Gateway dropped for a slow consumer).
func (s *Server) BroadcastSkipSeq(event string, payload any, n int64) {
	for _, c := range s.snapshot() {
		s.sendEvent(c, event, payload, n)
	}
}

// SendRaw writes data as a text frame to every authenticated connection (malformed,
// oversized or hand-made frames).
func (s *Server) SendRaw(data []byte) {
	for _, c := range s.snapshot() {
		c.mu.Lock()
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		_ = c.ws.Write(ctx, websocket.MessageText, data)
		cancel()
		c.mu.Unlock()
	}
}

// DropAll closes every connection abruptly (no close frame), like a network failure.
func (s *Server) DropAll() {
	for _, c := range s.snapshot() {
		_ = c.ws.CloseNow()
	}
}

// CloseAll closes every connection with code and reason.
func (s *Server) CloseAll(code websocket.StatusCode, reason string) {
	for _, c := range s.snapshot() {
		go func() { _ = c.ws.Close(code, reason) }()
		c.cancelAfter(2 * time.Second)
	}
}

// Restart simulates a Gateway restart: a shutdown event with restartExpectedMs, close
// 1012 "service restart", and a new bootId for later connections.
func (s *Server) Restart(restartExpected time.Duration) {
	s.Broadcast("shutdown", map[string]any{"reason": "gateway restarting", "restartExpectedMs": restartExpected.Milliseconds()})
	s.mu.Lock()
	s.bootID = randID()
	s.mu.Unlock()
	s.CloseAll(1012, "service restart")
}

// BootID returns the current bootId.
func (s *Server) BootID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bootID
}

func (c *serverConn) cancelAfter(d time.Duration) {
	time.AfterFunc(d, c.cancel)
}

func (s *Server) snapshot() []*serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

func (s *Server) isSilent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.silent
}

func (s *Server) sendEvent(c *serverConn, event string, payload any, skip int64) {
	if s.isSilent() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq += 1 + skip
	frame := map[string]any{"type": "event", "event": event, "seq": c.seq}
	if payload != nil {
		frame["payload"] = payload
	}
	b, err := json.Marshal(frame)
	if err != nil {
		s.t.Errorf("gatewaytest: marshal event %s: %v", event, err)
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	_ = c.ws.Write(ctx, websocket.MessageText, b)
}

func (s *Server) write(c *serverConn, v any) {
	if s.isSilent() {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Errorf("gatewaytest: marshal: %v", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	_ = c.ws.Write(ctx, websocket.MessageText, b)
}

func (s *Server) notifyConnChanged() {
	close(s.connChanged)
	s.connChanged = make(chan struct{})
}

func randID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wire frames
type reqFrame struct {
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type resFrame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	OK      bool            `json:"ok"`
	Payload any             `json:"payload,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(s.opts.MaxPayload)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &serverConn{ws: ws, connID: randID(), ctx: ctx, cancel: cancel}
	defer ws.CloseNow()

	nonce := randID()
	s.write(c, map[string]any{"type": "event", "event": "connect.challenge",
		"payload": map[string]any{"nonce": nonce, "ts": time.Now().UnixMilli(), "capabilities": []string{}}})

	hctx, hcancel := context.WithTimeout(ctx, 15*time.Second)
	typ, data, err := ws.Read(hctx)
	hcancel()
	if err != nil {
		return
	}
	s.recordRaw(data)
	var req reqFrame
	if typ != websocket.MessageText || json.Unmarshal(data, &req) != nil {
		_ = ws.Close(websocket.StatusNormalClosure, "")
		return
	}
	if req.Method != "connect" {
		s.refuse(c, req.ID, &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "invalid handshake: first request must be connect"}, 1008)
		return
	}
	var p gateway.ConnectParams
	dec := json.NewDecoder(strings.NewReader(string(req.Params)))
	dec.DisallowUnknownFields() // the real gateway's schemas are closed
	if err := dec.Decode(&p); err != nil {
		s.refuse(c, req.ID, &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "invalid connect params: " + err.Error()}, 1008)
		return
	}
	rec := ConnectRecord{Params: p, Origin: r.Header.Get("Origin"), At: time.Now()}
	hello, gerr, closeCode := s.admit(c, &p, nonce)
	if gerr != nil {
		rec.Result = gerr.DetailsCode
		if rec.Result == "" && len(gerr.Details) > 0 {
			var d struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(gerr.Details, &d)
			rec.Result = d.Code
		}
		if rec.Result == "" {
			rec.Result = gerr.Code
		}
		s.record(rec)
		s.refuse(c, req.ID, gerr, closeCode)
		return
	}
	rec.Result = "ok"
	s.record(rec)
	helloFrame, err := json.Marshal(resFrame{Type: "res", ID: req.ID, OK: true, Payload: hello})
	if err != nil {
		s.t.Errorf("gatewaytest: marshal hello-ok: %v", err)
		return
	}
	// Register the connection and write hello-ok under the connection lock, so that no
	// event can overtake hello-ok and every event broadcast after the client saw
	// hello-ok reaches it.
	c.mu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.mu.Unlock()
		return
	}
	s.conns[c] = struct{}{}
	s.notifyConnChanged()
	s.mu.Unlock()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	_ = ws.Write(wctx, websocket.MessageText, helloFrame)
	wcancel()
	c.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.notifyConnChanged()
		s.mu.Unlock()
	}()

	if s.opts.SendTicks {
		go func() {
			tk := time.NewTicker(s.opts.TickInterval)
			defer tk.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-tk.C:
					s.sendEvent(c, "tick", map[string]any{"ts": now.UnixMilli()}, 0)
				}
			}
		}()
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		s.recordRaw(data)
		var rf reqFrame
		if typ != websocket.MessageText || json.Unmarshal(data, &rf) != nil || rf.Type != "req" || rf.ID == "" {
			continue
		}
		call := &Call{Method: rf.Method, Params: rf.Params, ConnID: c.connID, DeviceID: c.deviceID}
		s.mu.Lock()
		s.calls = append(s.calls, *call)
		h := s.handlers[rf.Method]
		strict := s.opts.StrictMethods
		s.mu.Unlock()
		wg.Go(func() {
			var (
				res any
				err error
			)
			switch {
			case h != nil:
				res, err = h(call)
			case strict:
				err = &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "unknown method: " + rf.Method}
			default:
				res = map[string]any{}
			}
			if err != nil {
				var ge *gateway.Error
				if !errors.As(err, &ge) {
					ge = &gateway.Error{Code: gateway.CodeInvalidRequest, Message: err.Error()}
				}
				s.write(c, resFrame{Type: "res", ID: rf.ID, OK: false, Error: ge.ErrorShape()})
			} else {
				s.write(c, resFrame{Type: "res", ID: rf.ID, OK: true, Payload: res})
			}
			for _, f := range call.after {
				f()
			}
		})
	}
}

func (s *Server) record(r ConnectRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connects = append(s.connects, r)
}

func (s *Server) refuse(c *serverConn, id string, e *gateway.Error, code websocket.StatusCode) {
	s.write(c, resFrame{Type: "res", ID: id, OK: false, Error: e.ErrorShape()})
	_ = c.ws.Close(code, e.Message)
}

func detailsJSON(m map[string]any) json.RawMessage {
	b, _ := json.Marshal(m)
	return b
}

// admit validates connect params and builds hello-ok.
func (s *Server) admit(c *serverConn, p *gateway.ConnectParams, nonce string) (map[string]any, *gateway.Error, websocket.StatusCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if proto := s.opts.Protocol; p.MinProtocol > proto || p.MaxProtocol < proto {
		details := map[string]any{"expectedProtocol": proto}
		if proto >= 4 {
			details["code"] = "PROTOCOL_MISMATCH"
			details["clientMinProtocol"] = p.MinProtocol
			details["clientMaxProtocol"] = p.MaxProtocol
			details["minimumProbeProtocol"] = 3
		}
		return nil, &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "protocol mismatch", Details: detailsJSON(details)}, 1002
	}
	if p.Client.ID != "gateway-client" || p.Client.Mode != "backend" || p.Client.Version == "" || p.Client.Platform == "" {
		return nil, &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "invalid connect params: client"}, 1008
	}
	if s.connectHook != nil {
		if e := s.connectHook(p); e != nil {
			code := websocket.StatusCode(1008)
			if e.Code == gateway.CodeUnavailable {
				code = 1013
			}
			return nil, e, code
		}
	}
	if s.rateLimit > 0 {
		return nil, &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "too many failed authentication attempts",
			Retryable: true, RetryAfter: s.rateLimit,
			Details: detailsJSON(map[string]any{"code": "AUTH_RATE_LIMITED"})}, 1008
	}
	if p.Device != nil && !s.opts.SkipSignatureCheck {
		if code := gateway.VerifyDeviceSignature(p, nonce); code != "" {
			return nil, &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "device signature invalid",
				Details: detailsJSON(map[string]any{"code": code})}, 1008
		}
		if d := time.Since(time.UnixMilli(p.Device.SignedAt)); d > 2*time.Minute || d < -2*time.Minute {
			return nil, &gateway.Error{Code: gateway.CodeInvalidRequest, Message: "device signature expired",
				Details: detailsJSON(map[string]any{"code": "DEVICE_AUTH_SIGNATURE_EXPIRED"})}, 1008
		}
	}
	devID := ""
	if p.Device != nil {
		devID = p.Device.ID
	}
	auth := gateway.ConnectAuth{}
	if p.Auth != nil {
		auth = *p.Auth
	}
	method := ""
	switch {
	case auth.DeviceToken != "" || (auth.Token != "" && devID != "" && auth.Token == s.devTokens[devID] && auth.Token != s.token):
		tok := auth.DeviceToken
		if tok == "" {
			tok = auth.Token
		}
		if auth.Token != "" && auth.DeviceToken != "" {
			// shared token wins, like the real gateway (method "token")
			if s.token != "" && auth.Token != s.token {
				return nil, authErr("AUTH_TOKEN_MISMATCH", "unauthorized: gateway token mismatch"), 1008
			}
			method = "token"
			break
		}
		if devID == "" {
			return nil, &gateway.Error{Code: gateway.CodeNotPaired, Message: "device identity required",
				Details: detailsJSON(map[string]any{"code": "DEVICE_IDENTITY_REQUIRED"})}, 1008
		}
		if want := s.devTokens[devID]; want == "" || want != tok {
			return nil, authErr("AUTH_DEVICE_TOKEN_MISMATCH", "unauthorized: device token mismatch (rotate/reissue device token)"), 1008
		}
		if !covers(s.approved[devID], p.Scopes) {
			return nil, authErr("AUTH_SCOPE_MISMATCH", "device token scope mismatch (re-pair or approve scope upgrade)"), 1008
		}
		method = "device-token"
	case auth.Token != "":
		if s.token != "" && auth.Token != s.token {
			return nil, authErr("AUTH_TOKEN_MISMATCH", "unauthorized: gateway token mismatch (provide gateway auth token)"), 1008
		}
		if s.token == "" && s.password != "" {
			return nil, authErr("AUTH_TOKEN_MISMATCH", "unauthorized: gateway token mismatch"), 1008
		}
		method = "token"
	case auth.Password != "":
		if auth.Password != s.password {
			return nil, authErr("AUTH_PASSWORD_MISMATCH", "unauthorized: gateway password mismatch"), 1008
		}
		method = "password"
	default:
		return nil, &gateway.Error{Code: gateway.CodeNotPaired, Message: "device identity required",
			Details: detailsJSON(map[string]any{"code": "DEVICE_IDENTITY_REQUIRED"})}, 1008
	}

	scopes := slices.Clone(p.Scopes)
	if scopes == nil {
		scopes = []string{}
	}
	deviceToken := ""
	if s.opts.Pairing {
		switch {
		case devID == "":
			scopes = []string{}
		case method != "device-token" && !covers(s.approved[devID], p.Scopes):
			pr := s.pending[devID]
			if pr == nil || !slices.Equal(pr.Scopes, p.Scopes) {
				pr = &PairingRequest{RequestID: randID()[:8] + "-pair", DeviceID: devID, Scopes: slices.Clone(p.Scopes)}
				s.pending[devID] = pr
			}
			reason := "not-paired"
			if _, ok := s.approved[devID]; ok {
				reason = "scope-upgrade"
			}
			return nil, &gateway.Error{Code: gateway.CodeNotPaired, Message: "pairing required: device is not approved yet",
				Details: detailsJSON(map[string]any{"code": "PAIRING_REQUIRED", "reason": reason, "requestId": pr.RequestID,
					"deviceId": devID, "requestedRole": "operator", "requestedScopes": p.Scopes})}, 1008
		default:
			deviceToken = s.devTokens[devID]
		}
	}
	if s.opts.GrantScopes != nil {
		scopes = slices.Clone(s.opts.GrantScopes)
	}
	c.deviceID = devID
	authObj := map[string]any{"method": method, "role": "operator", "scopes": scopes}
	if deviceToken != "" {
		authObj["deviceToken"] = deviceToken
		authObj["issuedAtMs"] = time.Now().UnixMilli()
	}
	hello := map[string]any{
		"type":     "hello-ok",
		"protocol": s.opts.Protocol,
		"server":   map[string]any{"version": s.opts.ServerVersion, "bootId": s.bootID, "connId": c.connID},
		"features": map[string]any{"methods": []string{"health", "chat.send", "chat.history", "chat.abort", "sessions.list"}, "events": []string{"chat", "agent", "tick", "shutdown"}, "capabilities": []string{}},
		"snapshot": map[string]any{
			"presence": []any{}, "health": map[string]any{}, "stateVersion": map[string]any{"presence": 1, "health": 1}, "uptimeMs": 1,
			"sessionDefaults": map[string]any{"defaultAgentId": "main", "mainKey": "main", "mainSessionKey": "agent:main:main", "scope": "per-sender"},
		},
		"auth": authObj,
		"policy": map[string]any{
			"maxPayload": s.opts.MaxPayload, "maxBufferedBytes": 2 * s.opts.MaxPayload, "tickIntervalMs": s.opts.TickInterval.Milliseconds(),
			"attachments": map[string]any{"maxBytes": s.opts.AttachmentMaxBytes, "maxImageBytes": s.opts.AttachmentMaxImageBytes},
		},
	}
	return hello, nil, 0
}

func authErr(code, msg string) *gateway.Error {
	return &gateway.Error{Code: gateway.CodeInvalidRequest, Message: msg,
		Details: detailsJSON(map[string]any{"code": code, "recommendedNextStep": "update_auth_credentials"})}
}

func covers(granted, wanted []string) bool {
	for _, w := range wanted {
		if !slices.Contains(granted, w) {
			return false
		}
	}
	return true
}
