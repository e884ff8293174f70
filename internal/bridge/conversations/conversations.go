// Package conversations is a user's conversations: the authorization gate in front of every
// per-conversation operation (Lookup: another user's conversation, a gw: id from a member and a
// never-used id are all the same chat.ErrNotFound), create/rename/archive/delete, the list (with
// an owner's view of the Gateway's other sessions), history pages and the agents a user may
// pick. Ownership comes only from the store, never from a key a client sends.
//
// A Service has no state of its own beyond its configuration: rows live in the store, run state
// in the run tracker (Config.Runs), ownership memory in bridge/owners. It is safe for concurrent
// use.
package conversations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/policy"
	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Store is the persistence conversations need (internal/store implements it). Missing rows are
// chat.ErrNotFound; a duplicate (userID, id) or session key is chat.ErrConflict.
type Store interface {
	CreateConversation(ctx context.Context, c chat.Conversation) error
	Conversation(ctx context.Context, userID, id string) (chat.Conversation, error)
	Conversations(ctx context.Context, userID string) ([]chat.Conversation, error)
	UpdateConversation(ctx context.Context, c chat.Conversation) error
	DeleteConversation(ctx context.Context, userID, id string) error
	CountConversations(ctx context.Context, userID string) (int, error)
}

// Publisher delivers events to a user's connections.
type Publisher interface {
	Publish(userID string, ev chat.Event) uint64
}

// Runs is what conversations need from the run tracker (bridge/runs).
type Runs interface {
	// RunState returns the id of session key's active run ("" when none) and how many messages
	// wait behind it.
	RunState(key string) (runID string, queued int)
	// ClearQueue drops the messages waiting in session key and returns its active run's id.
	ClearQueue(key string) (runID string)
	// Forget ends session key's active run silently and forgets its state (a deleted conversation).
	Forget(key string)
}

// Owners is the ownership memory (bridge/owners).
type Owners interface {
	Remember(c chat.Conversation)
	Forget(key string)
	Watch(key, userID string)
}

// Policy applies members' session policies (bridge/policy).
type Policy interface {
	ForMember(agentID string) policy.Policy
	Apply(ctx context.Context, key string, p policy.Policy) error
}

// Config configures a Service. Every field without "optional" is required.
type Config struct {
	Store     Store
	Publisher Publisher
	Runs      Runs
	Owners    Owners
	Policy    Policy
	// Gateway is the typed Gateway API with errors mapped for users (bridge/upstream).
	Gateway gateway.API
	Logger  *slog.Logger
	Now     func() time.Time
	// DefaultAgent, GatewayDefaultAgent (optional), MemberAgents and OwnerAgents: see bridge.Config.
	DefaultAgent              string
	GatewayDefaultAgent       func() string
	MemberAgents, OwnerAgents []string
	MaxConversations          int
	// GatewayState is the Gateway connection state as users see it ("connected", …).
	GatewayState func() string
	// NoteOwner remembers an owner who used the service (optional; approvals without Owners).
	NoteOwner func(u chat.User)
	// Audit records an owner's action on a Gateway session (detail holds no message text).
	Audit func(ctx context.Context, u chat.User, action, target string, detail map[string]any)
	// Shared is the membership of shared conversations (issue 13; internal/store implements it).
	// Optional: without it every conversation is its creator's alone.
	Shared SharedStore
	// Renamed is told of every rename (optional; bridge/titles pushes it to the Gateway as the
	// session's label).
	Renamed func(c chat.Conversation)
}

// SharedStore is what conversations need of shared conversations' membership (internal/store).
type SharedStore interface {
	// Access returns the conversation userID sees under id, with Role and Shared set, or
	// chat.ErrNotFound.
	Access(ctx context.Context, userID, id string) (chat.Conversation, chat.ShareRole, error)
	// AccessibleConversations is every conversation userID may see, with Role and Shared set.
	AccessibleConversations(ctx context.Context, userID string) ([]chat.Conversation, []chat.ShareRole, error)
	// MemberIDs returns the participants of a shared conversation (empty when not shared).
	MemberIDs(ctx context.Context, sessionKey string) ([]string, error)
	// SharedWithMember reports whether a participant holds the member account role.
	SharedWithMember(ctx context.Context, sessionKey string) (bool, error)
	// Senders returns who sent the messages of a shared conversation, by run id.
	Senders(ctx context.Context, sessionKey string) (map[string]chat.Sender, error)
}

// Service is the conversation service.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

func (s *Service) noteOwner(u chat.User) {
	if s.cfg.NoteOwner != nil {
		s.cfg.NoteOwner(u)
	}
}

// GatewayAction reports whether an owner's call on conversation is an authorized action on a
// Gateway session (a gw: id), which is audited whatever its outcome. Refusals that the id did not
// pass (not found) are not audited: nothing reached the Gateway.
func GatewayAction(u chat.User, conversation string, err error) bool {
	if !u.IsOwner() || errors.Is(err, chat.ErrNotFound) {
		return false
	}
	_, ok := sessionkey.ParseGatewayID(conversation)
	return ok
}

// Conversation is the client view of a conversation (docs/api.md "Conversation object").
type Conversation = chat.ConversationView

// errNotFound is the one answer for a conversation the user may not see, whatever the reason.
var errNotFound = fmt.Errorf("conversation not found: %w", chat.ErrNotFound)

// View is the client view of c (run state included). For a shared conversation it reads the
// store (does the member policy apply?) under ctx.
func (s *Service) View(ctx context.Context, c chat.Conversation) Conversation {
	v := Conversation{
		ID: c.ID, Title: c.Title, AgentID: c.AgentID, Kind: "conversation",
		CreatedAt: transcript.Time(c.CreatedAt), UpdatedAt: transcript.Time(c.UpdatedAt), LastActivityAt: transcript.Time(c.LastActivityAt),
		Archived: c.Archived, Pinned: c.Pinned,
		Role: string(c.Role), Shared: c.Shared,
	}
	if c.Shared {
		v.MemberPolicy = s.MemberPolicyApplies(ctx, c)
	}
	if c.HostApp != "" {
		v.Context = &chat.HostContext{App: c.HostApp, ID: c.ContextID}
	}
	s.fillRunState(&v, c.SessionKey)
	return v
}

// MemberPolicyApplies reports whether the shared conversation c runs under the member policy
// because one of its participants is a member (issue 13: the most restrictive of the
// participants' roles). A store failure answers true (fail closed).
func (s *Service) MemberPolicyApplies(ctx context.Context, c chat.Conversation) bool {
	if !c.Shared || s.cfg.Shared == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := s.cfg.Shared.SharedWithMember(ctx, c.SessionKey)
	return err != nil || m
}

// errNotOwner refuses a participant of a shared conversation an owner's action.
var errNotOwner = chat.Public(chat.ErrForbidden, "only the conversation's owner can do that")

// fillRunState sets Running, RunID and Queued from the run tracker.
func (s *Service) fillRunState(v *Conversation, key string) {
	runID, queued := s.cfg.Runs.RunState(key)
	if runID != "" {
		v.Running = true
		v.RunID = &runID
	}
	v.Queued = queued
}

// Lookup authorizes user for conversation id and returns it. It is the single gate in front of
// every per-conversation operation: a malformed id, another user's conversation, a gw: id from a
// member and a never-used id are all errNotFound.
func (s *Service) Lookup(ctx context.Context, u chat.User, id string) (chat.Conversation, error) {
	if u.ID == "" || !sessionkey.ValidUserID(u.ID) {
		return chat.Conversation{}, errNotFound
	}
	if strings.HasPrefix(id, sessionkey.GatewayPrefix) {
		key, ok := sessionkey.ParseGatewayID(id)
		if !ok || !u.IsOwner() {
			return chat.Conversation{}, errNotFound
		}
		agent, _, _ := strings.Cut(strings.TrimPrefix(key, "agent:"), ":")
		return chat.Conversation{UserID: u.ID, ID: id, AgentID: agent, SessionKey: key}, nil
	}
	if !chat.ValidConversationID(id) {
		return chat.Conversation{}, errNotFound
	}
	if s.cfg.Shared != nil {
		// Shared conversations (issue 13): the participants' rows, else the creator's own.
		c, role, err := s.cfg.Shared.Access(ctx, u.ID, id)
		if errors.Is(err, chat.ErrNotFound) {
			return chat.Conversation{}, errNotFound
		}
		if err != nil {
			return chat.Conversation{}, fmt.Errorf("bridge: load conversation: %w", err)
		}
		if c.ID != id || !role.Valid() || c.SessionKey != sessionkey.ConversationKey(c) ||
			(!c.Shared && c.UserID != u.ID) || !Visible(u, c) {
			// Never trust a row that does not match what was asked; an embedded session sees
			// only the contexts its token granted (context.go).
			return chat.Conversation{}, errNotFound
		}
		c.Role = role
		s.cfg.Owners.Remember(c)
		return c, nil
	}
	c, err := s.cfg.Store.Conversation(ctx, u.ID, id)
	if errors.Is(err, chat.ErrNotFound) {
		return chat.Conversation{}, errNotFound
	}
	if err != nil {
		return chat.Conversation{}, fmt.Errorf("bridge: load conversation: %w", err)
	}
	if c.UserID != u.ID || c.ID != id || c.SessionKey != sessionkey.ConversationKey(c) || !Visible(u, c) {
		// Never trust a row that does not match what was asked; an embedded session sees only
		// the contexts its token granted (context.go).
		return chat.Conversation{}, errNotFound
	}
	c.Role = chat.ShareOwner
	s.cfg.Owners.Remember(c)
	return c, nil
}

// mayManage reports whether u may rename, archive or delete c: its owner (every conversation
// that is not shared is its creator's).
func mayManage(c chat.Conversation) bool { return !c.Shared || c.Role == chat.ShareOwner }

// IsGateway reports whether c is an owner's view of a Gateway session (gw:…).
func IsGateway(c chat.Conversation) bool { return strings.HasPrefix(c.ID, sessionkey.GatewayPrefix) }

// Get returns one of u's conversations.
func (s *Service) Get(ctx context.Context, u chat.User, id string) (Conversation, error) {
	c, err := s.Lookup(ctx, u, id)
	if err != nil {
		return Conversation{}, err
	}
	if IsGateway(c) {
		return s.gatewayView(c), nil
	}
	return s.viewFor(ctx, u, c), nil
}

func (s *Service) gatewayView(c chat.Conversation) Conversation {
	v := Conversation{ID: c.ID, Title: c.Title, AgentID: c.AgentID, Kind: "gateway"}
	if v.Title == "" {
		v.Title = strings.TrimPrefix(c.ID, sessionkey.GatewayPrefix)
	}
	s.fillRunState(&v, c.SessionKey)
	return v
}

// List returns u's conversations (archived ones only when archived is true), newest activity
// first, and for owners the Gateway's other sessions (nil for members or when the Gateway is not
// reachable).
func (s *Service) List(ctx context.Context, u chat.User, archived bool) ([]Conversation, []Conversation, error) {
	if !sessionkey.ValidUserID(u.ID) {
		return nil, nil, errNotFound
	}
	var cs []chat.Conversation
	var err error
	if s.cfg.Shared != nil {
		cs, _, err = s.cfg.Shared.AccessibleConversations(ctx, u.ID)
	} else {
		cs, err = s.cfg.Store.Conversations(ctx, u.ID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bridge: list conversations: %w", err)
	}
	out := make([]Conversation, 0, len(cs))
	for _, c := range cs {
		if (c.UserID != u.ID && !c.Shared) || c.Archived != archived || !Visible(u, c) {
			continue
		}
		if c.Role == "" {
			c.Role = chat.ShareOwner
		}
		out = append(out, s.viewFor(ctx, u, c))
	}
	sort.SliceStable(out, func(i, j int) bool { return last(out[i]).After(last(out[j])) })
	var gw []Conversation
	s.noteOwner(u)
	if u.IsOwner() && !archived {
		gw, err = s.gatewaySessions(ctx)
		if err != nil {
			s.cfg.Logger.Debug("gateway sessions unavailable", "err", err)
			gw = nil
		}
	}
	return out, gw, nil
}

func last(c Conversation) time.Time {
	if c.LastActivityAt != nil {
		return *c.LastActivityAt
	}
	if c.CreatedAt != nil {
		return *c.CreatedAt
	}
	return time.Time{}
}

// gatewaySessions lists the Gateway's sessions outside clawchat's namespace.
func (s *Service) gatewaySessions(ctx context.Context) ([]Conversation, error) {
	res, err := s.cfg.Gateway.SessionsList(ctx, gateway.SessionsListParams{Limit: 200})
	if err != nil {
		return nil, err
	}
	out := []Conversation{}
	for _, row := range res.Sessions {
		if sessionkey.IsOwnNamespace(row.Key) || !sessionkey.ValidGatewayKey(row.Key) {
			continue
		}
		title := row.Label
		if title == "" {
			title = row.DisplayName
		}
		if title == "" {
			title = row.Key
		}
		v := Conversation{ID: sessionkey.GatewayPrefix + row.Key, Title: title, AgentID: row.AgentID, Kind: "gateway", Archived: row.Archived}
		if row.UpdatedAt > 0 {
			v.LastActivityAt = transcript.Time(time.UnixMilli(row.UpdatedAt))
		}
		s.fillRunState(&v, row.Key)
		out = append(out, v)
	}
	return out, nil
}

// CreateParams are the fields of a new conversation. ID is optional (c-<random> when empty).
type CreateParams struct {
	ID      string
	Title   string
	AgentID string
}

const maxTitle = 200

// Create makes a new conversation for u. A client-chosen id that u already has is chat.ErrConflict.
func (s *Service) Create(ctx context.Context, u chat.User, p CreateParams) (Conversation, error) {
	c, err := s.CreateRow(ctx, u, p)
	if err != nil {
		return Conversation{}, err
	}
	v := s.View(ctx, c)
	s.cfg.Publisher.Publish(u.ID, chat.ConversationCreated{ConversationView: v}.Event())
	return v, nil
}

// CreateRow makes u's conversation p (the store row, the ownership memory and, for members, the
// session policy) without telling anyone; Create also publishes conversation.created.
func (s *Service) CreateRow(ctx context.Context, u chat.User, p CreateParams) (chat.Conversation, error) {
	return s.createRow(ctx, u, p, "", "")
}

// createRow is CreateRow in host context (app, ctxID), both "" for none (context.go).
func (s *Service) createRow(ctx context.Context, u chat.User, p CreateParams, app, ctxID string) (chat.Conversation, error) {
	if (app == "") != (ctxID == "") || !Visible(u, chat.Conversation{HostApp: app, ContextID: ctxID}) {
		// An embedded session creates only in the contexts its token granted: the same answer
		// as for any conversation it may not see.
		return chat.Conversation{}, errNotFound
	}
	if !sessionkey.ValidUserID(u.ID) {
		return chat.Conversation{}, fmt.Errorf("bridge: unusable user id: %w", chat.ErrForbidden)
	}
	if p.ID == "" {
		p.ID = sessionkey.NewConversationID()
	}
	if !chat.ValidConversationID(p.ID) {
		return chat.Conversation{}, fmt.Errorf("conversation ids match ^[a-z0-9][a-z0-9_-]{0,63}$: %w", chat.ErrInvalid)
	}
	if p.AgentID == "" {
		p.AgentID = s.defaultAgent()
	}
	if !sessionkey.ValidAgentID(p.AgentID) || !s.agentAllowed(u, p.AgentID) {
		// The same answer for an agent that does not exist and one this user may not use.
		return chat.Conversation{}, fmt.Errorf("agent %q is not available: %w", transcript.Truncate(p.AgentID, 64), chat.ErrInvalid)
	}
	if len(p.Title) > maxTitle {
		return chat.Conversation{}, fmt.Errorf("title longer than %d bytes: %w", maxTitle, chat.ErrTooLarge)
	}
	if err := NoNUL("title", p.Title); err != nil {
		return chat.Conversation{}, err
	}
	n, err := s.cfg.Store.CountConversations(ctx, u.ID)
	if err != nil {
		return chat.Conversation{}, fmt.Errorf("bridge: count conversations: %w", err)
	}
	if n >= s.cfg.MaxConversations {
		s.cfg.Publisher.Publish(u.ID, chat.ErrorEvent{Code: "limit_reached", Message: "too many conversations; delete some first"}.Event())
		return chat.Conversation{}, fmt.Errorf("at most %d conversations per user: %w", s.cfg.MaxConversations, chat.ErrLimitReached)
	}
	now := s.cfg.Now().UTC()
	c := chat.Conversation{
		UserID: u.ID, ID: p.ID, AgentID: p.AgentID, HostApp: app, ContextID: ctxID,
		Title: strings.TrimSpace(p.Title), CreatedAt: now, UpdatedAt: now, LastActivityAt: now,
	}
	c.SessionKey = sessionkey.ConversationKey(c)
	if err := s.cfg.Store.CreateConversation(ctx, c); err != nil {
		if errors.Is(err, chat.ErrConflict) {
			return chat.Conversation{}, fmt.Errorf("conversation already exists: %w", chat.ErrConflict)
		}
		return chat.Conversation{}, fmt.Errorf("bridge: create conversation: %w", err)
	}
	s.cfg.Owners.Remember(c)
	if !u.IsOwner() {
		// The policy goes on before the first send. When this fails, the first send finds the
		// session without a policy and applies it again, or refuses to run (sendChecked).
		if err := s.cfg.Policy.Apply(ctx, c.SessionKey, s.cfg.Policy.ForMember(c.AgentID)); err != nil {
			s.cfg.Logger.Warn("member session policy not applied at creation; the first send retries", "err", err)
		}
	}
	return c, nil
}

// UpdateParams are the fields to change; nil means unchanged.
type UpdateParams struct {
	Title    *string
	Archived *bool
	Pinned   *bool
}

// Update renames, archives and/or pins one of u's conversations.
func (s *Service) Update(ctx context.Context, u chat.User, id string, p UpdateParams) (Conversation, error) {
	c, err := s.Lookup(ctx, u, id)
	if err != nil {
		return Conversation{}, err
	}
	if IsGateway(c) {
		return Conversation{}, fmt.Errorf("gateway sessions cannot be changed here: %w", chat.ErrForbidden)
	}
	if !mayManage(c) {
		return Conversation{}, errNotOwner
	}
	if p.Title != nil {
		if len(*p.Title) > maxTitle {
			return Conversation{}, fmt.Errorf("title longer than %d bytes: %w", maxTitle, chat.ErrTooLarge)
		}
		if err := NoNUL("title", *p.Title); err != nil {
			return Conversation{}, err
		}
		c.Title = strings.TrimSpace(*p.Title)
	}
	if p.Archived != nil {
		c.Archived = *p.Archived
	}
	if p.Pinned != nil {
		c.Pinned = *p.Pinned
	}
	c.UpdatedAt = s.cfg.Now().UTC()
	if err := s.cfg.Store.UpdateConversation(ctx, c); err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			return Conversation{}, errNotFound
		}
		return Conversation{}, fmt.Errorf("bridge: update conversation: %w", err)
	}
	if p.Title != nil && s.cfg.Renamed != nil {
		s.cfg.Renamed(c)
	}
	v := s.View(ctx, c)
	// Every participant hears of it (the publisher fans it out); the role is each one's own, so
	// the event carries none and clients keep theirs.
	ev := v
	ev.Role = ""
	s.cfg.Publisher.Publish(u.ID, chat.ConversationUpdated{ConversationView: ev}.Event())
	return v, nil
}

// Delete removes one of u's conversations: any run is aborted, the Gateway session is archived and
// deleted (a session that never existed is fine), then the row goes.
func (s *Service) Delete(ctx context.Context, u chat.User, id string) error {
	c, err := s.Lookup(ctx, u, id)
	if err != nil {
		return err
	}
	if IsGateway(c) {
		return fmt.Errorf("gateway sessions cannot be deleted here: %w", chat.ErrForbidden)
	}
	if !mayManage(c) {
		return errNotOwner
	}
	// Everyone taking part learns that it is gone (read before the rows go).
	tell := []string{u.ID}
	if c.Shared && s.cfg.Shared != nil {
		if ids, err := s.cfg.Shared.MemberIDs(ctx, c.SessionKey); err == nil && len(ids) > 0 {
			tell = ids
		}
	}
	runID := s.cfg.Runs.ClearQueue(c.SessionKey)
	if runID != "" {
		_, _ = s.cfg.Gateway.ChatAbort(ctx, gateway.ChatAbortParams{SessionKey: c.SessionKey, RunID: runID})
	}
	archived := true
	if _, err := s.cfg.Gateway.SessionsPatch(ctx, gateway.SessionsPatchParams{Key: c.SessionKey, Archived: &archived}); err != nil && !errors.Is(err, chat.ErrInvalid) {
		// A session that never existed cannot be patched; the Gateway answers INVALID_REQUEST.
		if errors.Is(err, chat.ErrUnavailable) && s.cfg.GatewayState() != "connected" {
			return err
		}
	}
	if _, err := s.cfg.Gateway.SessionsDelete(ctx, gateway.SessionsDeleteParams{Key: c.SessionKey, ArchivedOnly: true}); err != nil {
		if errors.Is(err, chat.ErrUnavailable) && s.cfg.GatewayState() != "connected" {
			return err
		}
	}
	// The row is its creator's (c.UserID), whoever owns the conversation now.
	if err := s.cfg.Store.DeleteConversation(ctx, c.UserID, c.ID); err != nil && !errors.Is(err, chat.ErrNotFound) {
		return fmt.Errorf("bridge: delete conversation: %w", err)
	}
	s.cfg.Runs.Forget(c.SessionKey)
	s.cfg.Owners.Forget(c.SessionKey)
	for _, id := range tell {
		s.cfg.Publisher.Publish(id, chat.ConversationDeleted{ID: c.ID}.Event())
	}
	return nil
}

// Agent is an agent users may pick for a conversation.
type Agent struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Emoji string `json:"emoji,omitempty"`
}

// AgentList is the answer of Agents.
type AgentList struct {
	Agents  []Agent `json:"agents"`
	Default string  `json:"default"`
}

// Agents lists the Gateway's agents (ids, names, emoji only).
func (s *Service) Agents(ctx context.Context) (AgentList, error) {
	res, err := s.cfg.Gateway.AgentsList(ctx)
	if err != nil {
		return AgentList{}, err
	}
	out := AgentList{Agents: []Agent{}, Default: res.DefaultID}
	if out.Default == "" {
		out.Default = s.defaultAgent()
	}
	for _, a := range res.Agents {
		if !sessionkey.ValidAgentID(a.ID) {
			continue
		}
		var ident struct{ Name, Emoji string }
		if a.Identity != nil {
			ident.Name, ident.Emoji = a.Identity.Name, a.Identity.Emoji
		}
		name := ident.Name
		if name == "" {
			name = a.Name
		}
		if name == "" {
			name = a.ID
		}
		out.Agents = append(out.Agents, Agent{ID: a.ID, Name: transcript.Truncate(name, 100), Emoji: transcript.Truncate(ident.Emoji, 16)})
	}
	return out, nil
}

// defaultAgent is the agent of conversations created without one.
func (s *Service) defaultAgent() string {
	if s.cfg.DefaultAgent != "" {
		return s.cfg.DefaultAgent
	}
	if s.cfg.GatewayDefaultAgent != nil {
		if a := s.cfg.GatewayDefaultAgent(); sessionkey.ValidAgentID(a) {
			return a
		}
	}
	return "main"
}

// agentAllowed reports whether u may talk to agent (Config.MemberAgents / OwnerAgents).
func (s *Service) agentAllowed(u chat.User, agent string) bool {
	list := s.cfg.MemberAgents
	if u.IsOwner() {
		list = s.cfg.OwnerAgents
	}
	if len(list) == 0 {
		return agent == s.defaultAgent()
	}
	return slices.Contains(list, "*") || slices.Contains(list, agent)
}

// AgentsFor is Agents filtered to the agents u may talk to.
func (s *Service) AgentsFor(ctx context.Context, u chat.User) (AgentList, error) {
	all, err := s.Agents(ctx)
	if err != nil {
		return AgentList{}, err
	}
	out := AgentList{Agents: []Agent{}, Default: all.Default}
	for _, a := range all.Agents {
		if s.agentAllowed(u, a.ID) {
			out.Agents = append(out.Agents, a)
		}
	}
	if !s.agentAllowed(u, out.Default) {
		out.Default = s.defaultAgent()
	}
	return out, nil
}

// NoNUL refuses text with a NUL character (chat.ErrInvalid, a 400): the Gateway and PostgreSQL
// refuse it later, after clawchat has accepted the request.
func NoNUL(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s contains a NUL character: %w", what, chat.ErrInvalid)
	}
	return nil
}

// HistoryPage is one page of a conversation, oldest first.
type HistoryPage struct {
	Messages []transcript.Message `json:"messages"`
	HasMore  bool                 `json:"hasMore"`
	Cursor   string               `json:"cursor,omitempty"`
	Running  bool                 `json:"running"`
	RunID    *string              `json:"runId"`
}

const (
	defaultHistoryLimit = 50
	maxHistoryLimit     = 200
)

// History returns a page of one of u's conversations: limit messages (default 50, max 200) before
// the cursor (an opaque value from a previous page; empty for the newest page).
func (s *Service) History(ctx context.Context, u chat.User, conversation string, limit int, before string) (HistoryPage, error) {
	page, err := s.history(ctx, u, conversation, limit, before)
	if GatewayAction(u, conversation, err) {
		s.cfg.Audit(ctx, u, "gateway.history", conversation, map[string]any{"ok": err == nil})
	}
	return page, err
}

func (s *Service) history(ctx context.Context, u chat.User, conversation string, limit int, before string) (HistoryPage, error) {
	c, err := s.Lookup(ctx, u, conversation)
	if err != nil {
		return HistoryPage{}, err
	}
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	limit = min(limit, maxHistoryLimit)
	params := gateway.ChatHistoryParams{SessionKey: c.SessionKey, Limit: limit}
	if before != "" {
		off, err := strconv.Atoi(before)
		if err != nil || off < 0 || off > 1_000_000 {
			return HistoryPage{}, fmt.Errorf("invalid cursor: %w", chat.ErrInvalid)
		}
		params.Offset = off
	}
	if IsGateway(c) {
		s.cfg.Owners.Watch(c.SessionKey, u.ID)
	}
	raw, err := s.cfg.Gateway.ChatHistory(ctx, params)
	if err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{Messages: transcript.ConvertMessages(raw.Messages), HasMore: raw.HasMore}
	if c.Shared && s.cfg.Shared != nil {
		// Who wrote each message (the transcript does not say): clawchat recorded it at the send.
		if senders, err := s.cfg.Shared.Senders(ctx, c.SessionKey); err == nil {
			for i := range page.Messages {
				if m := &page.Messages[i]; m.Role == "user" && m.UserRunID != "" {
					if snd, ok := senders[m.UserRunID]; ok {
						m.Sender = &snd
					}
				}
			}
		}
	}
	if raw.HasMore && raw.NextOffset != nil {
		page.Cursor = strconv.Itoa(*raw.NextOffset)
	}
	if id, _ := s.cfg.Runs.RunState(c.SessionKey); id != "" {
		page.Running = true
		page.RunID = &id
	}
	return page, nil
}
