// Package bridge is clawchat's multi-user chat service. Many signed-in people share one Gateway
// operator connection; the bridge keeps each person's conversations private, authorizes every
// operation before anything reaches the Gateway, sends messages (idempotency, command policy,
// limits, per-conversation queueing), tracks runs, translates Gateway chat/agent events into
// clawchat's browser events (docs/api.md) for the owner only, and reconciles runs with chat.history
// after the Gateway connection drops so that no final reply is lost.
//
// Session keys: agent:<agentId>:clawchat:<userId>:<conversationId>, lower-case. Ownership comes
// only from the store (lookup by (userID, id) for requests and by session key for events), never
// from a key a client sends. Another user's conversation is chat.ErrNotFound, exactly like an id
// that was never used.
package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/ratelimit"
)

// Upstream is the part of the Gateway client the bridge uses: one request/response call with
// schema-conformant params (gateway.Client.Request satisfies it). It must be safe for concurrent use.
type Upstream interface {
	Request(ctx context.Context, method string, params, result any) error
}

// Store is the persistence the bridge needs (internal/store implements it). Missing rows are
// chat.ErrNotFound; a duplicate (userID, id) or session key is chat.ErrConflict.
type Store interface {
	CreateConversation(ctx context.Context, c chat.Conversation) error
	Conversation(ctx context.Context, userID, id string) (chat.Conversation, error)
	ConversationByKey(ctx context.Context, sessionKey string) (chat.Conversation, error)
	Conversations(ctx context.Context, userID string) ([]chat.Conversation, error)
	UpdateConversation(ctx context.Context, c chat.Conversation) error
	DeleteConversation(ctx context.Context, userID, id string) error
	CountConversations(ctx context.Context, userID string) (int, error)
}

// Publisher delivers events to a user's connections (hub.Hub implements it).
type Publisher interface {
	Publish(userID string, ev chat.Event) uint64
	PublishAll(ev chat.Event)
}

// Limits are the attachment bounds the Gateway announced in hello-ok (policy.attachments,
// policy.maxPayload). Zero means "no bound known".
type Limits struct {
	MaxAttachmentBytes int64
	MaxImageBytes      int64
	MaxPayload         int64
}

// Config configures a Service. Upstream, Store and Publisher are required.
type Config struct {
	Upstream  Upstream
	Store     Store
	Publisher Publisher
	Logger    *slog.Logger
	Now       func() time.Time // default time.Now

	// DefaultAgent is the agent of new conversations. Empty: the Gateway's default agent
	// (GatewayDefaultAgent), else "main".
	DefaultAgent string
	// GatewayDefaultAgent returns the Gateway's default agent id (hello-ok sessionDefaults), or
	// "" when unknown. Optional.
	GatewayDefaultAgent func() string
	// MemberAgents and OwnerAgents are the agents each role may talk to: empty means the default
	// agent only, "*" means every agent of the Gateway. A conversation with any other agent is
	// refused, and agent lists are filtered per user.
	MemberAgents, OwnerAgents []string
	MaxTextBytes              int        // default 32 KiB
	MaxConversations          int        // per user, default 500
	MaxConcurrentRuns         int        // per user, default 3
	MaxQueued                 int        // per conversation, default 10
	SendRate                  rate.Limit // sends per second per user, default 1
	SendBurst                 int        // default 10
	// CommandAllowlist lists the commands (e.g. "/think", "/model") members may send to the
	// Gateway as commands. Every other member message is sent with suppressCommandInterpretation,
	// so the Gateway interprets nothing in it (policy.go).
	CommandAllowlist []string
	// MemberPolicy returns the session policy of members' conversations with an agent
	// (default DefaultMemberPolicy: read-only, no web search). Owners' conversations get none:
	// the agent's own configuration applies.
	MemberPolicy func(agentID string) Policy
	// HasAdminScope reports whether the Gateway connection holds operator.admin, which members'
	// sends need (suppressCommandInterpretation). Optional; nil means "assume yes" (a refusal by
	// the Gateway still fails the send closed).
	HasAdminScope func() bool
	// GatewayLimits returns the current hello-ok attachment policy (optional).
	GatewayLimits func() Limits
	// ClassifyError maps an Upstream error to a chat sentinel-wrapped error safe to show (optional;
	// the default understands gateway.Error and gateway.ErrNotConnected and treats anything else
	// as chat.ErrUnavailable).
	ClassifyError func(error) error
	// StaleRunAfter is how long a run may go without events before it is resolved from history
	// (default 3 minutes; provider retries emit status events in between).
	StaleRunAfter time.Duration
	// RecoveryGrace is how long a run cut by a Gateway restart waits for the Gateway's recovery
	// turn when the Gateway does not say it owes one (default 20s; when it says so, the run
	// waits up to 5 minutes: reconcile.go).
	RecoveryGrace time.Duration
	// HistoryTimeout bounds reconciliation requests (default 30s).
	HistoryTimeout time.Duration
	// SendTimeout bounds a chat.send once clawchat has accepted the message (default 30s). The
	// send does not depend on the client's request or connection: its result reaches the client
	// by resume, snapshot or history.
	SendTimeout time.Duration

	// Approvals turns on exec approvals for owners (the Gateway client must hold
	// operator.approvals and the exec-approvals cap, i.e. gateway.Config.Approvals). Off, the
	// Gateway's approval events are ignored and owners see an empty list.
	Approvals bool
	// Owners returns the ids of every owner account (optional). Approval events go to each of them.
	// When nil, they go to the owners who have listed or answered approvals since the start.
	Owners func(ctx context.Context) ([]string, error)
	// Audit records security-relevant owner actions (optional): send, abort and history read on
	// Gateway (gw:) sessions, and approval decisions. It is called synchronously with a context
	// that outlives the request by up to 5s; entries hold ids and outcomes, never message text.
	Audit func(ctx context.Context, e chat.AuditEntry)
}

// Service is the chat service. All methods are safe for concurrent use.
type Service struct {
	// gw is the typed Gateway API with errors mapped for users (mappedUpstream); rawGW is the same
	// API with the Upstream's own errors, for callers that must tell refusals apart first (sends,
	// policy, approvals) and map afterwards.
	gw, rawGW gatewayAPI

	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	convs    map[string]*convState // by session key, conversations with a run or queue
	runs     map[string]*run       // by runId
	recent   map[string]recentRun  // ended runs, for duplicate sends and trailing events
	userRuns map[string]int        // active runs per user
	limiters *ratelimit.Limiter
	notOurs  map[string]time.Time       // session keys known to belong to nobody, until expiry
	watch    map[string]map[string]bool // gateway session key → owners who opened it
	gwState  string
	lastConn bool // the upstream was connected at least once
	wg       sync.WaitGroup
	// base is the context of background work not tied to a request (reconciliation after a
	// reconnect); cancelled when Run returns.
	base     context.Context
	stopBase context.CancelFunc

	appr *approvals // exec approvals (approvals.go); own lock

	ownerCache ownerCache // current owners, for Gateway session events (roles.go); own lock

	// slow holds the events of session keys whose routing waits for a store read, in order, and
	// slowWG their workers (ordered.go); s.mu guards slow.
	slow   map[string][]func()
	slowWG sync.WaitGroup
	// owned caches whose each clawchat session key is (rememberOwner), for routing; s.mu.
	owned map[string]ownerRef
}

// recentRun is an ended run, kept for PruneAfter: duplicate sends answer with its id, its
// trailing Gateway events are dropped, and a client that resyncs learns how it ended
// (EndedSnapshot).
type recentRun struct {
	at     time.Time
	userID string
	conv   string
	end    *runEnd // nil for a send that never reached the Gateway (a retry sends it again)
	// inferred: clawchat ended the run from history (no terminal event from the Gateway); if
	// the Gateway streams it after all, the run is reopened (runstate.go).
	inferred  bool
	messageID string
}

// convState is the in-memory state of one conversation with a run or queue.
type convState struct {
	key    string
	userID string
	convID string
	active *run
	queue  []queued
}

type queued struct {
	runID     string
	messageID string
	text      string // exactly as typed: what the Gateway, the transcript and the model get
	atts      []Attachment
	sender    chat.User // who sent it (identity for the agent)
	suppress  bool      // send with suppressCommandInterpretation (members, unless allowlisted)
	policy    *Policy   // the session policy the send is conditional on (members); nil: none
}

// run is one Gateway turn the bridge tracks.
type run struct {
	id        string
	key       string
	userID    string
	convID    string
	messageID string
	sender    string          // display name of the user who sent the message (approval cards)
	text      string          // visible reply so far; set with setText/appendText (runtext.go)
	textRev   uint64          // bumped by every change of text; sent as "rev" with run.delta and run.snapshot
	textBuf   strings.Builder // backs text while deltas append to it; never copy a run
	reasoning string
	tools     map[string]*toolState
	toolOrder []string
	started   time.Time
	lastEvent time.Time
	sent      bool // chat.send acknowledged
	// msg is what was sent (nil for adopted runs); kept to send it again with the same
	// idempotency key when the Gateway lost it (runstate.go).
	msg *queued
	// unknown: chat.send was written but its answer was lost (connection drop, timeout);
	// reconciliation decides whether the Gateway has it.
	unknown bool
	resent  bool // sent a second time after the Gateway lost it
	renewed bool // sent as a new turn after the Gateway refused it under its old key
	// bare: the Gateway ended the run with a final that has no message and no text
	// (merged into or queued behind another turn); reconciliation resolves it.
	bare bool
	// retries counts reconciliations that found the Gateway's state unknown
	retries int
	// owedSince is when reconciliation first saw that the Gateway owes the run's session a
	// restart-recovery turn (zero: not seen)
	owedSince time.Time
	announced bool // run.started published
}

type toolState struct {
	chat.ToolView
	started time.Time
	ended   bool
}

// New returns a service. Call Run to start its background watchdog.
func New(cfg Config) (*Service, error) {
	if cfg.Upstream == nil || cfg.Store == nil || cfg.Publisher == nil {
		return nil, errors.New("bridge: Upstream, Store and Publisher are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultAgent != "" && !chat.ValidConversationID(cfg.DefaultAgent) {
		return nil, fmt.Errorf("bridge: invalid default agent id %q", cfg.DefaultAgent)
	}
	if cfg.MaxTextBytes <= 0 {
		cfg.MaxTextBytes = 32 << 10
	}
	if cfg.MaxConversations <= 0 {
		cfg.MaxConversations = 500
	}
	if cfg.MaxConcurrentRuns <= 0 {
		cfg.MaxConcurrentRuns = 3
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 10
	}
	if cfg.SendRate <= 0 {
		cfg.SendRate = 1
	}
	if cfg.SendBurst <= 0 {
		cfg.SendBurst = 10
	}
	if cfg.RecoveryGrace <= 0 {
		cfg.RecoveryGrace = recoveryGrace
	}
	if cfg.StaleRunAfter <= 0 {
		cfg.StaleRunAfter = 3 * time.Minute
	}
	if cfg.HistoryTimeout <= 0 {
		cfg.HistoryTimeout = 30 * time.Second
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 30 * time.Second
	}
	base, stop := context.WithCancel(context.Background())
	s := &Service{
		rawGW:    gatewayAPI{R: cfg.Upstream},
		base:     base,
		stopBase: stop,
		cfg:      cfg,
		log:      cfg.Logger,
		convs:    make(map[string]*convState),
		runs:     make(map[string]*run),
		recent:   make(map[string]recentRun),
		userRuns: make(map[string]int),
		limiters: ratelimit.New(ratelimit.Config{Rate: cfg.SendRate, Burst: cfg.SendBurst}), // idle users are evicted
		notOurs:  make(map[string]time.Time),
		watch:    make(map[string]map[string]bool),
		gwState:  "down",
		appr:     newApprovals(),
		slow:     make(map[string][]func()),
		owned:    make(map[string]ownerRef),
	}
	s.gw = gatewayAPI{R: mappedUpstream{cfg.Upstream, s}}
	return s, nil
}

// Run resolves stale runs from history until ctx is done, then waits for the service's background
// work (queued sends, reconciliations) to finish.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.Approvals {
		s.goBackground(func() { s.runApprovals(ctx) })
	}
	t := time.NewTicker(max(s.cfg.StaleRunAfter/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.stopBase()
			s.wg.Wait()
			return nil
		case <-t.C:
			s.reconcile(ctx, true)
			s.pruneRecent()
		}
	}
}

// Wait blocks until background work started by the service (queued sends, reconciliation) ends.
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) goBackground(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Service) pruneRecent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	for id, r := range s.recent {
		if now.Sub(r.at) > 10*time.Minute {
			delete(s.recent, id)
		}
	}
	for k, until := range s.notOurs {
		if now.After(until) {
			delete(s.notOurs, k)
		}
	}
}

// GatewayState returns connected, reconnecting, down or pairing_required.
func (s *Service) GatewayState() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gwState
}

// Limits returns the limits clients are told in hello.
func (s *Service) Limits() map[string]int64 {
	l := s.gatewayLimits()
	return map[string]int64{
		"maxTextBytes":       int64(s.cfg.MaxTextBytes),
		"maxAttachmentBytes": l.MaxAttachmentBytes,
		"maxImageBytes":      l.MaxImageBytes,
	}
}

func (s *Service) gatewayLimits() Limits {
	if s.cfg.GatewayLimits == nil {
		return Limits{MaxAttachmentBytes: 5 << 20, MaxImageBytes: 6 << 20, MaxPayload: 25 << 20}
	}
	return s.cfg.GatewayLimits()
}

// mappedUpstream is the Upstream with its errors mapped to chat sentinels by mapUpstreamError,
// the one place where Gateway errors become errors a user may see. Service.gw calls through it.
type mappedUpstream struct {
	up Upstream
	s  *Service
}

func (m mappedUpstream) Request(ctx context.Context, method string, params, result any) error {
	return m.s.mapUpstreamError(ctx, method, m.up.Request(ctx, method, params, result))
}

// mapUpstreamError maps an Upstream error (nil stays nil) to a chat sentinel-wrapped error whose
// message is safe to show; the original is logged.
func (s *Service) mapUpstreamError(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("bridge: %s: %w", method, ctx.Err())
	}
	s.log.Warn("gateway request failed", "method", method, "err", err)
	if s.cfg.ClassifyError != nil {
		if mapped := s.cfg.ClassifyError(err); mapped != nil {
			return mapped
		}
	}
	if mapped := classifyGatewayError(err); mapped != nil {
		return mapped
	}
	conflict := strings.Contains(err.Error(), "already used for different input")
	if e, ok := errors.AsType[interface {
		error
		ErrorShape() json.RawMessage
	}](err); ok && strings.Contains(string(e.ErrorShape()), "chat-request-conflict") {
		conflict = true
	}
	if conflict {
		return fmt.Errorf("this message id was already used for a different message: %w", chat.ErrConflict)
	}
	return fmt.Errorf("the assistant is not reachable right now: %w", chat.ErrUnavailable)
}

// emitError publishes an error event to the user's connections.
func (s *Service) emitError(userID, code, msg, conv string) {
	s.cfg.Publisher.Publish(userID, chat.ErrorEvent{Code: code, Message: msg, Conversation: conv}.Event())
}

// audit records an owner's action through Config.Audit (when set). detail is encoded as JSON and
// must hold no secrets and no message text.
func (s *Service) audit(ctx context.Context, u chat.User, action, target string, detail map[string]any) {
	if s.cfg.Audit == nil {
		return
	}
	d := ""
	if len(detail) > 0 {
		if b, err := json.Marshal(detail); err == nil {
			d = string(b)
		}
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.cfg.Audit(actx, chat.AuditEntry{At: s.cfg.Now().UTC(), Actor: u.ID, Action: action, Target: target, Detail: d})
}
