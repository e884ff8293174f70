package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/clawchat/clawchat/internal/accesslog"
	"github.com/clawchat/clawchat/internal/auth"
	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/config"
	"github.com/clawchat/clawchat/internal/delivery"
	"github.com/clawchat/clawchat/internal/embed"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/httpapi"
	"github.com/clawchat/clawchat/internal/httpjson"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/metrics"
	"github.com/clawchat/clawchat/internal/push"
	"github.com/clawchat/clawchat/internal/ratelimit"
	"github.com/clawchat/clawchat/internal/reactions"
	"github.com/clawchat/clawchat/internal/relay"
	"github.com/clawchat/clawchat/internal/share"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/version"
	"github.com/clawchat/clawchat/internal/web"
	"github.com/clawchat/clawchat/internal/websec"
)

// server is everything serve builds, in wiring order.
type server struct {
	cfg     config.Config
	log     *slog.Logger
	db      *store.DB
	metrics *metrics.Metrics
	auth    *auth.Service
	hub     *hub.Hub
	gw      *gateway.Client
	bridge  *bridge.Service
	push    *push.Service // nil when Web Push is not configured
	relay   *relay.Relay  // cross-instance conversation events; nil unless PostgreSQL
	// delivery delivers the bridge's events (hub, relay, metrics, push); its push notifications
	// in flight are drained before the store closes
	delivery *delivery.Publisher
	share    *share.Service
	presence *share.Presence
	fanout   *share.Fanout // the chat core's publisher: events of shared conversations to every participant
	api      *httpapi.API
	embed    *embed.Service // nil unless host apps are configured (CLAWCHAT_EMBED_APPS)
	handler  http.Handler
	closers  []func() error // closed after the store, in reverse order
	// stopping is set when shutdown begins, so /readyz turns 503 before the listener closes.
	stopping atomic.Bool
}

func serve(ctx context.Context, args []string, io IO) error {
	if len(args) > 0 {
		return &UsageError{Msg: fmt.Sprintf("serve takes no arguments, got %q", args)}
	}
	cfg, err := config.Load(io.Env)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, io)
	for _, n := range cfg.Notices {
		log.Warn(n)
	}
	// Listen first: /healthz answers while the services are built (store migrations, OIDC
	// discovery, password hashing), and /readyz says "starting".
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("CLAWCHAT_LISTEN %s: %w", cfg.Listen, err)
	}
	h := &swapHandler{}
	h.set(websec.Headers(startingHandler(), websec.HeaderOptions{TrustedProxies: cfg.TrustedProxies}))
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	s, err := build(ctx, cfg, log, io)
	if err != nil {
		srv.Close()
		return err
	}
	defer s.close()
	if cfg.Metrics.Listen != "" {
		stopMetrics, err := s.serveMetrics(cfg.Metrics.Listen) // metricslisten.go
		if err != nil {
			srv.Close()
			return err
		}
		defer stopMetrics()
	}
	h.set(s.handler)
	// Start-up hashed passwords with argon2id (19 MiB each); give that memory back now rather
	// than at the runtime's next forced GC, so an idle instance is small, and again after every
	// burst of sign-ins (at most every few seconds).
	debug.FreeOSMemory()
	rel := &memReleaser{delay: 3 * time.Second}
	defer rel.stop()
	s.auth.Hasher().SetAfterHash(rel.schedule)
	return s.run(ctx, srv, ln.Addr().String(), serveErr)
}

// memReleaser returns freed heap to the OS a little after a burst of password hashes ends.
type memReleaser struct {
	delay time.Duration
	mu    sync.Mutex
	t     *time.Timer
	done  bool
}

func (m *memReleaser) schedule() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.t != nil || m.done {
		return
	}
	m.t = time.AfterFunc(m.delay, func() {
		debug.FreeOSMemory()
		m.mu.Lock()
		m.t = nil
		m.mu.Unlock()
	})
}

func (m *memReleaser) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done = true
	if m.t != nil {
		m.t.Stop()
	}
}

// swapHandler serves the start-up handler until the real one is ready.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// startingHandler answers while clawchat starts: alive, not ready.
func startingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		w.Header().Set("Retry-After", "1")
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "starting"})
	})
}

// build wires every service. It fails fast on anything misconfigured (store, OIDC discovery,
// push keys) so a bad deployment never starts half-working.
func build(ctx context.Context, cfg config.Config, log *slog.Logger, io IO) (*server, error) {
	s := &server{cfg: cfg, log: log, metrics: metrics.New()}
	dir, err := dataDir(cfg)
	if err != nil {
		return nil, err
	}
	dsn := cfg.DatabaseURL
	if dsn == "" {
		dsn = filepath.Join(dir, "clawchat.db")
	}
	s.db, err = store.Open(ctx, dsn, log.With("component", "store"))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.closers = append(s.closers, s.db.Close)
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()

	if err := s.buildAuth(ctx, io); err != nil {
		return nil, err
	}

	s.hub = hub.New(hub.Config{})
	if s.db.Dialect() == store.DialectPostgres { // several instances may share the database
		s.relay = relay.New(s.db, s.hub, log.With("component", "relay"))
	}
	fwd := &gatewayHandler{metrics: s.metrics, pairing: pairingAudit{audit: s.auditEntry}}
	s.gw, err = gateway.New(gateway.Config{
		URL:            cfg.Gateway.URL,
		Token:          cfg.Gateway.Token,
		Password:       cfg.Gateway.Password,
		AllowInsecure:  cfg.Gateway.AllowInsecure,
		Approvals:      cfg.Gateway.Approvals,
		NoAdmin:        !cfg.Gateway.Admin,
		StateDir:       filepath.Join(dir, "gateway"),
		ClientVersion:  version.String(),
		DisplayName:    "clawchat",
		RequestTimeout: cfg.Chat.RequestTimeout,
		Logger:         log,
		Handler:        fwd,
	})
	if err != nil {
		return nil, gatewayConfigError(err) // commands.go
	}

	if cfg.Push.Enabled() {
		s.push, err = push.New(push.Config{
			PublicKey:    cfg.Push.PublicKey,
			PrivateKey:   cfg.Push.PrivateKey,
			Subscriber:   cfg.Push.Subject,
			IncludeText:  cfg.Push.IncludeText,
			AllowedHosts: append(push.DefaultAllowedHosts(), cfg.Push.ExtraHosts...),
			Store:        s.db,
			Logger:       log.With("component", "push"),
			Recorder:     s.metrics,
			SessionID: func(r *http.Request) string {
				id, _ := strings.CutPrefix(s.auth.Credential(r), "s:")
				return id
			},
		})
		if err != nil {
			return nil, fmt.Errorf("CLAWCHAT_VAPID_*: %w", err)
		}
	}

	// Members talk to CLAWCHAT_AGENTS (default: the Gateway's default agent only); owners to
	// CLAWCHAT_OWNER_AGENTS (default: every agent). New conversations use the first listed agent,
	// else the Gateway's default.
	defaultAgent := ""
	if len(cfg.Chat.Agents) > 0 && cfg.Chat.Agents[0] != "*" {
		defaultAgent = cfg.Chat.Agents[0]
	}
	s.delivery = newDelivery(s, cfg.Push.IncludeText)
	// Shared conversations: the chat core publishes through Fanout, which delivers each event of
	// a shared conversation to every participant.
	s.share = s.buildShare(ctx)
	// Closers run in reverse: the share service's background work (fan-out refreshes, presence)
	// is cancelled and joined before the store it reads closes.
	s.closers = append(s.closers, func() error { s.share.Close(); return nil })
	s.fanout = s.share.NewFanout(s.delivery)
	s.bridge, err = bridge.New(bridge.Config{
		Upstream:             s.gw,
		Store:                s.db,
		Publisher:            s.fanout,
		Participants:         s.fanout.Participants,
		Logger:               log.With("component", "bridge"),
		DefaultAgent:         defaultAgent,
		GatewayDefaultAgent:  func() string { return s.gw.Status().SessionDefaults.DefaultAgentID },
		MemberAgents:         cfg.Chat.Agents,
		OwnerAgents:          cfg.Chat.OwnerAgents,
		MaxTextBytes:         cfg.Chat.MaxMessageBytes,
		MaxConversations:     cfg.Chat.MaxConversations,
		MaxConcurrentRuns:    cfg.Chat.MaxConcurrentRuns,
		SendRate:             rate.Limit(float64(cfg.Chat.SendsPerMinute) / 60),
		SendBurst:            min(cfg.Chat.SendsPerMinute, 10),
		CommandAllowlist:     cfg.Chat.MemberCommands,
		MemberPolicy:         memberPolicy(cfg.Chat),
		MemberModels:         cfg.Chat.MemberModels,
		MemberThinkingLevels: cfg.Chat.MemberThinkingLevels,
		HasAdminScope:        func() bool { return slices.Contains(s.gw.Status().Scopes, gateway.ScopeAdmin) },
		GatewayLimits:        bridge.LimitsFromStatus(s.gw.Status),
		Approvals:            cfg.Gateway.Approvals,
		Owners:               s.ownerIDs,
		Audit:                s.auditEntry,
	})
	if err != nil {
		return nil, fmt.Errorf("chat core: %w", err)
	}
	fwd.set(s.bridge)
	s.presence = s.buildPresence()
	if err := s.buildEmbed(); err != nil {
		return nil, err
	}
	if s.embed != nil {
		s.embed.SetChat(embedChat{b: s.bridge, db: s.db})
		s.embed.SetShared(embedShared{b: s.bridge, db: s.db, share: s.share})
	}

	s.handler = s.routes()
	ok = true
	return s, nil
}

// memberPolicy is the Gateway session policy of members' conversations per agent
// (CLAWCHAT_MEMBER_PERMISSION_MODE, CLAWCHAT_AGENT_MEMBER_PERMISSION_MODES,
// CLAWCHAT_MEMBER_WEB_SEARCH, CLAWCHAT_MEMBER_DENY_MCP_SERVERS; docs/security.md).
func memberPolicy(c config.Chat) func(agentID string) bridge.Policy {
	return func(agentID string) bridge.Policy {
		p := bridge.Policy{Mode: c.MemberPermissionMode}
		if m, ok := c.AgentMemberPermissionModes[agentID]; ok {
			p.Mode = m
		}
		t := &gateway.ToolOverrides{}
		if !c.MemberWebSearch {
			no := false
			t.WebSearch = &no
		}
		for _, name := range c.MemberDenyMCPServers {
			if t.McpServers == nil {
				t.McpServers = map[string]bool{}
			}
			t.McpServers[name] = false
		}
		if !t.IsZero() {
			p.Tools = t
		}
		return p
	}
}

func (s *server) buildAuth(ctx context.Context, io IO) error {
	cfg := s.cfg
	var sessions auth.SessionStore = s.db
	switch cfg.Auth.SessionStore {
	case "memory":
		sessions = auth.NewMemoryStore()
	}
	var pending auth.PendingStore
	if cfg.RedisURL != "" {
		rc, err := openRedis(ctx, cfg.RedisURL)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, rc.Close)
		// OIDC sign-in state lives in Redis too, so the callback may land on any instance.
		pending = auth.NewRedisPending(rc, "clawchat:")
		if cfg.Auth.SessionStore == "redis" {
			sessions = auth.NewRedisSessions(rc, "clawchat:", cfg.Auth.SessionIdle)
		}
	}
	// Every sign-out, revocation, role change and deletion, whoever makes it, is written to the
	// change feed and re-checks this process's open connections of that user (authwatch.go).
	st := auth.WithChangeHook(auth.Combine(s.db, sessions), s.authChanged)
	ac := auth.Config{
		SessionIdle:     cfg.Auth.SessionIdle,
		SessionAbsolute: cfg.Auth.SessionMaxAge,
		CookieInsecure:  !cfg.Auth.CookieSecure,
		CookieSameSite:  cfg.Auth.CookieSameSite,
		TrustedProxies:  cfg.TrustedProxies,
		Owners:          cfg.Auth.Owners,
		Throttle: auth.ThrottleConfig{
			AccountFailures: cfg.Auth.LoginMaxAccount,
			IPFailures:      cfg.Auth.LoginMaxIP,
		},
		OIDC: auth.OIDCConfig{
			Issuer:       cfg.Auth.OIDC.Issuer,
			ClientID:     cfg.Auth.OIDC.ClientID,
			ClientSecret: cfg.Auth.OIDC.ClientSecret,
			RedirectURL:  cfg.Auth.OIDC.RedirectURL,
			Scopes:       cfg.Auth.OIDC.Scopes,
			Label:        cfg.Auth.OIDC.Label,
			// Owners by subject, e-mail or group may sign in too (they would expect to).
			AllowedSubjects: append(append([]string(nil), cfg.Auth.OIDC.AllowedSubjects...), cfg.Auth.OIDC.OwnerSubjects...),
			AllowedEmails:   append(append([]string(nil), cfg.Auth.OIDC.AllowedEmails...), cfg.Auth.OIDC.OwnerEmails...),
			AllowedGroups:   append(append([]string(nil), cfg.Auth.OIDC.AllowedGroups...), cfg.Auth.OIDC.OwnerGroups...),
			GroupsClaim:     cfg.Auth.OIDC.GroupsClaim,
			OwnerSubjects:   cfg.Auth.OIDC.OwnerSubjects,
			OwnerEmails:     cfg.Auth.OIDC.OwnerEmails,
			OwnerGroups:     cfg.Auth.OIDC.OwnerGroups,
		},
	}
	if cfg.Auth.ProxyHeader != "" {
		ac.ProxyAuth.Headers = []string{cfg.Auth.ProxyHeader}
		if cfg.Auth.ProxyEmailHdr != "" {
			ac.ProxyAuth.Headers = append(ac.ProxyAuth.Headers, cfg.Auth.ProxyEmailHdr)
		}
		ac.ProxyAuth.CIDRs = cfg.TrustedProxies
	}
	var users []auth.LocalUser
	if cfg.Auth.LocalUsers != "" {
		var err error
		if users, err = auth.ParseLocalUsers(cfg.Auth.LocalUsers, cfg.Auth.LocalUsersFile); err != nil {
			return fmt.Errorf("CLAWCHAT_LOCAL_USERS: %w", err)
		}
		for _, u := range users {
			ac.ManagedUsers = append(ac.ManagedUsers, u.Username)
		}
	}
	var err error
	s.auth, err = auth.New(ctx, ac, auth.Deps{Store: st, Logger: s.log.With("component", "auth"), Pending: pending})
	if err != nil {
		return err
	}
	if len(users) > 0 {
		if err := auth.Bootstrap(ctx, st, users, cfg.Auth.Owners, s.log.With("component", "auth")); err != nil {
			return fmt.Errorf("CLAWCHAT_LOCAL_USERS: %w", err)
		}
	}
	if !cfg.Auth.OIDC.Enabled() && cfg.Auth.ProxyHeader == "" {
		// No default password: a first start without any account prints a generated one.
		if err := auth.FirstRun(ctx, st, io.Stderr); err != nil {
			return fmt.Errorf("first run: %w", err)
		}
	}
	return nil
}

// close releases the store and the Redis client.
func (s *server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
}

// routes assembles the HTTP handler: security headers → access log → body deadlines → metrics →
// the API, whose guard applies cross-origin protection and authentication once for every route,
// and the web app.
func (s *server) routes() http.Handler {
	cfg := s.cfg
	trusted := append([]string(nil), cfg.TrustedOrigins...)
	if cfg.PublicURL != nil {
		trusted = append(trusted, cfg.PublicURL.Scheme+"://"+cfg.PublicURL.Host)
	}
	clientIP := func(r *http.Request) string { return websec.ClientIP(r, cfg.TrustedProxies).String() }
	cross, err := websec.CrossOrigin(trusted)
	if err != nil {
		// Origins were validated by config.Load; this cannot happen.
		panic(err)
	}
	apiLimit := ratelimit.New(ratelimit.Config{
		Rate:  rate.Limit(float64(cfg.Chat.APIRequestsPerMinute) / 60),
		Burst: max(cfg.Chat.APIRequestsPerMinute/10, 20),
	})
	rx, err := reactions.New(reactions.Config{
		CanSee: func(ctx context.Context, u chat.User, id string) error {
			_, err := s.bridge.Get(ctx, u, id)
			return err
		},
		Store:     s.db,
		Publisher: s.hub,
	})
	if err != nil {
		panic(err) // every collaborator is set above; this cannot happen
	}
	handlers := httpapi.Handlers{
		Config:       http.HandlerFunc(s.publicConfig),
		LoginOptions: http.HandlerFunc(s.loginOptions), // miso-chat
		AuthStatus:   http.HandlerFunc(s.authStatus),   // miso-chat
		OIDCLogin:    http.HandlerFunc(s.auth.OIDCLogin),
		OIDCCallback: http.HandlerFunc(s.auth.OIDCCallback),
		Metrics:      metrics.Guard(s.metrics.Handler(), cfg.Metrics.Allow, func(r *http.Request) netip.Addr { return websec.ClientIP(r, cfg.TrustedProxies) }),
		App:          web.Handler(),
		LogoutAll:    http.HandlerFunc(s.auth.LogoutAll),
		Password:     http.HandlerFunc(s.auth.ChangePassword),
	}
	if cfg.Metrics.Listen != "" {
		handlers.Metrics = http.NotFoundHandler() // served on its own listener (metricslisten.go)
	}
	if s.embed != nil {
		static := handlers.App
		handlers.EmbedFrame = s.embed.Frame(static)
		handlers.EmbedLoader = embed.Loader(static)
		handlers.EmbedConfig = http.HandlerFunc(s.embed.FrameConfig)
		handlers.EmbedSession = http.HandlerFunc(s.embed.Exchange)
		handlers.EmbedConversations = http.HandlerFunc(s.embed.Conversations)
		handlers.EmbedCreate = http.HandlerFunc(s.embed.Create)
		handlers.EmbedSend = http.HandlerFunc(s.embed.Send)
		handlers.EmbedContexts = http.HandlerFunc(s.embed.Contexts)
	}
	if s.push != nil {
		handlers.PushSubscribe = http.HandlerFunc(s.push.PostSubscription)
		handlers.PushUnsubscribe = http.HandlerFunc(s.push.DeleteSubscription)
	}
	s.api = httpapi.New(httpapi.Deps{
		Bridge:        s.bridge,
		Hub:           s.hub,
		Authenticate:  s.authenticate,
		OriginAllowed: func(r *http.Request) bool { return websec.OriginAllowed(r, trusted) },
		CrossOrigin:   cross,
		Ready:         s.ready,
		Limiter: limiterFunc(func(key string) (bool, time.Duration) {
			ok, d := apiLimit.Reserve(key)
			if !ok {
				s.metrics.RateLimited("api")
			}
			return ok, d
		}),
		Credential:            s.credential,
		Revalidate:            s.revalidate,
		MaxConnectionsPerUser: cfg.Chat.MaxConnectionsPerUsr,
		Reactions:             rx,
		Share:                 s.share,
		Presence:              s.presence,
		Media:                 s.fetchMedia,
		Login:                 http.HandlerFunc(s.auth.Login),
		Logout:                http.HandlerFunc(s.auth.Logout),
		Handlers:              handlers,
		Logger:                s.log.With("component", "http"),
	})
	var h http.Handler = s.api
	if s.embed != nil {
		h = s.embed.Middleware(h) // bearer sessions of embedded frames, per-host-app rate limit
	}
	h = s.metrics.Middleware(h)
	h = bodyDeadline(h, bodyGrace, bodyMinRate, bodyChunkedLimit)
	h = accesslog.Handler(h, s.log.With("component", "http"), clientIP)
	return websec.Headers(h, websec.HeaderOptions{TrustedProxies: cfg.TrustedProxies})
}

type limiterFunc func(string) (bool, time.Duration)

func (f limiterFunc) Allow(key string) (bool, time.Duration) { return f(key) }

// ready is /readyz: ready only while the Gateway connection is up with the scopes clawchat needs,
// and not while shutting down. /readyz is public (probes carry no session), so the reason names
// the state and what to do, never an address or an upstream error text; the details are in the
// log and in `clawchat gateway status`.
func (s *server) ready() (bool, string) {
	if s.stopping.Load() {
		return false, "shutting down"
	}
	st := s.gw.Status()
	if st.Ready {
		return true, ""
	}
	return false, readyReason(st)
}

func readyReason(s gateway.Status) string {
	switch st := s.State; st {
	case gateway.StateIncompatible:
		return gateway.ProtocolMismatchReason(s.GatewayProtocol)
	case gateway.StatePairingRequired:
		return "gateway pairing required: approve this device on the Gateway host (the command is in the log and in `clawchat gateway status`)"
	case gateway.StateAuthFailed:
		return "gateway refused the credential: check OPENCLAW_GATEWAY_TOKEN / OPENCLAW_GATEWAY_PASSWORD"
	case gateway.StateRevoked:
		return "gateway revoked this device: pair it again"
	case gateway.StateNotReady:
		return "gateway granted no operator scopes: this connection is not local, pair the device"
	case gateway.StateConnecting:
		return "connecting to the gateway"
	default:
		return "gateway " + string(s.State)
	}
}

// publicConfig is GET /api/config: what the sign-in page and the app need before sign-in.
func (s *server) publicConfig(w http.ResponseWriter, r *http.Request) {
	type pushInfo struct {
		VAPIDPublicKey string `json:"vapidPublicKey,omitempty"`
	}
	body := struct {
		Auth    auth.PublicConfig `json:"auth"`
		Push    pushInfo          `json:"push"`
		Build   string            `json:"build"`
		Version string            `json:"version"`
	}{Auth: s.auth.PublicConfig(), Build: web.BuildID(), Version: version.String()}
	if s.push != nil {
		body.Push.VAPIDPublicKey = s.push.PublicKey()
	}
	httpjson.Write(w, http.StatusOK, body)
}

// logMemberPolicy states what members' messages can make the agent do, loudly when it is more
// than the safe default.
func (s *server) logMemberPolicy() {
	c := s.cfg.Chat
	modes := []string{c.MemberPermissionMode}
	for _, m := range c.AgentMemberPermissionModes {
		modes = append(modes, m)
	}
	s.log.Info("member session policy", "permission_mode", c.MemberPermissionMode, "per_agent", c.AgentMemberPermissionModes,
		"web_search", c.MemberWebSearch, "commands", c.MemberCommands)
	if slices.Contains(modes, "full") {
		s.log.Warn("MEMBERS HAVE FULL ACCESS: members' messages can make the agent run any command on the Gateway host and read every file it can, including other users' transcripts and the Gateway's credentials (CLAWCHAT_MEMBER_ALLOW_FULL=true)")
	}
	if !s.cfg.Gateway.Admin {
		s.log.Warn("CLAWCHAT_GATEWAY_ADMIN=false: clawchat does not ask for operator.admin, so members cannot send messages (only owners can chat)")
	}
}

// run serves until ctx is cancelled, then shuts down in order: not ready → stop accepting →
// close browser connections → stop the Gateway client and the chat core.
func (s *server) run(ctx context.Context, srv *http.Server, addr string, serveErr <-chan error) error {
	s.log.Info("clawchat listening", "addr", addr, "version", version.String(),
		"gateway", s.cfg.Gateway.URL, "store", s.db.Dialect())
	s.logMemberPolicy()

	bg, bgCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer bgCancel()
	g, gctx := errgroup.WithContext(bg)
	g.Go(func() error { return s.gw.Run(gctx) })
	g.Go(func() error { return s.bridge.Run(gctx) })
	g.Go(func() error { return s.sweepSessions(gctx) })
	g.Go(func() error { return s.watchAuthChanges(gctx, time.Second) })
	g.Go(func() error { return s.watchAccess(gctx) })
	g.Go(func() error { return s.presence.Run(gctx) })
	if s.relay != nil {
		g.Go(func() error { return s.relay.Run(gctx) })
	}
	// Start-up (and the first round of the background work above) touched code all over the
	// binary; once it has settled, let go of those pages (pages_linux.go).
	settled := time.AfterFunc(startupSettle, func() {
		if n, err := releaseStartupPages(); err != nil {
			s.log.Warn("could not release start-up pages", "err", err)
		} else {
			s.log.Debug("released start-up pages of the executable", "mapped_kib", n>>10)
		}
	})
	defer settled.Stop()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}
	s.stopping.Store(true)
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	// Browsers are told to reconnect (WebSocket close 1012, SSE streams end), then the listener
	// stops. Runs in flight go on on the Gateway; the next instance reconciles them.
	s.api.Shutdown()
	if serr := srv.Shutdown(sctx); serr != nil && err == nil && !errors.Is(serr, context.DeadlineExceeded) {
		err = serr
	}
	bgCancel()
	if werr := g.Wait(); werr != nil && err == nil && !errors.Is(werr, context.Canceled) {
		err = werr
	}
	// The chat core has stopped, so no new notification starts; the ones in flight finish
	// before serve closes the store they read.
	s.delivery.Drain()
	s.log.Info("stopped")
	return err
}

// startupSettle is how long after start-up the pages only start-up needed are released.
const startupSettle = 5 * time.Second

// sweepSessions removes expired sessions once an hour.
func (s *server) sweepSessions(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := s.auth.Cleanup(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("session cleanup failed", "err", err)
		} else if n > 0 {
			s.log.Info("expired sessions removed", "count", n)
		}
		if s.embed != nil {
			if _, err := s.embed.Cleanup(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("embed session cleanup failed", "err", err)
			}
		}
		if err := s.db.PruneAuthChanges(ctx, time.Now().Add(-time.Hour)); err != nil && ctx.Err() == nil {
			s.log.Warn("auth change feed cleanup failed", "err", err)
		}
		if s.cfg.Auth.SessionStore == "sql" { // sessions in this database: expired ones' push subscriptions go too
			if _, err := s.db.DeleteOrphanPushSubscriptions(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("push subscription cleanup failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// gatewayHandler forwards Gateway events to the chat core, which is built after the client.
type gatewayHandler struct {
	mu      sync.RWMutex
	b       *bridge.Service
	metrics *metrics.Metrics
	last    gateway.State
	pairing pairingAudit // audit.go
}

func (h *gatewayHandler) set(b *bridge.Service) {
	h.mu.Lock()
	h.b = b
	h.mu.Unlock()
}

func (h *gatewayHandler) bridge() *bridge.Service {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.b
}

func (h *gatewayHandler) HandleEvent(ev gateway.Event) {
	if b := h.bridge(); b != nil {
		b.HandleEvent(ev)
	}
}

func (h *gatewayHandler) HandleStatus(st gateway.Status) {
	h.metrics.GatewayState(string(st.State))
	if st.State == gateway.StateConnected && h.last != "" && h.last != gateway.StateConnected {
		h.metrics.GatewayReconnect()
	}
	h.last = st.State
	h.pairing.observe(st) // audit: pairing required / paired (audit.go)
	if b := h.bridge(); b != nil {
		b.HandleStatus(st)
	}
}

// newDelivery wires the event delivery (internal/delivery) to the hub, the relay, the metrics and
// Web Push of s (the relay and push only when configured).
func newDelivery(s *server, includeText bool) *delivery.Publisher {
	cfg := delivery.Config{Hub: s.hub, Metrics: s.metrics, IncludeText: includeText, Logger: s.log,
		Title: func(ctx context.Context, userID, conversationID string) (string, error) {
			c, _, err := s.db.Access(ctx, userID, conversationID) // shared conversations too
			return c.Title, err
		},
		Muted: s.db.Muted}
	if s.relay != nil {
		cfg.Relay = s.relay
	}
	if s.push != nil {
		cfg.Push = s.push
	}
	return delivery.New(cfg)
}
