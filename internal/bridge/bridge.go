// Package bridge is clawchat's multi-user chat service. Many signed-in people share one Gateway
// operator connection; the bridge keeps each person's conversations private, authorizes every
// operation before anything reaches the Gateway, sends messages, tracks runs, translates Gateway
// chat/agent events into clawchat's browser events (docs/api.md) for the owner only, and
// reconciles runs with chat.history after the Gateway connection drops so that no final reply is
// lost.
//
// This package is the facade that callers (httpapi, app) use: Service composes the packages that
// own each part, and each of its methods delegates to one of them. Where a change goes:
//
//   - bridge/conversations: the authorization gate (Lookup), conversation CRUD, lists, history.
//   - bridge/sending: accepting a message (checks, duplicates, send rate), abort.
//   - bridge/runs: run tracking (the lock, sends, routing, publishing, reconciliation with
//     chat.history) around bridge/runstate: the run table, queues and the run state machine.
//   - bridge/stream: Gateway chat/agent events → run.* events; bridge/runtext: a run's content.
//   - bridge/owners: who may see a session's events; bridge/ordered: per-session event order.
//   - bridge/approvals: owners' exec approvals; bridge/policy: member safety.
//   - bridge/transcript, bridge/sessionkey, bridge/upstream: shared vocabulary without state.
//
// Sub-packages never import this package. Session keys: agent:<agentId>:clawchat:<userId>:
// <conversationId>, lower-case. Ownership comes only from the store, never from a key a client
// sends. Another user's conversation is chat.ErrNotFound, exactly like an id that was never used.
package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/clawchat/clawchat/internal/bridge/approvals"
	"github.com/clawchat/clawchat/internal/bridge/conversations"
	"github.com/clawchat/clawchat/internal/bridge/ordered"
	"github.com/clawchat/clawchat/internal/bridge/owners"
	"github.com/clawchat/clawchat/internal/bridge/policy"
	"github.com/clawchat/clawchat/internal/bridge/runs"
	"github.com/clawchat/clawchat/internal/bridge/sending"
	"github.com/clawchat/clawchat/internal/bridge/stream"
	"github.com/clawchat/clawchat/internal/bridge/titles"
	"github.com/clawchat/clawchat/internal/bridge/upstream"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
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
	RetitleConversation(ctx context.Context, userID, id, from, to string, at time.Time) (bool, error)
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
	// so the Gateway interprets nothing in it (bridge/policy).
	CommandAllowlist []string
	// MemberPolicy returns the session policy of members' conversations with an agent
	// (default DefaultMemberPolicy: read-only, no web search). Owners' conversations get none:
	// the agent's own configuration applies.
	MemberPolicy func(agentID string) Policy
	// MemberModels and MemberThinkingLevels are what members may pick per conversation
	// (settings.go): model references ("provider/model", "*" = any of the Gateway's) and thinking
	// level ids ("*" = any the model supports). Empty: members keep the agent's defaults. Owners
	// may pick any model of the Gateway's list and any level it supports.
	MemberModels, MemberThinkingLevels []string
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
	// waits up to 5 minutes: bridge/runs).
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
	// Participants returns who sees conversation convID as addressed to userID: the participants
	// of a shared conversation (issue 13; share.Fanout.Participants), false when unknown (a
	// Gateway session). Optional; the Publisher is expected to fan events out the same way.
	// Snapshots after a resync are filtered with it.
	Participants func(userID, convID string) ([]string, bool)
}

// Service is the chat service. All methods are safe for concurrent use.
type Service struct {
	// gw is the typed Gateway API with errors mapped for users (bridge/upstream); rawGW is the same
	// API with the Upstream's own errors, for callers that must tell refusals apart first (sends,
	// policy, approvals) and map afterwards.
	gw, rawGW gatewayAPI
	mapper    upstream.Mapper
	policy    *policy.Enforcer // member safety (bridge/policy)

	cfg Config
	log *slog.Logger

	mu       sync.Mutex // guards gwState and lastConn
	gwState  string
	lastConn bool // the upstream was connected at least once
	wg       sync.WaitGroup
	// base is the context of background work not tied to a request (reconciliation after a
	// reconnect); cancelled when Run returns.
	base     context.Context
	stopBase context.CancelFunc

	appr *approvals.Service // exec approvals (bridge/approvals); own lock

	sending       *sending.Service       // accepting messages, abort (bridge/sending)
	conversations *conversations.Service // conversation CRUD, the authorization gate, history (bridge/conversations)

	// owners knows who may see each session's events (bridge/owners); own lock
	ownersOf *owners.Registry

	queue *ordered.Queue // Gateway events in order per session key (bridge/ordered)

	tracker *runs.Tracker      // runs: queue, routing, state machine, reconciliation (bridge/runs, bridge/runstate); own lock
	stream  *stream.Translator // Gateway chat/agent events → run events (bridge/stream)
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
	s := &Service{rawGW: gatewayAPI{R: cfg.Upstream}, base: base, stopBase: stop, cfg: cfg, log: cfg.Logger, gwState: StateDown}
	s.mapper = upstream.Mapper{Classify: cfg.ClassifyError, Log: cfg.Logger}
	s.gw = s.mapper.API(cfg.Upstream)
	s.queue = ordered.New(ordered.Config{Routable: s.routable, Go: s.goBackground})
	s.policy = &policy.Enforcer{Raw: s.rawGW, Mapped: s.gw, Log: cfg.Logger, MemberPolicy: cfg.MemberPolicy,
		HasAdminScope: cfg.HasAdminScope, CommandAllowlist: cfg.CommandAllowlist}
	s.ownersOf = owners.New(owners.Config{Store: cfg.Store, Now: cfg.Now, Logger: cfg.Logger, Base: base, Owners: cfg.Owners})
	s.tracker = runs.New(runs.Config{Publisher: cfg.Publisher, Owners: s.ownersOf, Gateway: s.gw,
		Send: func(ctx context.Context, key, runID, userID string, m *runs.Message) (*gateway.ChatSendResult, error) {
			return s.sending.ChatSend(ctx, key, runID, userID, m)
		},
		MapError: s.mapUpstreamError, Go: s.goBackground, Base: base, Logger: cfg.Logger, Now: cfg.Now,
		MaxConcurrentRuns: cfg.MaxConcurrentRuns, MaxQueued: cfg.MaxQueued, StaleRunAfter: cfg.StaleRunAfter,
		RecoveryGrace: cfg.RecoveryGrace, HistoryTimeout: cfg.HistoryTimeout, SendTimeout: cfg.SendTimeout,
		Participants: cfg.Participants})
	s.stream = stream.New(s.tracker, s.queue.Do, cfg.Now)
	s.appr = approvals.New(approvals.Config{Enabled: cfg.Approvals, Publisher: cfg.Publisher, Gateway: s.rawGW, Store: cfg.Store,
		Owners: cfg.Owners, RunSender: s.tracker.RunSender, Now: cfg.Now, Logger: cfg.Logger, Base: base, Go: s.goBackground,
		ListTimeout: cfg.HistoryTimeout, Audit: s.audit, MapError: s.mapUpstreamError})
	titler := titles.New(titles.Config{Gateway: s.rawGW, Store: cfg.Store, Go: s.goBackground, Base: base,
		Logger: cfg.Logger, Now: cfg.Now, Updated: func(ctx context.Context, c chat.Conversation) {
			// Every participant hears of it (the publisher fans it out), each keeping their role.
			v := s.conversations.View(ctx, c)
			v.Role = ""
			cfg.Publisher.Publish(c.UserID, chat.ConversationUpdated{ConversationView: v}.Event())
		}})
	s.conversations = conversations.New(conversations.Config{Renamed: titler.Renamed, Store: cfg.Store, Publisher: cfg.Publisher, Runs: s.tracker,
		Owners: s.ownersOf, Policy: s.policy, Gateway: s.gw, Logger: cfg.Logger, Now: cfg.Now,
		DefaultAgent: cfg.DefaultAgent, GatewayDefaultAgent: cfg.GatewayDefaultAgent, MemberAgents: cfg.MemberAgents,
		OwnerAgents: cfg.OwnerAgents, MaxConversations: cfg.MaxConversations, GatewayState: s.GatewayState,
		NoteOwner: s.appr.NoteOwner, Audit: s.audit, Shared: sharedStore(cfg.Store)})
	s.sending = sending.New(sending.Config{Conversations: s.conversations, Runs: s.tracker, Policy: s.policy, Store: cfg.Store,
		Publisher: cfg.Publisher, Gateway: s.gw, Watch: s.ownersOf.Watch, Limits: s.sendLimits, MaxTextBytes: cfg.MaxTextBytes,
		CommandAllowlist: cfg.CommandAllowlist, SendRate: cfg.SendRate, SendBurst: cfg.SendBurst, OwnerIDs: s.appr.OwnerIDs,
		Audit: s.audit, Now: cfg.Now, Logger: cfg.Logger, Named: titler.Named})
	return s, nil
}

// sharedStore is st's membership of shared conversations when it keeps one (internal/store does;
// the test stores do not: every conversation is then its creator's alone).
func sharedStore(st Store) conversations.SharedStore {
	if sh, ok := st.(conversations.SharedStore); ok {
		return sh
	}
	return nil
}

// Run resolves stale runs from history until ctx is done, then waits for the service's background
// work (queued sends, reconciliations) to finish.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.Approvals {
		s.goBackground(func() { s.appr.Run(ctx) })
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
			s.tracker.Reconcile(ctx, true)
			s.tracker.PruneRecent()
			s.ownersOf.Prune()
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

// GatewayState returns connected, reconnecting, down or pairing_required.
func (s *Service) GatewayState() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gwState
}

// ClientLimits are the limits clients are told in hello (docs/api.md): the message size, and the
// attachment sizes the Gateway announced (0: no bound known).
type ClientLimits struct {
	MaxTextBytes       int64 `json:"maxTextBytes"`
	MaxAttachmentBytes int64 `json:"maxAttachmentBytes"`
	MaxImageBytes      int64 `json:"maxImageBytes"`
}

// Limits returns the limits clients are told in hello.
func (s *Service) Limits() ClientLimits {
	l := s.gatewayLimits()
	return ClientLimits{MaxTextBytes: int64(s.cfg.MaxTextBytes), MaxAttachmentBytes: l.MaxAttachmentBytes, MaxImageBytes: l.MaxImageBytes}
}

func (s *Service) sendLimits() sending.Limits { return sending.Limits(s.gatewayLimits()) }

func (s *Service) gatewayLimits() Limits {
	if s.cfg.GatewayLimits == nil {
		return Limits{MaxAttachmentBytes: 5 << 20, MaxImageBytes: 6 << 20, MaxPayload: 25 << 20}
	}
	return s.cfg.GatewayLimits()
}

// mapUpstreamError maps an Upstream error (nil stays nil) for users (bridge/upstream).
func (s *Service) mapUpstreamError(ctx context.Context, method string, err error) error {
	return s.mapper.Map(ctx, method, err)
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
