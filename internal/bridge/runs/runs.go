// Package runs is clawchat's run tracker: every Gateway turn of a conversation, from the message
// that started it (or the Gateway event that revealed it) to its end, as its owner sees it.
//
// The state — runs, each conversation's active run and queue, the runs that ended recently —
// and its transitions are bridge/runstate's Table, a value without a lock; this package holds
// the one lock around it and does the I/O:
//
//   - queue.go: submitting a message (it waits behind the conversation's running turn, or
//     starts), the send of a run (Config.Send) and what its answer means, ending a run and
//     starting the next queued message.
//   - events.go: routing a Gateway event to its run (Route: adopting runs started elsewhere,
//     owners from Config.Owners), publishing run events, snapshots after a resync. Translating
//     the events themselves is bridge/stream's; a run's text, reasoning and tools are
//     bridge/runtext's (each Run has its own Content, with its own lock).
//   - reconcile.go: reconciliation with chat.history after reconnects, event gaps, bare finals
//     and stale runs (docs/reliability.md); what a verdict means is runstate's Judge.
//
// A Tracker has one lock (mu) over its Table and the connection state. Every Table call is made
// under it, so a run that ends is recorded as ended in the same critical section (a trailing
// Gateway event is never adopted as a new turn). It publishes run events under it where their
// order matters (run.started before any event of the run). Under mu it calls only Publisher and
// Owners (Deliverable, Known, WatchersOf, Fresh), which must not call back into the Tracker;
// Send, MapError and the Gateway are called without it. It is safe for concurrent use.
package runs

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/owners"
	"github.com/clawchat/clawchat/internal/bridge/runstate"
	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Publisher delivers events to a user's connections.
type Publisher interface {
	Publish(userID string, ev chat.Event) uint64
}

// CachingPublisher is a Publisher whose delivery of a conversation's events may read the store
// (share.Fanout reads a shared conversation's participants). Cached reports whether delivering an
// event of conversation convID addressed to userID needs no store read; when it does, Routable
// says so and the event is handled on its session's worker, off the Gateway dispatch goroutine.
type CachingPublisher interface {
	Publisher
	Cached(userID, convID string) bool
}

// Owners is who may see a session's events (bridge/owners implements it).
type Owners interface {
	// Resolve returns the conversation id and the users of session key (may read the store).
	Resolve(key string) (convID string, users []string)
	// Known reports whether the owner of clawchat key is known without a store read.
	Known(key string) (ref owners.Ref, ok bool)
	// WatchersOf returns the watchers of Gateway session key without reading the store.
	WatchersOf(key string) []string
	// Fresh reports whether the owner roles of users are known without a store read.
	Fresh(users []string) bool
	// Deliverable reports whether events of conversation convID may go to userID now.
	Deliverable(convID, userID string) bool
}

// Config configures a Tracker. Every field without "optional" is required.
type Config struct {
	Publisher Publisher
	Owners    Owners
	// Gateway is the typed Gateway API with errors mapped for users (chat.history).
	Gateway gateway.API
	// Send is chat.send of message m in session key under run runID for the conversation's user
	// userID (bridge/sending: conditional on the member's session policy). Its errors are the
	// Upstream's own, or chat sentinels phrased for the user.
	Send func(ctx context.Context, key, runID, userID string, m *Message) (*gateway.ChatSendResult, error)
	// MapError maps a Gateway error for users (bridge/upstream).
	MapError func(ctx context.Context, method string, err error) error
	// Go runs f in the background, tracked by the caller (which waits for it at shutdown).
	Go func(f func())
	// Base is the context of background work (reconciliation, queued sends); cancelled at shutdown.
	Base   context.Context
	Logger *slog.Logger
	Now    func() time.Time

	MaxConcurrentRuns int // per user
	MaxQueued         int // per conversation
	// StaleRunAfter, RecoveryGrace (default 20s), HistoryTimeout and SendTimeout: see
	// bridge.Config.
	StaleRunAfter, RecoveryGrace, HistoryTimeout, SendTimeout time.Duration

	// Participants returns who sees conversation convID as addressed to its user userID (a
	// shared conversation's participants, issue 13), or false when that is unknown (a Gateway
	// session): then userID alone. Optional; nil means every conversation is its user's alone.
	// Snapshots are filtered with it; events are fanned out by the Publisher.
	Participants func(userID, convID string) ([]string, bool)
}

// Tracker tracks runs.
type Tracker struct {
	cfg      Config
	log      *slog.Logger
	gw       gateway.API
	ownersOf Owners
	base     context.Context

	mu        sync.Mutex
	table     *runstate.Table // runs, conversations' active runs and queues, ended runs
	connected bool            // the Gateway connection is up (SetConnected)
}

// New returns a Tracker.
func New(cfg Config) *Tracker {
	if cfg.RecoveryGrace <= 0 {
		cfg.RecoveryGrace = runstate.DefaultRecoveryGrace
	}
	return &Tracker{cfg: cfg, log: cfg.Logger, gw: cfg.Gateway, ownersOf: cfg.Owners, base: cfg.Base, table: runstate.New()}
}

// SetConnected records whether the Gateway connection is up (a send whose answer was lost is
// reconciled at once when it is).
func (s *Tracker) SetConnected(up bool) {
	s.mu.Lock()
	s.connected = up
	s.mu.Unlock()
}

// Reconcile resolves in-flight runs from chat.history: every run (onlyStale false: after a
// reconnect or an event gap), else only runs without events for StaleRunAfter.
func (s *Tracker) Reconcile(ctx context.Context, onlyStale bool) { s.reconcile(ctx, onlyStale) }

// PruneRecent forgets runs that ended more than 10 minutes ago.
func (s *Tracker) PruneRecent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table.Prune(s.cfg.Now(), 10*time.Minute)
}

// Routable reports whether routing an event of key and runID needs no store read: its run is
// tracked or recently ended, or key is a clawchat session already known to be someone's or
// nobody's; for a Gateway session, the owner list must be fresh for everyone it may go to.
func (s *Tracker) Routable(key, runID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.table.Run(runID)
	if !sessionkey.IsOwnNamespace(key) {
		users := s.ownersOf.WatchersOf(key)
		if r != nil {
			users = append(users, r.UserID())
		}
		return s.ownersOf.Fresh(users)
	}
	if r != nil {
		return s.cachedLocked(r.UserID(), r.ConvID())
	}
	if s.table.Ended(runID) {
		return true // trailing events are dropped, or the run reopened for its known user
	}
	if userID, convID, ok := s.table.Conv(key); ok {
		return s.cachedLocked(userID, convID)
	}
	ref, known := s.ownersOf.Known(key)
	return known && (ref.UserID == "" || s.cachedLocked(ref.UserID, ref.ConvID))
}

// cachedLocked reports whether the Publisher delivers events of convID addressed to userID
// without a store read (always, unless it is a CachingPublisher). s.mu held.
func (s *Tracker) cachedLocked(userID, convID string) bool {
	cp, ok := s.cfg.Publisher.(CachingPublisher)
	return !ok || cp.Cached(userID, convID)
}

// Route returns the run of an event of runID in session key (routeRun); nil when nobody here may
// see it.
func (s *Tracker) Route(runID, key string, reopen bool) *Run { return s.routeRun(runID, key, reopen) }

// Publish sends a run event to r's user, unless r is in a Gateway session whose user is no longer
// an owner.
func (s *Tracker) Publish(r *Run, ev chat.Event) { s.publishRun(r, ev) }

// Finish ends r once with a terminal payload (finish).
func (s *Tracker) Finish(r *Run, p chat.Payload) bool { return s.finish(r, p) }

// Bare records that the Gateway ended r with a final that has no message and no text (merged into
// or parked behind another turn) and resolves r from history in the background.
func (s *Tracker) Bare(r *Run) {
	s.mu.Lock()
	s.table.Bare(r)
	s.mu.Unlock()
	s.goBackground(func() { s.reconcileRun(s.base, r.ID()) })
}

// SenderOf returns the account id of whoever sent run runID in session key, whether it runs or
// waits in the queue, and false when there is no such run.
func (s *Tracker) SenderOf(key, runID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.SenderOf(key, runID)
}

// RunSender is the display name of whoever sent run runID's message in session key, or "".
func (s *Tracker) RunSender(runID, key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.RunSender(runID, key)
}

// sees reports whether user may see the runs of conversation convID addressed to owner.
func (s *Tracker) sees(user, owner, convID string) bool {
	if s.cfg.Participants != nil {
		if users, ok := s.cfg.Participants(owner, convID); ok {
			return slices.Contains(users, user)
		}
	}
	return owner == user
}

func (s *Tracker) goBackground(f func()) { s.cfg.Go(f) }

func (s *Tracker) mapUpstreamError(ctx context.Context, method string, err error) error {
	return s.cfg.MapError(ctx, method, err)
}

// deliverable reports whether r's events may go to r's user now: always for clawchat's own
// conversations (the user owns them), and for Gateway sessions only while the user is an owner.
func (s *Tracker) deliverable(r *Run) bool { return s.ownersOf.Deliverable(r.ConvID(), r.UserID()) }
