package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	clientID   = "gateway-client"
	clientMode = "backend"
	roleOp     = "operator"

	capToolEvents    = "tool-events"
	capExecApprovals = "exec-approvals"

	closeTickTimeout = 4000
	closeRevoked     = 4001

	// healthyAfter is how long a connection must stay up before the backoff resets.
	defaultHealthyAfter = 10 * time.Second
)

// Client is one operator connection to an OpenClaw Gateway, reconnecting forever while
// Run runs. All methods are safe for concurrent use. Create it with New.
type Client struct {
	cfg Config
	log *slog.Logger
	dev *deviceIdentity

	// test hooks
	dial         dialFunc
	probe        func(ctx context.Context, portWasClosed bool) bool // is the Gateway ready again? (probeReady)
	now          func() time.Time
	int64n       func(int64) int64
	healthyAfter time.Duration
	probeClient  *http.Client

	running atomic.Bool
	idSeq   atomic.Uint64

	mu            sync.Mutex
	status        Status
	cur           *conn
	devToken      *deviceTokenData
	warnedPairing string

	queue chan dispatchItem // nil outside Run
	track seqTracker        // reader goroutine only
}

type dispatchItem struct {
	ev *Event
	st *Status
}

// conn is one established (post hello-ok) connection.
type conn struct {
	c          *Client
	t          transport
	maxPayload int64
	ctx        context.Context // cancelled when the connection ends

	mu      sync.Mutex
	pending map[string]chan *inFrame
	closed  bool
	done    chan struct{} // closed when the connection ends
	cause   error
	restart time.Duration // shutdown.restartExpectedMs hint
	shut    string        // shutdown.reason
	ownCode int           // close code we initiated (4000 watchdog), 0 otherwise
}

// New validates cfg, loads or creates the device identity in cfg.StateDir and returns
// a Client. It does not connect: call Run.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dev, err := loadOrCreateIdentity(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	tok, err := loadDeviceToken(cfg.StateDir, dev.id)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:          cfg,
		log:          cfg.Logger.With(slog.String("component", "gateway")),
		dev:          dev,
		dial:         dialWebSocket,
		now:          time.Now,
		healthyAfter: defaultHealthyAfter,
		devToken:     tok,
	}
	c.probe = c.probeReady
	c.probeClient = &http.Client{} // as the WebSocket dial (http.DefaultClient's transport)
	c.status = Status{State: StateIdle, DeviceID: dev.id, Since: c.now()}
	return c, nil
}

// DeviceID returns this client's device id (lower-hex sha256 of its Ed25519 public key).
func (c *Client) DeviceID() string { return c.dev.id }

// Status returns a snapshot of the connection state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.clone()
}

// redact removes this client's secrets from s.
func (c *Client) redact(s string) string {
	c.mu.Lock()
	secrets := []string{c.cfg.Token, c.cfg.Password}
	if c.devToken != nil {
		secrets = append(secrets, c.devToken.DeviceToken)
	}
	c.mu.Unlock()
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// Run connects and keeps the connection up, reconnecting with capped exponential
// backoff and full jitter, until ctx is done; it then closes the connection and
// returns nil. It never gives up on authentication or pairing failures: it reports
// them through Status and HandleStatus and retries. Run may be called only once.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("gateway: Run called more than once")
	}
	c.queue = make(chan dispatchItem, 256)
	var wg sync.WaitGroup
	wg.Go(c.dispatchLoop)
	defer func() {
		c.setStatus(func(s *Status) { s.State = StateStopped; s.Reason = "client stopped"; s.RetryIn = 0 })
		close(c.queue)
		wg.Wait()
	}()

	bo := backoff{min: c.cfg.ReconnectMinDelay, max: c.cfg.ReconnectMaxDelay, int64n: c.int64n}
	for {
		out := c.connectOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if out.healthy {
			bo.reset()
		}
		delay := bo.next()
		if out.minDelay > delay {
			delay = min(out.minDelay, 5*time.Minute)
		}
		if out.state == StateIncompatible {
			// Retrying sooner cannot help: the Gateway has to be upgraded first. Slow and
			// steady (no jitter growth), so an upgrade is picked up within one delay.
			delay = out.minDelay
		}
		attempt := bo.attempt
		c.setStatus(func(s *Status) {
			s.State = out.state
			s.Reason = out.reason
			s.CloseCode = out.closeCode
			s.Attempt = attempt
			s.RetryIn = delay
			s.PairingRequestID = out.pairingID
			s.GatewayProtocol = out.gatewayProtocol
			s.ApproveCommand = ""
			if out.pairingID != "" {
				s.ApproveCommand = "openclaw devices approve " + out.pairingID
			}
		})
		c.log.Debug("gateway reconnect scheduled", slog.Duration("delay", delay), slog.Int("attempt", attempt))
		if c.wait(ctx, delay, out) {
			bo.reset() // the Gateway is back: reconnect now, and from the shortest delay
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// wait sleeps for delay or until ctx is done. After an outcome that says the Gateway is down
// or starting, it probes every probeEvery whether the Gateway is ready and returns early,
// reporting true, when it is: a Gateway that restarts is reconnected within a probe interval of
// becoming ready, not after a backoff grown while it was down.
func (c *Client) wait(ctx context.Context, delay time.Duration, out outcome) bool {
	t := time.NewTimer(delay)
	defer t.Stop()
	var tick <-chan time.Time
	if out.down && delay > c.cfg.ReconnectMinDelay && delay > probeEvery {
		tk := time.NewTicker(probeEvery)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		case <-tick:
			if c.probe(ctx, out.dialFailed) {
				c.log.Debug("gateway ready again; reconnecting now")
				return true
			}
		}
	}
}

// dispatchLoop delivers events and statuses to the Handler in order.
func (c *Client) dispatchLoop() {
	h := c.cfg.Handler
	for it := range c.queue {
		if h == nil {
			continue
		}
		if it.ev != nil {
			h.HandleEvent(*it.ev)
		} else {
			h.HandleStatus(*it.st)
		}
	}
}

// setStatus updates the status under the lock and queues a copy for the Handler when
// the state or reason changed.
func (c *Client) setStatus(f func(*Status)) {
	c.mu.Lock()
	before := c.status
	f(&c.status)
	c.status.Ready = c.status.State == StateConnected
	if c.status.State != before.State {
		c.status.Since = c.now()
	}
	snap := c.status.clone()
	c.mu.Unlock()
	if c.queue != nil {
		c.queue <- dispatchItem{st: &snap}
	}
}

func (c *Client) emit(ev Event) { c.queue <- dispatchItem{ev: &ev} }

// outcome is the result of one connection attempt.
type outcome struct {
	state     State
	reason    string
	minDelay  time.Duration
	healthy   bool
	closeCode int
	pairingID string
	// gatewayProtocol is the Gateway's protocol version in StateIncompatible.
	gatewayProtocol int
	// down: the Gateway is down or still starting (the dial failed, it refused with
	// UNAVAILABLE, or it closed during the handshake); while waiting, Run probes its readiness
	// and retries as soon as it is ready. dialFailed: its port was closed.
	down, dialFailed bool
}

// probeEvery is how often Run probes a Gateway that was down.
const probeEvery = 200 * time.Millisecond

// probeReady reports whether the Gateway is ready again: its /readyz (on the Gateway's own
// port, http for ws:// and https for wss://) answers 200. A Gateway (or a proxy in front of it)
// without /readyz counts as ready once its port opens, when it was closed before.
func (c *Client) probeReady(ctx context.Context, portWasClosed bool) bool {
	u, err := url.Parse(c.cfg.URL)
	if err != nil {
		return false
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, scheme+"://"+u.Host+"/readyz", nil)
	if err != nil {
		return false
	}
	req.Close = true // no idle connection left behind between probes
	res, err := c.probeClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	_ = res.Body.Close()
	switch {
	case res.StatusCode == http.StatusOK:
		return true
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed:
		return portWasClosed
	default:
		return false
	}
}

// connectOnce dials, handshakes and serves one connection until it ends.
func (c *Client) connectOnce(ctx context.Context) outcome {
	c.setStatus(func(s *Status) { s.State = StateConnecting; s.Reason = ""; s.RetryIn = 0 })
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	t, err := c.dial(hctx, c.cfg.URL)
	if err != nil {
		if ctx.Err() != nil {
			return outcome{state: StateStopped}
		}
		c.log.Warn("gateway dial failed", slog.String("error", c.redact(err.Error())))
		return outcome{state: StateDisconnected, reason: "dial failed: " + c.redact(err.Error()), down: true, dialFailed: true}
	}
	t.SetReadLimit(preHelloReadLimit)
	hello, out, ok := c.handshake(hctx, t)
	if !ok {
		_ = t.CloseNow()
		return out
	}
	cancel()
	return c.serve(ctx, t, hello)
}

// handshake reads connect.challenge, sends connect and waits for hello-ok.
func (c *Client) handshake(ctx context.Context, t transport) (*HelloOK, outcome, bool) {
	fail := func(reason string) (*HelloOK, outcome, bool) {
		if ctx.Err() != nil && reason == "" {
			reason = "handshake timed out"
		}
		c.log.Warn("gateway handshake failed", slog.String("reason", reason))
		return nil, outcome{state: StateDisconnected, reason: reason, down: true}, false
	}
	var nonce string
	for nonce == "" {
		data, err := t.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fail("timed out waiting for connect.challenge")
			}
			return fail("connection closed before connect.challenge: " + c.redact(err.Error()))
		}
		f, err := decodeFrame(data)
		if err != nil || f.Type != frameEvent || f.Event != "connect.challenge" {
			continue
		}
		var ch challengePayload
		if json.Unmarshal(f.Payload, &ch) != nil || ch.Nonce == "" {
			return fail("invalid connect.challenge")
		}
		nonce = ch.Nonce
	}
	params, usedDeviceToken := c.connectParams(nonce)
	id := "connect-" + strconv.FormatUint(c.idSeq.Add(1), 10)
	frame, err := json.Marshal(requestFrame{Type: frameReq, ID: id, Method: "connect", Params: params})
	if err != nil {
		return fail("encode connect: " + err.Error())
	}
	c.log.Debug("gateway connect", slog.String("device_id", c.dev.id), slog.Any("auth", *params.Auth), slog.Any("scopes", params.Scopes))
	if err := t.Write(ctx, frame); err != nil {
		return fail("send connect: " + c.redact(err.Error()))
	}
	for {
		data, err := t.Read(ctx)
		if err != nil {
			var ce *closeError
			if errors.As(err, &ce) {
				out := c.closedOutcome(ce.code, c.redact(ce.reason), "")
				out.down = out.state == StateDisconnected // 1012/1013 while it starts
				return nil, out, false
			}
			if ctx.Err() != nil {
				return fail("timed out waiting for hello-ok")
			}
			return fail("connection lost during connect: " + c.redact(err.Error()))
		}
		f, err := decodeFrame(data)
		if err != nil || f.Type != frameRes || f.ID != id {
			continue
		}
		if !f.OK {
			gerr := f.Error.toError("connect", c.redact)
			return nil, c.connectFailed(gerr, usedDeviceToken), false
		}
		var h HelloOK
		if err := json.Unmarshal(f.Payload, &h); err != nil {
			return fail("invalid hello-ok: " + shortJSONErr(err))
		}
		return &h, outcome{}, true
	}
}

// connectParams builds connect.params, choosing the credentials (see doc.go "Auth").
func (c *Client) connectParams(nonce string) (*ConnectParams, bool) {
	caps := []string{capToolEvents}
	if c.cfg.Approvals {
		caps = append(caps, capExecApprovals)
	}
	p := &ConnectParams{
		MinProtocol: Protocol,
		MaxProtocol: Protocol,
		Client: ConnectClient{
			ID:          clientID,
			DisplayName: c.cfg.DisplayName,
			Version:     c.cfg.ClientVersion,
			Platform:    runtime.GOOS,
			Mode:        clientMode,
		},
		Role:      roleOp,
		Scopes:    slices.Clone(c.cfg.Scopes),
		Caps:      caps,
		UserAgent: "clawchat/" + c.cfg.ClientVersion,
	}
	c.mu.Lock()
	tok := c.devToken
	c.mu.Unlock()
	used := false
	switch {
	case tok != nil && covers(tok.Scopes, p.Scopes):
		p.Auth = &ConnectAuth{DeviceToken: tok.DeviceToken}
		used = true
	case c.cfg.Token != "":
		p.Auth = &ConnectAuth{Token: c.cfg.Token}
	default:
		p.Auth = &ConnectAuth{Password: c.cfg.Password}
	}
	c.dev.sign(p, nonce, c.now().UnixMilli())
	return p, used
}

// connectFailed classifies a connect error response.
func (c *Client) connectFailed(e *Error, usedDeviceToken bool) outcome {
	out := outcome{state: StateAuthFailed, minDelay: e.RetryAfter}
	switch {
	case e.DetailsCode == DetailsPairingRequired:
		rid := e.PairingRequestID()
		out.state = StatePairingRequired
		out.pairingID = rid
		out.reason = fmt.Sprintf("device %s is not paired with the gateway: on the gateway host run `openclaw devices approve %s`", c.dev.id, rid)
		if rid == "" {
			out.reason = fmt.Sprintf("device %s is not paired with the gateway: approve it with `openclaw devices list` / `openclaw devices approve <requestId>` on the gateway host", c.dev.id)
		}
		c.mu.Lock()
		warn := c.warnedPairing != rid
		c.warnedPairing = rid
		c.mu.Unlock()
		if warn {
			c.log.Warn("gateway pairing required", slog.String("device_id", c.dev.id), slog.String("request_id", rid),
				slog.String("approve_command", "openclaw devices approve "+rid))
		}
		return out
	case e.DetailsCode == DetailsAuthDeviceTokenMismatch || (usedDeviceToken && e.DetailsCode == DetailsAuthScopeMismatch):
		c.mu.Lock()
		c.devToken = nil
		c.mu.Unlock()
		if err := removeDeviceToken(c.cfg.StateDir); err != nil {
			c.log.Error("gateway: cannot remove rejected device token", slog.String("error", err.Error()))
		}
		out.reason = "gateway rejected the stored device token (" + e.DetailsCode + "); dropped it, retrying with the shared secret"
		c.log.Warn("gateway device token rejected", slog.String("code", e.DetailsCode))
		return out
	case e.DetailsCode == DetailsAuthRateLimited:
		out.reason = "gateway rate-limited authentication attempts; waiting before retrying"
	case e.DetailsCode == DetailsAuthTokenMismatch:
		out.reason = "gateway refused the shared token (AUTH_TOKEN_MISMATCH): check the configured gateway token"
	case e.DetailsCode == DetailsAuthPasswordMismatch:
		out.reason = "gateway refused the shared password (AUTH_PASSWORD_MISMATCH): check the configured gateway password"
	case strings.HasPrefix(e.DetailsCode, "AUTH_"):
		out.reason = "gateway refused authentication (" + e.DetailsCode + "): " + e.Message
	case strings.HasPrefix(e.DetailsCode, "DEVICE_"):
		out.reason = "gateway rejected the device identity (" + e.DetailsCode + "): check the clock (±120 s) or report a bug: " + e.Message
	case isProtocolMismatch(e):
		proto := e.detailInt("expectedProtocol")
		out.state = StateIncompatible
		out.gatewayProtocol = proto
		out.reason = ProtocolMismatchReason(proto)
		out.minDelay = IncompatibleRetryDelay
		c.log.Error("gateway refused clawchat's protocol version", slog.String("gateway_message", e.Message),
			slog.String("code", e.Code), slog.String("details_code", e.DetailsCode),
			slog.Int("gateway_protocol", proto), slog.Int("client_protocol", Protocol),
			slog.String("action", out.reason), slog.Duration("retry_in", out.minDelay))
		return out
	case e.Code == CodeUnavailable:
		out.state = StateDisconnected
		out.down = true // still starting
		out.reason = "gateway unavailable: " + e.Message
	default:
		out.state = StateDisconnected
		out.reason = e.Error()
	}
	c.log.Warn("gateway connect refused", slog.String("code", e.Code), slog.String("details_code", e.DetailsCode),
		slog.String("gateway_message", e.Message), slog.Duration("retry_after", e.RetryAfter))
	return out
}

// closedOutcome maps a close code to an outcome.
func (c *Client) closedOutcome(code int, reason, shutdown string) outcome {
	out := outcome{state: StateDisconnected, closeCode: code}
	switch {
	case code == closeRevoked:
		out.state = StateRevoked
		out.reason = fmt.Sprintf("gateway closed the connection with 4001 (%s): credentials revoked or changed", reason)
	case code == closeTickTimeout:
		out.reason = "no frames from the gateway within the liveness window; reconnecting"
	case shutdown != "":
		out.reason = "gateway shut down (" + shutdown + ")"
	case code == 1012:
		out.reason = "gateway restarting"
	case code != 0:
		out.reason = fmt.Sprintf("connection closed (%d %s)", code, reason)
	default:
		out.reason = "connection lost"
	}
	return out
}

// serve runs an established connection until it ends.
func (c *Client) serve(ctx context.Context, t transport, h *HelloOK) outcome {
	started := c.now()
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	cn := &conn{c: c, t: t, ctx: cctx, pending: make(map[string]chan *inFrame), done: make(chan struct{})}
	cn.maxPayload = h.Policy.MaxPayload
	if cn.maxPayload > 0 {
		t.SetReadLimit(max(cn.maxPayload, 64<<10))
	}
	c.applyHello(h, cn)
	c.track.newConnection()

	var wg sync.WaitGroup
	tick := time.Duration(h.Policy.TickIntervalMs) * time.Millisecond
	var wd *watchdog
	if tick > 0 {
		wd = newWatchdog(2*tick, func() {
			cn.mu.Lock()
			cn.ownCode = closeTickTimeout
			cn.mu.Unlock()
			c.log.Warn("gateway liveness timeout", slog.Duration("silence", 2*tick))
			go func() { _ = t.Close(closeTickTimeout, "tick timeout") }()
		})
		defer wd.stop()
	}
	wg.Go(func() { c.readLoop(cn, wd) })
	wg.Go(func() { c.pingLoop(cn) })

	select {
	case <-ctx.Done():
		_ = t.Close(1000, "client shutdown")
		cancel()
	case <-cn.done:
	}
	<-cn.done
	_ = t.CloseNow()
	cancel()
	wg.Wait()

	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
	}
	c.mu.Unlock()

	cn.mu.Lock()
	cause, restart, shut, own := cn.cause, cn.restart, cn.shut, cn.ownCode
	cn.mu.Unlock()
	code, reason := 0, ""
	var ce *closeError
	if errors.As(cause, &ce) {
		code, reason = ce.code, c.redact(ce.reason)
	}
	if own != 0 {
		code = own
	}
	out := c.closedOutcome(code, reason, shut)
	out.minDelay = restart
	out.healthy = c.now().Sub(started) >= c.healthyAfter
	if ctx.Err() == nil {
		c.log.Info("gateway connection ended", slog.Int("close_code", code), slog.String("reason", out.reason))
	}
	return out
}

// applyHello records hello-ok, persists a new device token and publishes the status.
func (c *Client) applyHello(h *HelloOK, cn *conn) {
	if h.Auth.DeviceToken != "" {
		c.mu.Lock()
		changed := c.devToken == nil || c.devToken.DeviceToken != h.Auth.DeviceToken || !slices.Equal(c.devToken.Scopes, h.Auth.Scopes)
		tok := &deviceTokenData{DeviceID: c.dev.id, DeviceToken: h.Auth.DeviceToken, Role: h.Auth.Role, Scopes: slices.Clone(h.Auth.Scopes), IssuedAtMs: h.Auth.IssuedAtMs}
		if changed {
			c.devToken = tok
		}
		c.mu.Unlock()
		if changed {
			if err := saveDeviceToken(c.cfg.StateDir, tok); err != nil {
				c.log.Error("gateway: cannot persist device token", slog.String("error", err.Error()))
			} else {
				c.log.Info("gateway device token stored", slog.String("device_id", c.dev.id), slog.Any("scopes", h.Auth.Scopes))
			}
		}
	}
	state, reason := StateConnected, ""
	// operator.admin is wanted, not required: without it owners still chat, and clawchat refuses
	// members' messages (it cannot suppress command interpretation for them).
	required := slices.DeleteFunc(slices.Clone(c.cfg.Scopes), func(s string) bool { return s == ScopeAdmin })
	if slices.Contains(c.cfg.Scopes, ScopeAdmin) && !slices.Contains(h.Auth.Scopes, ScopeAdmin) && covers(h.Auth.Scopes, required) {
		c.log.Warn("gateway did not grant operator.admin: members cannot send messages until it does; approve the scope upgrade for device "+c.dev.id+" (openclaw devices approve <requestId>) or see docs/security.md",
			slog.Any("granted", h.Auth.Scopes))
	}
	if !covers(h.Auth.Scopes, required) {
		state = StateNotReady
		if len(h.Auth.Scopes) == 0 {
			reason = "gateway granted no operator scopes: this connection is not local; pair the device (device " + c.dev.id +
				") with `openclaw devices approve <requestId>` on the gateway host, or connect over loopback"
		} else {
			var missing []string
			for _, s := range required {
				if !slices.Contains(h.Auth.Scopes, s) {
					missing = append(missing, s)
				}
			}
			reason = "gateway did not grant scopes " + strings.Join(missing, ", ") + ": approve a scope upgrade for device " + c.dev.id
		}
		c.log.Warn("gateway scopes missing", slog.Any("granted", h.Auth.Scopes), slog.Any("requested", c.cfg.Scopes))
	}
	c.mu.Lock()
	c.cur = cn
	c.warnedPairing = ""
	c.mu.Unlock()
	c.setStatus(func(s *Status) {
		s.State = state
		s.Reason = reason
		s.Scopes = slices.Clone(h.Auth.Scopes)
		s.AuthMethod = h.Auth.Method
		s.Policy = Policy{
			MaxPayload:       h.Policy.MaxPayload,
			MaxBufferedBytes: h.Policy.MaxBufferedBytes,
			TickInterval:     time.Duration(h.Policy.TickIntervalMs) * time.Millisecond,
		}
		if a := h.Policy.Attachments; a != nil {
			s.Policy.AttachmentMaxBytes = a.MaxBytes
			s.Policy.AttachmentMaxImageBytes = a.MaxImageBytes
		}
		s.SessionDefaults = SessionDefaults{}
		if h.Snapshot.SessionDefaults != nil {
			s.SessionDefaults = *h.Snapshot.SessionDefaults
		}
		s.Methods = slices.Clone(h.Features.Methods)
		s.Capabilities = slices.Clone(h.Features.Capabilities)
		s.ServerVersion = h.Server.Version
		s.ConnID = h.Server.ConnID
		s.BootID = h.Server.BootID
		s.PairingRequestID = ""
		s.ApproveCommand = ""
		s.CloseCode = 0
		s.RetryIn = 0
	})
	c.log.Info("gateway connected", slog.String("server_version", h.Server.Version), slog.String("conn_id", h.Server.ConnID),
		slog.String("auth_method", h.Auth.Method), slog.Any("scopes", h.Auth.Scopes), slog.String("state", string(state)))
}

// readLoop reads frames until the connection ends.
func (c *Client) readLoop(cn *conn, wd *watchdog) {
	malformed := 0
	for {
		data, err := cn.t.Read(cn.ctx)
		if err != nil {
			if errors.Is(err, errBinaryFrame) {
				continue
			}
			cn.finish(err)
			return
		}
		if wd != nil {
			wd.kick()
		}
		f, err := decodeFrame(data)
		if err != nil {
			malformed++
			if malformed <= 10 || malformed%1000 == 0 {
				c.log.Warn("gateway sent a malformed frame; ignored", slog.Int("bytes", len(data)), slog.Int("count", malformed))
			}
			continue
		}
		switch f.Type {
		case frameRes:
			cn.deliver(f)
		case frameEvent:
			if f.Event == "shutdown" {
				var sp shutdownPayload
				_ = json.Unmarshal(f.Payload, &sp)
				cn.mu.Lock()
				cn.shut = sp.Reason
				if sp.Reason == "" {
					cn.shut = "shutdown"
				}
				cn.restart = time.Duration(sp.RestartExpectedMs) * time.Millisecond
				cn.mu.Unlock()
				c.log.Info("gateway shutdown announced", slog.String("reason", sp.Reason), slog.Int64("restart_expected_ms", sp.RestartExpectedMs))
			}
			if ev, ok := c.track.process(f.Event, f.Seq, f.Payload); ok {
				if ev.Gap != nil {
					c.log.Info("gateway event gap", slog.String("kind", string(ev.Gap.Kind)), slog.Int64("expected", ev.Gap.Expected), slog.Int64("received", ev.Gap.Received))
				}
				c.emit(ev)
			}
		}
	}
}

// pingLoop sends WebSocket pings; a ping unanswered within PingInterval ends the connection.
func (c *Client) pingLoop(cn *conn) {
	tk := time.NewTicker(c.cfg.PingInterval)
	defer tk.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-tk.C:
			pctx, cancel := context.WithTimeout(cn.ctx, c.cfg.PingInterval)
			err := cn.t.Ping(pctx)
			cancel()
			if err != nil {
				select {
				case <-cn.done:
					return
				default:
				}
				c.log.Warn("gateway ping failed; closing", slog.String("error", err.Error()))
				cn.mu.Lock()
				cn.ownCode = closeTickTimeout
				cn.mu.Unlock()
				_ = cn.t.CloseNow()
				return
			}
		}
	}
}

// finish marks the connection ended and fails pending requests.
func (cn *conn) finish(cause error) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed {
		return
	}
	cn.closed = true
	cn.cause = cause
	cn.pending = nil
	close(cn.done)
}

// deliver hands a response to its pending request; unknown ids (late answers) are dropped.
func (cn *conn) deliver(f *inFrame) {
	cn.mu.Lock()
	ch, ok := cn.pending[f.ID]
	delete(cn.pending, f.ID)
	cn.mu.Unlock()
	if ok {
		ch <- f // buffered 1
	}
}

func (cn *conn) forget(id string) {
	cn.mu.Lock()
	delete(cn.pending, id)
	cn.mu.Unlock()
}

// Request sends method with params and decodes the response payload into result
// (which may be nil). It fails at once with ErrNotConnected when no connection is up,
// with a wrapped ErrNotConnected when the connection drops before the answer, with
// *Error when the Gateway answers ok:false, and with a wrapped context error on
// cancellation or after Config.RequestTimeout (or the ctx deadline, if earlier).
// Params must marshal to the method's exact (closed) schema. Safe for concurrent use;
// answers may arrive in any order.
func (c *Client) Request(ctx context.Context, method string, params, result any) error {
	if method == "" || method == "connect" {
		return fmt.Errorf("gateway: invalid method %q", method)
	}
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn == nil {
		return fmt.Errorf("gateway: %s: %w", method, ErrNotConnected)
	}
	id := "r" + strconv.FormatUint(c.idSeq.Add(1), 10)
	frame, err := json.Marshal(requestFrame{Type: frameReq, ID: id, Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("gateway: %s: encode params: %w", method, err)
	}
	if cn.maxPayload > 0 && int64(len(frame)) > cn.maxPayload {
		return fmt.Errorf("gateway: %s: %d bytes: %w", method, len(frame), ErrFrameTooLarge)
	}
	ch := make(chan *inFrame, 1)
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return fmt.Errorf("gateway: %s: %w", method, ErrNotConnected)
	}
	cn.pending[id] = ch
	cn.mu.Unlock()
	defer cn.forget(id)

	timeout := c.cfg.RequestTimeout
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Write with a connection-scoped context: cancelling a caller's ctx mid-write
	// must not tear down the shared connection.
	wctx, wcancel := context.WithTimeout(cn.ctx, timeout)
	err = cn.t.Write(wctx, frame)
	wcancel()
	if err != nil {
		return fmt.Errorf("gateway: %s: write failed: %w", method, ErrNotConnected)
	}
	select {
	case f := <-ch:
		if !f.OK {
			return f.Error.toError(method, c.redact)
		}
		if result != nil && len(f.Payload) > 0 {
			if err := json.Unmarshal(f.Payload, result); err != nil {
				return fmt.Errorf("gateway: %s: decode result: %s", method, shortJSONErr(err))
			}
		}
		return nil
	case <-cn.done:
		return fmt.Errorf("gateway: %s: connection lost: %w: %w", method, ErrNoAnswer, ErrNotConnected)
	case <-rctx.Done():
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gateway: %s: %w: %w", method, ErrNoAnswer, err)
		}
		return fmt.Errorf("gateway: %s: %w within %s: %w", method, ErrNoAnswer, timeout, context.DeadlineExceeded)
	}
}
