// Package approvals is exec approvals for owners (docs/api.md "Exec approvals"). With
// Config.Enabled the Gateway client holds operator.approvals and the exec-approvals cap, and the
// Gateway broadcasts exec.approval.requested / exec.approval.resolved. The Service keeps the
// pending requests (backfilled with exec.approval.list after every (re)connect and every event
// gap, reconciled by id with live events, expired ones dropped) and tells owners, and only
// owners, with approval.requested / approval.resolved; the conversation's own user (a member)
// gets run.approval, which never names the owner. Members never see an approval and cannot list
// or resolve one: giving someone the power to approve host exec is giving them a shell on the
// Gateway host.
package approvals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/policy"
	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Publisher delivers events to a user's connections.
type Publisher interface {
	Publish(userID string, ev chat.Event) uint64
}

// Gateway is the part of the Gateway API approvals use, with the Upstream's own errors
// (gateway.API satisfies it).
type Gateway interface {
	ExecApprovalList(ctx context.Context) ([]gateway.ExecApproval, error)
	ExecApprovalResolve(ctx context.Context, p gateway.ExecApprovalResolveParams) (json.RawMessage, error)
}

// Store finds the conversation of a clawchat session key (chat.ErrNotFound when none).
type Store interface {
	ConversationByKey(ctx context.Context, sessionKey string) (chat.Conversation, error)
}

// Config configures a Service. Every field is required unless marked optional.
type Config struct {
	// Enabled: the Gateway client holds operator.approvals (bridge.Config.Approvals). Off,
	// Backfill does nothing and the pending list stays empty.
	Enabled   bool
	Publisher Publisher
	Gateway   Gateway
	Store     Store
	// Owners returns every owner's id (optional; nil: the owners seen since the start, NoteOwner).
	Owners func(ctx context.Context) ([]string, error)
	// RunSender returns the display name of who sent run runID's message in session key, or ""
	// (optional).
	RunSender func(runID, key string) string
	Now       func() time.Time
	Logger    *slog.Logger
	// Base is the context of background work (backfills, owner reads); cancelled at shutdown.
	Base context.Context
	// Go runs f in the background, tracked by the caller (which waits for it at shutdown).
	Go          func(f func())
	ListTimeout time.Duration // bounds exec.approval.list
	// Audit records an owner's decision (detail holds no secrets).
	Audit func(ctx context.Context, u chat.User, action, target string, detail map[string]any)
	// MapError maps a Gateway error for users (bridge/upstream).
	MapError func(ctx context.Context, method string, err error) error
}

// Service is the pending set. Its lock also orders the events it publishes, so that an id's
// approval.requested always precedes its approval.resolved on every connection. It is safe for
// concurrent use.
type Service struct {
	cfg Config

	mu          sync.Mutex
	pending     map[string]*approval
	resolved    map[string]time.Time // recently resolved ids
	gen         uint64
	backfilling bool
	again       bool
	seen        map[string]bool // owners seen (used when Config.Owners is nil)
	wake        chan struct{}   // expiry loop: the earliest expiry may have changed
}

// New returns a Service.
func New(cfg Config) *Service {
	return &Service{cfg: cfg, pending: map[string]*approval{}, resolved: map[string]time.Time{}, seen: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Approval decisions an owner may send.
const (
	DecisionAllowOnce   = gateway.DecisionAllowOnce
	DecisionAllowAlways = gateway.DecisionAllowAlways
	DecisionDeny        = gateway.DecisionDeny
	// DecisionExpired is the decision in approval.resolved when a request timed out or is no
	// longer pending on the Gateway for a reason clawchat did not see.
	DecisionExpired = "expired"
)

// Bounds of what an approval shows (the command is what the owner judges; everything is
// truncated so one request cannot flood a browser).
const (
	maxApprovals        = 256
	maxApprovalCommand  = 4000
	maxApprovalCwd      = 1000
	maxApprovalHost     = 200
	maxApprovalWarning  = 1000
	maxApprovalIDLength = 200
	// resolvedMemory is how long a resolved id is remembered, so that a backfill answer that was
	// computed before the resolution does not bring it back.
	resolvedMemory = 10 * time.Minute
)

var approvalIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,200}$`)

// ValidID reports whether id is a usable approval id.
func ValidID(id string) bool { return approvalIDRe.MatchString(id) }

// maxConversationTitle bounds a conversation title shown on an approval card.
const maxConversationTitle = 200

// approval is one pending request as the bridge keeps it.
type approval struct {
	id, command, cwd, host, agentID, warning string
	sessionKey                               string
	convUser, convID, convTitle              string // owner, id and title when sessionKey is a clawchat conversation
	requester                                string // display name of whoever sent the run's message (else convUser)
	gw                                       bool   // sessionKey is a Gateway session outside clawchat's namespace
	createdAtMs, expiresAtMs                 int64
	gen                                      uint64 // Service.gen when it was added
}

func (s *Service) approvalView(a *approval, ownerID string) chat.Approval {
	v := chat.Approval{ID: a.id, Command: a.command, Cwd: a.cwd, Host: a.host, AgentID: a.agentID,
		CreatedAtMs: a.createdAtMs, ExpiresAtMs: a.expiresAtMs, WarningText: a.warning}
	switch {
	case a.convUser != "" && a.convUser == ownerID:
		v.Conversation = a.convID
	case a.gw:
		v.Conversation = sessionkey.GatewayPrefix + a.sessionKey
	}
	if a.convUser != "" {
		v.RequestedBy, v.ConversationTitle = a.requester, a.convTitle
	}
	return v
}

// NoteOwner remembers an owner who used the service, for deployments without Config.Owners.
func (s *Service) NoteOwner(u chat.User) {
	if !u.IsOwner() || !sessionkey.ValidUserID(u.ID) {
		return
	}
	s.mu.Lock()
	s.seen[u.ID] = true
	s.mu.Unlock()
}

// OwnerIDs returns who receives approval events: Config.Owners when set (authoritative), else the
// owners seen since the start.
func (s *Service) OwnerIDs() []string {
	if s.cfg.Owners != nil {
		ctx, cancel := context.WithTimeout(s.cfg.Base, 2*time.Second)
		defer cancel()
		ids, err := s.cfg.Owners(ctx)
		if err != nil {
			s.cfg.Logger.Warn("list owners for approvals failed", "err", err)
			return nil
		}
		return ids
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.seen))
	for id := range s.seen {
		ids = append(ids, id)
	}
	return ids
}

// publishRequestedLocked tells every owner about a; s.mu held.
func (s *Service) publishRequestedLocked(a *approval, owners []string) {
	for _, o := range owners {
		s.cfg.Publisher.Publish(o, chat.ApprovalRequested{Approval: s.approvalView(a, o)}.Event())
	}
}

// publishResolvedLocked tells every owner that id is no longer pending; s.mu held.
func (s *Service) publishResolvedLocked(id, decision string, owners []string) {
	ev := chat.ApprovalResolved{ID: id, Decision: decision}.Event()
	for _, o := range owners {
		s.cfg.Publisher.Publish(o, ev)
	}
}

// rawApproval is exec.approval.requested's payload and an exec.approval.list row.
type rawApproval = gateway.ExecApproval

// parseApproval turns a raw request into what the bridge keeps, or nil when it is unusable
// (another kind, no id, nothing to show). The session's owner is looked up in the store.
func (s *Service) parseApproval(r *rawApproval) *approval {
	if r.ApprovalKind != "" && r.ApprovalKind != "exec" {
		return nil
	}
	if !approvalIDRe.MatchString(r.ID) {
		return nil
	}
	cmd := strings.TrimSpace(r.Request.Command)
	if cmd == "" && len(r.Request.CommandArgv) > 0 {
		cmd = joinArgv(r.Request.CommandArgv)
	}
	if cmd == "" {
		cmd = "(command not shown)"
	}
	a := &approval{
		id: r.ID, command: transcript.Truncate(cmd, maxApprovalCommand), cwd: transcript.Truncate(r.Request.Cwd, maxApprovalCwd),
		host: transcript.Truncate(r.Request.Host, maxApprovalHost), warning: transcript.Truncate(r.Request.WarningText, maxApprovalWarning),
		createdAtMs: r.CreatedAtMs, expiresAtMs: r.ExpiresAtMs,
	}
	if sessionkey.ValidAgentID(r.Request.AgentID) {
		a.agentID = r.Request.AgentID
	}
	key := strings.ToLower(r.Request.SessionKey)
	switch {
	case key == "":
	case sessionkey.IsOwnNamespace(key):
		ctx, cancel := context.WithTimeout(s.cfg.Base, 2*time.Second)
		c, err := s.cfg.Store.ConversationByKey(ctx, key)
		cancel()
		if err == nil && c.SessionKey == key && c.UserID != "" {
			a.sessionKey, a.convUser, a.convID, a.convTitle = key, c.UserID, c.ID, transcript.Truncate(c.Title, maxConversationTitle)
			a.requester = c.UserID
			if s.cfg.RunSender != nil {
				if name := s.cfg.RunSender(r.Request.RunID, key); name != "" {
					a.requester = policy.CleanName(name)
				}
			}
		}
	case sessionkey.ValidGatewayKey(key):
		a.sessionKey, a.gw = key, true
	}
	return a
}

// joinArgv renders an argv for display, quoting arguments a shell would split.
func joinArgv(argv []string) string {
	parts := make([]string, 0, len(argv))
	for _, s := range argv {
		if s == "" || strings.ContainsAny(s, " \t\n'\"\\$`;&|<>(){}*?!#~") {
			s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func (s *Service) expired(a *approval, now time.Time) bool {
	return a.expiresAtMs > 0 && now.UnixMilli() >= a.expiresAtMs
}

// Requested handles exec.approval.requested.
func (s *Service) Requested(payload json.RawMessage) {
	var r rawApproval
	if json.Unmarshal(payload, &r) != nil {
		return
	}
	a := s.parseApproval(&r)
	if a == nil {
		return
	}
	owners := s.OwnerIDs()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(a, owners)
}

// addLocked adds a unless it is known, resolved or expired; s.mu held.
func (s *Service) addLocked(a *approval, owners []string) {
	if _, ok := s.pending[a.id]; ok {
		return
	}
	if _, ok := s.resolved[a.id]; ok {
		return
	}
	if s.expired(a, s.cfg.Now()) {
		return
	}
	if len(s.pending) >= maxApprovals {
		s.cfg.Logger.Warn("too many pending exec approvals; ignoring one", "approval_id", a.id)
		return
	}
	s.gen++
	a.gen = s.gen
	s.pending[a.id] = a
	s.publishRequestedLocked(a, owners)
	if a.convUser != "" && !slices.Contains(owners, a.convUser) {
		s.cfg.Publisher.Publish(a.convUser, chat.RunApproval{
			Conversation: a.convID, ID: a.id, State: "waiting", Command: a.command, ExpiresAtMs: a.expiresAtMs,
		}.Event())
	}
	s.poke()
}

// removeLocked forgets id and tells owners once; s.mu held. It reports whether id was pending.
func (s *Service) removeLocked(id, decision string, owners []string) bool {
	s.resolved[id] = s.cfg.Now()
	a, ok := s.pending[id]
	if !ok {
		return false
	}
	delete(s.pending, id)
	s.publishResolvedLocked(id, decision, owners)
	if a.convUser != "" && !slices.Contains(owners, a.convUser) {
		s.cfg.Publisher.Publish(a.convUser, chat.RunApproval{Conversation: a.convID, ID: id, State: decision}.Event())
	}
	return true
}

// Resolved handles exec.approval.resolved.
func (s *Service) Resolved(payload json.RawMessage) {
	var r struct {
		ID       string `json:"id"`
		Decision string `json:"decision"`
	}
	if json.Unmarshal(payload, &r) != nil || !approvalIDRe.MatchString(r.ID) {
		return
	}
	owners := s.OwnerIDs()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(r.ID, cleanDecision(r.Decision), owners)
}

func cleanDecision(d string) string {
	switch d {
	case DecisionAllowOnce, DecisionAllowAlways, DecisionDeny:
		return d
	}
	return DecisionExpired
}

// Backfill reads exec.approval.list in the background (one at a time; a request while one
// runs makes it run again).
func (s *Service) Backfill() {
	if !s.cfg.Enabled {
		return
	}
	s.mu.Lock()
	if s.backfilling {
		s.again = true
		s.mu.Unlock()
		return
	}
	s.backfilling = true
	s.mu.Unlock()
	s.cfg.Go(func() {
		for {
			ctx, cancel := context.WithTimeout(s.cfg.Base, s.cfg.ListTimeout)
			s.backfillOnce(ctx)
			cancel()
			s.mu.Lock()
			if !s.again {
				s.backfilling = false
				s.mu.Unlock()
				return
			}
			s.again = false
			s.mu.Unlock()
		}
	})
}

// backfillOnce reconciles the pending set with exec.approval.list: rows not known are added
// (unless they were resolved meanwhile), known ones that the Gateway no longer lists and that were
// added before the list was asked for are dropped.
func (s *Service) backfillOnce(ctx context.Context) {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	rows, err := s.cfg.Gateway.ExecApprovalList(ctx)
	if err != nil {
		s.cfg.Logger.Warn("exec approval backfill failed", "err", err)
		return
	}
	listed := make(map[string]bool, len(rows))
	var fresh []*approval
	for i := range rows {
		listed[rows[i].ID] = true
		s.mu.Lock()
		_, known := s.pending[rows[i].ID]
		s.mu.Unlock()
		if known {
			continue
		}
		if a := s.parseApproval(&rows[i]); a != nil {
			fresh = append(fresh, a)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].createdAtMs < fresh[j].createdAtMs })
	owners := s.OwnerIDs()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, a := range s.pending {
		if !listed[id] && a.gen <= gen {
			s.removeLocked(id, DecisionExpired, owners)
		}
	}
	for _, a := range fresh {
		s.addLocked(a, owners)
	}
}

// expireApprovals drops expired requests (telling owners) and forgets old resolutions. It
// returns how long until the next request expires (0: none pending with an expiry).
func (s *Service) expireApprovals() time.Duration {
	now := s.cfg.Now()
	s.mu.Lock()
	var due []string
	var next int64
	for id, a := range s.pending {
		if s.expired(a, now) {
			due = append(due, id)
		} else if a.expiresAtMs > 0 && (next == 0 || a.expiresAtMs < next) {
			next = a.expiresAtMs
		}
	}
	for id, at := range s.resolved {
		if now.Sub(at) > resolvedMemory {
			delete(s.resolved, id)
		}
	}
	s.mu.Unlock()
	if len(due) > 0 {
		owners := s.OwnerIDs()
		s.mu.Lock()
		sort.Strings(due)
		for _, id := range due {
			if a := s.pending[id]; a != nil && s.expired(a, now) {
				s.removeLocked(id, DecisionExpired, owners)
			}
		}
		s.mu.Unlock()
	}
	if next == 0 {
		return 0
	}
	return max(time.UnixMilli(next).Sub(now), time.Millisecond)
}

// Run drops requests when they expire until ctx is done.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		d := s.expireApprovals()
		if d == 0 {
			d = time.Hour
		}
		t.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// List returns the pending exec approvals for owner u, oldest first. Members get
// chat.ErrNotFound (they may not know approvals exist). Without Config.Enabled the list is empty.
func (s *Service) List(ctx context.Context, u chat.User) ([]chat.Approval, error) {
	if !u.IsOwner() || !sessionkey.ValidUserID(u.ID) {
		return nil, fmt.Errorf("approval not found: %w", chat.ErrNotFound)
	}
	s.NoteOwner(u)
	now := s.cfg.Now()
	s.mu.Lock()
	list := make([]*approval, 0, len(s.pending))
	for _, a := range s.pending {
		if !s.expired(a, now) {
			list = append(list, a)
		}
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		if list[i].createdAtMs != list[j].createdAtMs {
			return list[i].createdAtMs < list[j].createdAtMs
		}
		return list[i].gen < list[j].gen
	})
	out := make([]chat.Approval, 0, len(list))
	for _, a := range list {
		out = append(out, s.approvalView(a, u.ID))
	}
	return out, nil
}

// Resolve answers a pending exec approval for owner u with decision (allow-once,
// allow-always or deny). Members and unknown or expired ids get chat.ErrNotFound, a bad decision
// chat.ErrInvalid; nothing reaches the Gateway in those cases. The decision is audited.
func (s *Service) Resolve(ctx context.Context, u chat.User, id, decision string) error {
	notFound := fmt.Errorf("approval not found: %w", chat.ErrNotFound)
	if !u.IsOwner() || !sessionkey.ValidUserID(u.ID) {
		return notFound
	}
	s.NoteOwner(u)
	switch decision {
	case DecisionAllowOnce, DecisionAllowAlways, DecisionDeny:
	default:
		return fmt.Errorf("decision must be allow-once, allow-always or deny: %w", chat.ErrInvalid)
	}
	if len(id) > maxApprovalIDLength || !approvalIDRe.MatchString(id) {
		return notFound
	}
	s.mu.Lock()
	a := s.pending[id]
	s.mu.Unlock()
	if a == nil || s.expired(a, s.cfg.Now()) {
		return notFound
	}
	_, err := s.cfg.Gateway.ExecApprovalResolve(ctx, gateway.ExecApprovalResolveParams{ID: id, Decision: decision})
	detail := map[string]any{"decision": decision, "ok": err == nil}
	if a.agentID != "" {
		detail["agentId"] = a.agentID
	}
	s.cfg.Audit(ctx, u, "approval.resolve", id, detail)
	if err != nil {
		if isApprovalGone(err) {
			owners := s.OwnerIDs()
			s.mu.Lock()
			s.removeLocked(id, DecisionExpired, owners)
			s.mu.Unlock()
			return notFound
		}
		return s.cfg.MapError(ctx, gateway.MethodExecApprovalResolve, err)
	}
	owners := s.OwnerIDs()
	s.mu.Lock()
	s.removeLocked(id, decision, owners)
	s.mu.Unlock()
	return nil
}

// isApprovalGone recognises the Gateway's "approval expired or not found" answer.
func isApprovalGone(err error) bool {
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return ge.Code == gateway.CodeApprovalNotFound || strings.Contains(strings.ToLower(ge.Message), "expired or not found")
	}
	return false
}
