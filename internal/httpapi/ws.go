package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/httpjson"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/wsconn"
)

// ws is GET /ws. After the upgrade no goroutine waits for the connection: its socket is read
// by the shared wsconn.Server (epoll) when data arrives, a writer goroutine exists only while
// hub frames are pending (and writes each batch with one system call), requests run on
// short-lived goroutines, and the keepalive ping is a timer. An idle connection costs its
// socket, this wsConn and the hub subscription.
func (a *api) ws(w http.ResponseWriter, r *http.Request) {
	u, ok := chat.UserFrom(r.Context()) // authenticated by guard
	if !ok {
		writeError(w, errUnauthorized)
		return
	}
	if a.d.OriginAllowed != nil && !a.d.OriginAllowed(r) {
		writeError(w, errForeignOrigin)
		return
	}
	cred := ""
	if a.d.Credential != nil {
		if cred = a.d.Credential(r); cred == "" {
			writeError(w, errUnauthorized)
			return
		}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c := &wsConn{a: a, u: u, ctx: ctx, cancel: cancel, sem: make(chan struct{}, a.d.MaxWSInFlight)}
	lc, ok := a.admit(u, cred, c.endFor)
	if !ok {
		cancel()
		writeError(w, errTooManyConns)
		return
	}
	c.lc = lc
	conn, err := a.wsServer.Upgrade(w, r)
	if err != nil {
		cancel()
		a.forget(lc)
		return
	}
	c.mu.Lock()
	c.conn = conn
	why := c.endPending
	c.mu.Unlock()
	if why != 0 { // ended (signed out, demoted) between admission and upgrade
		c.endFor(why)
		conn.Start(wsconn.Handler{OnClose: func(error) {}})
		return
	}
	a.connsMu.Lock()
	select {
	case <-a.shutdown:
		a.connsMu.Unlock()
		c.close(wsconn.StatusServiceRestart, "server restart: reconnect")
		conn.Start(wsconn.Handler{OnClose: func(error) {}}) // read the peer's close answer
		return
	default:
	}
	a.conns[c] = struct{}{}
	a.connsMu.Unlock()
	hello := wsHello{
		Epoch: a.d.Hub.Epoch(), Seq: a.d.Hub.Latest(u.ID), User: u,
		Gateway: chat.GatewayStatus{State: a.d.Bridge.GatewayState()}, Limits: a.d.Bridge.Limits(),
	}
	if err := c.writeJSON(wsEvent[wsHello]{Type: "event", Event: "hello", Payload: hello}); err != nil {
		_ = conn.CloseNow()
	}
	conn.Start(wsconn.Handler{OnMessage: c.onMessage, OnClose: c.ended})
}

// wsHello is the payload of the hello event a /ws connection gets first (docs/api.md): where the
// user's event stream stands (epoch, the latest seq), who they are, the Gateway's state and the
// limits of what they may send.
type wsHello struct {
	Epoch   string              `json:"epoch"`
	Seq     uint64              `json:"seq"`
	User    chat.User           `json:"user"`
	Gateway chat.GatewayStatus  `json:"gateway"`
	Limits  bridge.ClientLimits `json:"limits"`
}

// wsEvent is an event frame written outside the hub's sequence (hello, server.restart): no seq.
type wsEvent[P any] struct {
	Type    string `json:"type"` // "event"
	Event   string `json:"event"`
	Payload P      `json:"payload"`
}

// listResult is conversations.list's answer: the Gateway's other sessions for owners only.
type listResult struct {
	Conversations []bridge.Conversation  `json:"conversations"`
	Gateway       *[]bridge.Conversation `json:"gateway,omitempty"`
}

// subscribeResult is subscribe's answer.
type subscribeResult struct {
	Epoch    string `json:"epoch"`
	Seq      uint64 `json:"seq"`
	Replayed int    `json:"replayed"`
	Resync   bool   `json:"resync"`
}

// goAway sends server.restart (best effort, bounded by the write timeout), closes with 1012 and
// waits for the close handshake (bounded by the engine's close timeout).
func (c *wsConn) goAway() {
	_ = c.writeJSON(wsEvent[chat.ServerRestart]{Type: "event", Event: chat.ServerRestart{}.EventName()})
	c.close(wsconn.StatusServiceRestart, "server restart: reconnect")
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.a.d.WriteTimeout)
	defer cancel()
	_ = c.conn.Wait(ctx)
}

// wsConn is the API state of one /ws connection.
type wsConn struct {
	a      *api
	conn   *wsconn.Conn // set once after the upgrade, before any reader but endFor (which locks mu)
	u      chat.User    // as of the upgrade; requests use the revalidated user (handle)
	lc     *liveConn
	ctx    context.Context // cancelled when the connection closes
	cancel context.CancelFunc
	sem    chan struct{} // requests in flight

	mu          sync.Mutex
	sub         *hub.Subscription
	scope       *eventScope // set with sub, before frames flow: what of the user's events this connection gets (scope.go)
	started     bool        // the subscribe answer is out; frames may flow
	pendingWake bool
	closed      bool
	endPending  endReason // endFor called before the upgrade finished
}

type wsRequest struct {
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type wsError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type wsResponse struct {
	Type    string   `json:"type"`
	ID      string   `json:"id"`
	OK      bool     `json:"ok"`
	Payload any      `json:"payload,omitempty"`
	Error   *wsError `json:"error,omitempty"`
}

func (c *wsConn) write(b []byte) error {
	return c.conn.WriteText(c.ctx, b)
}

func (c *wsConn) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("httpapi: encode frame: %w", err)
	}
	return c.write(b)
}

// release ends the connection's API state once: hub subscription, context, Shutdown's registry.
func (c *wsConn) release() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	sub := c.sub
	c.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
	c.cancel()
	c.a.connsMu.Lock()
	delete(c.a.conns, c)
	c.a.connsMu.Unlock()
	c.a.forget(c.lc)
	if c.a.d.Presence != nil {
		c.a.d.Presence.Leave(c)
	}
}

// endFor ends the connection for an account reason (live.go): 4401 when the session ended, 4012
// when the role changed. It does not block.
func (c *wsConn) endFor(why endReason) {
	c.mu.Lock()
	if c.conn == nil {
		c.endPending = why
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	switch why {
	case endSessionEnded:
		c.close(CloseSessionEnded, "session ended: sign in again")
	case endAccountChanged:
		c.close(CloseAccountChanged, "account changed: reconnect")
	}
}

// close releases the API state and starts the close handshake with code.
func (c *wsConn) close(code wsconn.StatusCode, reason string) {
	c.release()
	_ = c.conn.Close(code, reason)
}

// ended is the connection's OnClose.
func (c *wsConn) ended(error) { c.release() }

// onMessage handles one request; it runs on the connection's reading goroutine, so requests
// other than subscribe (answered in order) move to their own goroutines.
func (c *wsConn) onMessage(data []byte) {
	var req wsRequest
	if json.Unmarshal(data, &req) != nil || req.Type != "req" || req.ID == "" || len(req.ID) > 64 || req.Method == "" {
		_ = c.writeJSON(wsResponse{Type: "res", ID: req.ID, Error: &wsError{"bad_request", "expected {\"type\":\"req\",\"id\",\"method\",\"params\"}"}})
		return
	}
	if req.Method == "subscribe" {
		c.subscribe(req)
		return
	}
	select {
	case c.sem <- struct{}{}:
	default:
		_ = c.writeJSON(wsResponse{Type: "res", ID: req.ID, Error: &wsError{"rate_limited", "too many requests in flight"}})
		return
	}
	go func() {
		defer func() { <-c.sem }()
		c.handle(req)
	}()
}

// wake is the hub's callback: start a writer unless the subscribe answer is still pending.
func (c *wsConn) wake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if !c.started {
		c.pendingWake = true
		return
	}
	go c.drain()
}

// drain writes pending frames until none are left, each batch with one system call; it exists
// only while there is work.
func (c *wsConn) drain() {
	var frames []*hub.Frame
	var msgs [][]byte
	for {
		var err error
		frames, err = c.sub.Take(frames)
		if errors.Is(err, hub.ErrEvicted) {
			c.close(wsconn.StatusPolicyViolation, "slow consumer: reconnect and resume")
			return
		}
		if err != nil || len(frames) == 0 {
			return
		}
		msgs = msgs[:0]
		for _, f := range frames {
			if c.scope.allow(f.Event) {
				msgs = append(msgs, f.WS)
			}
		}
		if len(msgs) == 0 {
			continue
		}
		err = c.conn.WriteText(c.ctx, msgs...)
		clear(msgs)
		if err != nil {
			return // the connection is gone; ended releases it
		}
	}
}

type subscribeParams struct {
	Epoch string  `json:"epoch"`
	Since *uint64 `json:"since"`
}

func (c *wsConn) subscribe(req wsRequest) {
	var p subscribeParams
	if err := strictParams(req.Params, &p); err != nil {
		c.respond(req.ID, nil, err)
		return
	}
	c.mu.Lock()
	already := c.sub != nil
	c.mu.Unlock()
	if already {
		c.respond(req.ID, nil, fmt.Errorf("already subscribed: %w", chat.ErrConflict))
		return
	}
	cur := hub.Cursor{}
	if p.Epoch != "" && p.Since != nil {
		cur = hub.Cursor{Epoch: p.Epoch, Seq: *p.Since}
	}
	sub, res := c.a.d.Hub.Subscribe(c.u.ID, cur, c.wake)
	// An embedded session gets only its granted contexts' events (scope.go); read after the
	// subscription, so that a conversation created meanwhile is in the list or announced in it.
	scope, err := c.a.newEventScope(c.ctx, c.u)
	if err != nil {
		sub.Close()
		c.a.log.Error("websocket subscribe", "err", err)
		c.respond(req.ID, nil, err)
		return
	}
	c.mu.Lock()
	c.sub, c.scope = sub, scope
	closed := c.closed
	c.mu.Unlock()
	if closed {
		sub.Close()
		return
	}
	c.respond(req.ID, subscribeResult{Epoch: c.a.d.Hub.Epoch(), Seq: res.Seq, Replayed: res.Replayed, Resync: res.Resync}, nil)
	// A client that resyncs, or starts afresh (a new tab, a reload), gets the cumulative state of
	// the user's running replies; the deltas that follow carry "rev", so the client drops the ones
	// the snapshot already holds (the snapshot is taken after subscribing: nothing falls between).
	if res.Resync {
		_ = c.write(c.a.d.Hub.Unsequenced(chat.Resync{Reason: "events missed"}.Event(), res.Seq).WS)
		// How every run that may have ended in the gap ended (final, aborted, error, with text).
		for _, ev := range scope.filter(c.a.d.Bridge.EndedSnapshot(c.u)) {
			_ = c.write(c.a.d.Hub.Unsequenced(ev, res.Seq).WS)
		}
	}
	if res.Resync || cur.Epoch == "" {
		for _, ev := range scope.filter(c.a.d.Bridge.Snapshot(c.u)) {
			_ = c.write(c.a.d.Hub.Unsequenced(ev, res.Seq).WS)
		}
	}
	c.mu.Lock()
	c.started = true
	wake := c.pendingWake && !c.closed
	c.pendingWake = false
	if wake {
		go c.drain()
	}
	c.mu.Unlock()
}

func (c *wsConn) respond(id string, payload any, err error) {
	if err != nil {
		ae := classify(err)
		_ = c.writeJSON(wsResponse{Type: "res", ID: id, Error: &wsError{ae.Code, ae.Message}})
		return
	}
	if payload == nil {
		payload = struct{}{}
	}
	_ = c.writeJSON(wsResponse{Type: "res", ID: id, OK: true, Payload: payload})
}

func strictParams(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytesReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return chat.Public(chat.ErrInvalid, "invalid params ("+httpjson.Problem(err)+")")
	}
	return nil
}

func (c *wsConn) handle(req wsRequest) {
	ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
	defer cancel()
	b := c.a.d.Bridge
	// Every request runs as the user the session names now: a socket opened before a sign-out,
	// a revocation or a demotion must not keep the old rights (issue 16).
	u, why := c.a.check(ctx, c.lc)
	if why != 0 {
		e := wsError{"unauthorized", "session ended: sign in again"}
		if why == endAccountChanged {
			e = wsError{"reconnect", "your account changed: reconnect"}
		}
		_ = c.writeJSON(wsResponse{Type: "res", ID: req.ID, Error: &e})
		c.endFor(why)
		return
	}
	if c.a.d.Limiter != nil && req.Method != "ping" {
		if ok, _ := c.a.d.Limiter.Allow("user:" + u.ID); !ok {
			c.respond(req.ID, nil, chat.ErrRateLimited)
			return
		}
	}
	var payload any
	var err error
	switch req.Method {
	case "ping":
		payload = struct{}{}
	case "conversations.list":
		var p struct {
			Archived bool `json:"archived"`
		}
		if err = strictParams(req.Params, &p); err == nil {
			var list, gw []bridge.Conversation
			list, gw, err = b.List(ctx, u, p.Archived)
			out := listResult{Conversations: list}
			if u.IsOwner() {
				if gw == nil {
					gw = []bridge.Conversation{}
				}
				out.Gateway = &gw
			}
			payload = out
		}
	case "conversations.create":
		var p createBody // the REST body's fields
		if err = strictParams(req.Params, &p); err == nil {
			payload, err = b.Create(ctx, u, bridge.CreateParams(p))
		}
	case "conversations.update":
		var p struct {
			ID string `json:"id"`
			updateBody
		}
		if err = strictParams(req.Params, &p); err == nil {
			payload, err = b.Update(ctx, u, p.ID, bridge.UpdateParams(p.updateBody))
		}
	case "conversations.delete":
		var p struct {
			ID string `json:"id"`
		}
		if err = strictParams(req.Params, &p); err == nil {
			err = b.Delete(ctx, u, p.ID)
			payload = struct{}{}
		}
	case "history":
		var p struct {
			Conversation string `json:"conversation"`
			Limit        int    `json:"limit"`
			Before       string `json:"before"`
		}
		if err = strictParams(req.Params, &p); err == nil {
			payload, err = c.a.historyOp(ctx, u, p.Conversation, p.Limit, p.Before)
		}
	case "send":
		var p struct {
			Conversation string `json:"conversation"`
			sendBody
		}
		if err = strictParams(req.Params, &p); err == nil {
			var sp bridge.SendParams
			if sp, err = p.params(p.Conversation, false); err == nil {
				payload, err = b.Send(ctx, u, sp)
			}
		}
	case "abort":
		var p struct {
			Conversation string `json:"conversation"`
			abortBody
		}
		if err = strictParams(req.Params, &p); err == nil {
			payload, err = c.a.abortOp(ctx, u, p.Conversation, p.abortBody)
		}
	case "agents.list":
		payload, err = b.AgentsFor(ctx, u)
	case "approvals.list":
		if err = strictParams(req.Params, &struct{}{}); err == nil {
			payload, err = c.a.approvalsOp(ctx, u)
		}
	case "approvals.resolve":
		var p struct {
			ID string `json:"id"`
			resolveBody
		}
		if err = strictParams(req.Params, &p); err == nil {
			payload, err = c.a.resolveOp(ctx, u, p.ID, p.resolveBody)
		}
	default:
		var handled bool
		if payload, handled, err = c.handleShare(ctx, u, req); !handled { // share.go
			err = chat.Public(chat.ErrInvalid, "unknown method")
		}
	}
	if err != nil {
		payload = nil
	}
	c.respond(req.ID, payload, err)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// newWSServer is the WebSocket engine of an API: one epoll instance (while connections exist)
// for all /ws connections.
func newWSServer(d Deps) *wsconn.Server {
	return wsconn.NewServer(wsconn.Config{
		ReadLimit:    d.MaxWSMessage,
		WriteTimeout: d.WriteTimeout,
		PingInterval: d.PingInterval,
		PongTimeout:  2 * d.WriteTimeout,
		Logger:       d.Logger,
	})
}
