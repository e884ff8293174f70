package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/policy"
	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Exec approvals (docs/api.md "Exec approvals"). With Config.Approvals the Gateway client holds
// operator.approvals and the exec-approvals cap, and the Gateway broadcasts
// exec.approval.requested / exec.approval.resolved. The bridge keeps the pending requests (backfilled
// with exec.approval.list after every (re)connect and every event gap, reconciled by id with live
// events, expired ones dropped) and tells owners, and only owners, with approval.requested /
// approval.resolved. Members never see an approval and cannot list or resolve one: giving someone
// the power to approve host exec is giving them a shell on the Gateway host.

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

// Approval is an owner's view of one pending exec approval. It never carries the Gateway's raw
// request (session ids, run ids, environment, resolver identities): only what an owner needs to
// judge the command.
type Approval = chat.Approval

// RunApproval is the run.approval payload: the conversation's own user learns that a command of
// theirs waits for an owner's decision, and then how it was decided. It never names the owner.
type RunApproval = chat.RunApproval

// approval is one pending request as the bridge keeps it.
type approval struct {
	id, command, cwd, host, agentID, warning string
	sessionKey                               string
	convUser, convID, convTitle              string // owner, id and title when sessionKey is a clawchat conversation
	requester                                string // display name of whoever sent the run's message (else convUser)
	gw                                       bool   // sessionKey is a Gateway session outside clawchat's namespace
	createdAtMs, expiresAtMs                 int64
	gen                                      uint64 // approvals.gen when it was added
}

// approvals is the pending set. Its lock also orders the events it publishes, so that an id's
// approval.requested always precedes its approval.resolved on every connection.
type approvals struct {
	mu          sync.Mutex
	pending     map[string]*approval
	resolved    map[string]time.Time // recently resolved ids
	gen         uint64
	backfilling bool
	again       bool
	seen        map[string]bool // owners seen (used when Config.Owners is nil)
	wake        chan struct{}   // expiry loop: the earliest expiry may have changed
}

func newApprovals() *approvals {
	return &approvals{pending: map[string]*approval{}, resolved: map[string]time.Time{}, seen: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (a *approvals) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (s *Service) approvalView(a *approval, ownerID string) Approval {
	v := Approval{ID: a.id, Command: a.command, Cwd: a.cwd, Host: a.host, AgentID: a.agentID,
		CreatedAtMs: a.createdAtMs, ExpiresAtMs: a.expiresAtMs, WarningText: a.warning}
	switch {
	case a.convUser != "" && a.convUser == ownerID:
		v.Conversation = a.convID
	case a.gw:
		v.Conversation = GatewayPrefix + a.sessionKey
	}
	if a.convUser != "" {
		v.RequestedBy, v.ConversationTitle = a.requester, a.convTitle
	}
	return v
}

// noteOwner remembers an owner who used the service, for deployments without Config.Owners.
func (s *Service) noteOwner(u chat.User) {
	if !u.IsOwner() || !sessionkey.ValidUserID(u.ID) {
		return
	}
	s.appr.mu.Lock()
	s.appr.seen[u.ID] = true
	s.appr.mu.Unlock()
}

// ownerIDs returns who receives approval events: Config.Owners when set (authoritative), else the
// owners seen since the start.
func (s *Service) ownerIDs() []string {
	if s.cfg.Owners != nil {
		ctx, cancel := context.WithTimeout(s.base, 2*time.Second)
		defer cancel()
		ids, err := s.cfg.Owners(ctx)
		if err != nil {
			s.log.Warn("list owners for approvals failed", "err", err)
			return nil
		}
		return ids
	}
	s.appr.mu.Lock()
	defer s.appr.mu.Unlock()
	ids := make([]string, 0, len(s.appr.seen))
	for id := range s.appr.seen {
		ids = append(ids, id)
	}
	return ids
}

// publishRequestedLocked tells every owner about a; s.appr.mu held.
func (s *Service) publishRequestedLocked(a *approval, owners []string) {
	for _, o := range owners {
		s.cfg.Publisher.Publish(o, chat.ApprovalRequested{Approval: s.approvalView(a, o)}.Event())
	}
}

// publishResolvedLocked tells every owner that id is no longer pending; s.appr.mu held.
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
		id: r.ID, command: truncate(cmd, maxApprovalCommand), cwd: truncate(r.Request.Cwd, maxApprovalCwd),
		host: truncate(r.Request.Host, maxApprovalHost), warning: truncate(r.Request.WarningText, maxApprovalWarning),
		createdAtMs: r.CreatedAtMs, expiresAtMs: r.ExpiresAtMs,
	}
	if sessionkey.ValidAgentID(r.Request.AgentID) {
		a.agentID = r.Request.AgentID
	}
	key := strings.ToLower(r.Request.SessionKey)
	switch {
	case key == "":
	case isOwnNamespace(key):
		ctx, cancel := context.WithTimeout(s.base, 2*time.Second)
		c, err := s.cfg.Store.ConversationByKey(ctx, key)
		cancel()
		if err == nil && c.SessionKey == key && c.UserID != "" {
			a.sessionKey, a.convUser, a.convID, a.convTitle = key, c.UserID, c.ID, truncate(c.Title, maxTitle)
			a.requester = c.UserID
			s.mu.Lock()
			if r := s.runs[r.Request.RunID]; r != nil && r.key == key && r.sender != "" {
				a.requester = policy.CleanName(r.sender)
			}
			s.mu.Unlock()
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

// onApprovalRequested handles exec.approval.requested.
func (s *Service) onApprovalRequested(payload json.RawMessage) {
	var r rawApproval
	if json.Unmarshal(payload, &r) != nil {
		return
	}
	a := s.parseApproval(&r)
	if a == nil {
		return
	}
	owners := s.ownerIDs()
	s.appr.mu.Lock()
	defer s.appr.mu.Unlock()
	s.addLocked(a, owners)
}

// addLocked adds a unless it is known, resolved or expired; s.appr.mu held.
func (s *Service) addLocked(a *approval, owners []string) {
	if _, ok := s.appr.pending[a.id]; ok {
		return
	}
	if _, ok := s.appr.resolved[a.id]; ok {
		return
	}
	if s.expired(a, s.cfg.Now()) {
		return
	}
	if len(s.appr.pending) >= maxApprovals {
		s.log.Warn("too many pending exec approvals; ignoring one", "approval_id", a.id)
		return
	}
	s.appr.gen++
	a.gen = s.appr.gen
	s.appr.pending[a.id] = a
	s.publishRequestedLocked(a, owners)
	if a.convUser != "" && !slices.Contains(owners, a.convUser) {
		s.cfg.Publisher.Publish(a.convUser, RunApproval{
			Conversation: a.convID, ID: a.id, State: "waiting", Command: a.command, ExpiresAtMs: a.expiresAtMs,
		}.Event())
	}
	s.appr.poke()
}

// removeLocked forgets id and tells owners once; s.appr.mu held. It reports whether id was pending.
func (s *Service) removeLocked(id, decision string, owners []string) bool {
	s.appr.resolved[id] = s.cfg.Now()
	a, ok := s.appr.pending[id]
	if !ok {
		return false
	}
	delete(s.appr.pending, id)
	s.publishResolvedLocked(id, decision, owners)
	if a.convUser != "" && !slices.Contains(owners, a.convUser) {
		s.cfg.Publisher.Publish(a.convUser, RunApproval{Conversation: a.convID, ID: id, State: decision}.Event())
	}
	return true
}

// onApprovalResolved handles exec.approval.resolved.
func (s *Service) onApprovalResolved(payload json.RawMessage) {
	var r struct {
		ID       string `json:"id"`
		Decision string `json:"decision"`
	}
	if json.Unmarshal(payload, &r) != nil || !approvalIDRe.MatchString(r.ID) {
		return
	}
	owners := s.ownerIDs()
	s.appr.mu.Lock()
	defer s.appr.mu.Unlock()
	s.removeLocked(r.ID, cleanDecision(r.Decision), owners)
}

func cleanDecision(d string) string {
	switch d {
	case DecisionAllowOnce, DecisionAllowAlways, DecisionDeny:
		return d
	}
	return DecisionExpired
}

// backfillApprovals reads exec.approval.list in the background (one at a time; a request while one
// runs makes it run again).
func (s *Service) backfillApprovals() {
	if !s.cfg.Approvals {
		return
	}
	s.appr.mu.Lock()
	if s.appr.backfilling {
		s.appr.again = true
		s.appr.mu.Unlock()
		return
	}
	s.appr.backfilling = true
	s.appr.mu.Unlock()
	s.goBackground(func() {
		for {
			ctx, cancel := context.WithTimeout(s.base, s.cfg.HistoryTimeout)
			s.backfillOnce(ctx)
			cancel()
			s.appr.mu.Lock()
			if !s.appr.again {
				s.appr.backfilling = false
				s.appr.mu.Unlock()
				return
			}
			s.appr.again = false
			s.appr.mu.Unlock()
		}
	})
}

// backfillOnce reconciles the pending set with exec.approval.list: rows not known are added
// (unless they were resolved meanwhile), known ones that the Gateway no longer lists and that were
// added before the list was asked for are dropped.
func (s *Service) backfillOnce(ctx context.Context) {
	s.appr.mu.Lock()
	gen := s.appr.gen
	s.appr.mu.Unlock()
	rows, err := s.rawGW.ExecApprovalList(ctx)
	if err != nil {
		s.log.Warn("exec approval backfill failed", "err", err)
		return
	}
	listed := make(map[string]bool, len(rows))
	var fresh []*approval
	for i := range rows {
		listed[rows[i].ID] = true
		s.appr.mu.Lock()
		_, known := s.appr.pending[rows[i].ID]
		s.appr.mu.Unlock()
		if known {
			continue
		}
		if a := s.parseApproval(&rows[i]); a != nil {
			fresh = append(fresh, a)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].createdAtMs < fresh[j].createdAtMs })
	owners := s.ownerIDs()
	s.appr.mu.Lock()
	defer s.appr.mu.Unlock()
	for id, a := range s.appr.pending {
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
	s.appr.mu.Lock()
	var due []string
	var next int64
	for id, a := range s.appr.pending {
		if s.expired(a, now) {
			due = append(due, id)
		} else if a.expiresAtMs > 0 && (next == 0 || a.expiresAtMs < next) {
			next = a.expiresAtMs
		}
	}
	for id, at := range s.appr.resolved {
		if now.Sub(at) > resolvedMemory {
			delete(s.appr.resolved, id)
		}
	}
	s.appr.mu.Unlock()
	if len(due) > 0 {
		owners := s.ownerIDs()
		s.appr.mu.Lock()
		sort.Strings(due)
		for _, id := range due {
			if a := s.appr.pending[id]; a != nil && s.expired(a, now) {
				s.removeLocked(id, DecisionExpired, owners)
			}
		}
		s.appr.mu.Unlock()
	}
	if next == 0 {
		return 0
	}
	return max(time.UnixMilli(next).Sub(now), time.Millisecond)
}

// runApprovals drops requests when they expire until ctx is done.
func (s *Service) runApprovals(ctx context.Context) {
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
		case <-s.appr.wake:
		}
	}
}

// Approvals returns the pending exec approvals for owner u, oldest first. Members get
// chat.ErrNotFound (they may not know approvals exist). Without Config.Approvals the list is empty.
func (s *Service) Approvals(ctx context.Context, u chat.User) ([]Approval, error) {
	if !u.IsOwner() || !sessionkey.ValidUserID(u.ID) {
		return nil, fmt.Errorf("approval not found: %w", chat.ErrNotFound)
	}
	s.noteOwner(u)
	now := s.cfg.Now()
	s.appr.mu.Lock()
	list := make([]*approval, 0, len(s.appr.pending))
	for _, a := range s.appr.pending {
		if !s.expired(a, now) {
			list = append(list, a)
		}
	}
	s.appr.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		if list[i].createdAtMs != list[j].createdAtMs {
			return list[i].createdAtMs < list[j].createdAtMs
		}
		return list[i].gen < list[j].gen
	})
	out := make([]Approval, 0, len(list))
	for _, a := range list {
		out = append(out, s.approvalView(a, u.ID))
	}
	return out, nil
}

// ResolveApproval answers a pending exec approval for owner u with decision (allow-once,
// allow-always or deny). Members and unknown or expired ids get chat.ErrNotFound, a bad decision
// chat.ErrInvalid; nothing reaches the Gateway in those cases. The decision is audited.
func (s *Service) ResolveApproval(ctx context.Context, u chat.User, id, decision string) error {
	notFound := fmt.Errorf("approval not found: %w", chat.ErrNotFound)
	if !u.IsOwner() || !sessionkey.ValidUserID(u.ID) {
		return notFound
	}
	s.noteOwner(u)
	switch decision {
	case DecisionAllowOnce, DecisionAllowAlways, DecisionDeny:
	default:
		return fmt.Errorf("decision must be allow-once, allow-always or deny: %w", chat.ErrInvalid)
	}
	if len(id) > maxApprovalIDLength || !approvalIDRe.MatchString(id) {
		return notFound
	}
	s.appr.mu.Lock()
	a := s.appr.pending[id]
	s.appr.mu.Unlock()
	if a == nil || s.expired(a, s.cfg.Now()) {
		return notFound
	}
	_, err := s.rawGW.ExecApprovalResolve(ctx, gateway.ExecApprovalResolveParams{ID: id, Decision: decision})
	detail := map[string]any{"decision": decision, "ok": err == nil}
	if a.agentID != "" {
		detail["agentId"] = a.agentID
	}
	s.audit(ctx, u, "approval.resolve", id, detail)
	if err != nil {
		if isApprovalGone(err) {
			owners := s.ownerIDs()
			s.appr.mu.Lock()
			s.removeLocked(id, DecisionExpired, owners)
			s.appr.mu.Unlock()
			return notFound
		}
		return s.mapUpstreamError(ctx, gateway.MethodExecApprovalResolve, err)
	}
	owners := s.ownerIDs()
	s.appr.mu.Lock()
	s.removeLocked(id, decision, owners)
	s.appr.mu.Unlock()
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
