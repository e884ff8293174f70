package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Conversation is the client view of a conversation (docs/api.md "Conversation object").
type Conversation = chat.ConversationView

// errNotFound is the one answer for a conversation the user may not see, whatever the reason.
var errNotFound = fmt.Errorf("conversation not found: %w", chat.ErrNotFound)

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (s *Service) view(c chat.Conversation) Conversation {
	v := Conversation{
		ID: c.ID, Title: c.Title, AgentID: c.AgentID, Kind: "conversation",
		CreatedAt: tp(c.CreatedAt), UpdatedAt: tp(c.UpdatedAt), LastActivityAt: tp(c.LastActivityAt),
		Archived: c.Archived,
	}
	s.mu.Lock()
	s.fillRunState(&v, c.SessionKey)
	s.mu.Unlock()
	return v
}

// fillRunState sets Running, RunID and Queued; s.mu held.
func (s *Service) fillRunState(v *Conversation, key string) {
	if cs := s.convs[key]; cs != nil {
		if cs.active != nil {
			v.Running = true
			id := cs.active.id
			v.RunID = &id
		}
		v.Queued = len(cs.queue)
	}
}

// lookup authorizes user for conversation id and returns it. It is the single gate in front of
// every per-conversation operation: a malformed id, another user's conversation, a gw: id from a
// member and a never-used id are all errNotFound.
func (s *Service) lookup(ctx context.Context, u chat.User, id string) (chat.Conversation, error) {
	if u.ID == "" || !userIDRe.MatchString(u.ID) {
		return chat.Conversation{}, errNotFound
	}
	if strings.HasPrefix(id, GatewayPrefix) {
		key, ok := parseGatewayID(id)
		if !ok || !u.IsOwner() {
			return chat.Conversation{}, errNotFound
		}
		agent, _, _ := strings.Cut(strings.TrimPrefix(key, "agent:"), ":")
		return chat.Conversation{UserID: u.ID, ID: id, AgentID: agent, SessionKey: key}, nil
	}
	if !chat.ValidConversationID(id) {
		return chat.Conversation{}, errNotFound
	}
	c, err := s.cfg.Store.Conversation(ctx, u.ID, id)
	if errors.Is(err, chat.ErrNotFound) {
		return chat.Conversation{}, errNotFound
	}
	if err != nil {
		return chat.Conversation{}, fmt.Errorf("bridge: load conversation: %w", err)
	}
	if c.UserID != u.ID || c.ID != id || c.SessionKey != SessionKey(c.AgentID, u.ID, id) {
		// Never trust a row that does not match what was asked.
		return chat.Conversation{}, errNotFound
	}
	s.rememberOwner(c)
	return c, nil
}

// ownerRef is whose conversation a clawchat session key is, as the store said.
type ownerRef struct{ convID, userID string }

// rememberOwner records that c's session key is c's (read from or written to the store), so
// that routing its Gateway events needs no store read (ordered.go). A deleted conversation is
// forgotten.
func (s *Service) rememberOwner(c chat.Conversation) {
	if isGateway(c) || !isOwnNamespace(c.SessionKey) {
		return
	}
	s.mu.Lock()
	s.owned[c.SessionKey] = ownerRef{convID: c.ID, userID: c.UserID}
	s.mu.Unlock()
}

func isGateway(c chat.Conversation) bool { return strings.HasPrefix(c.ID, GatewayPrefix) }

// Get returns one of u's conversations.
func (s *Service) Get(ctx context.Context, u chat.User, id string) (Conversation, error) {
	c, err := s.lookup(ctx, u, id)
	if err != nil {
		return Conversation{}, err
	}
	if isGateway(c) {
		return s.gatewayView(c), nil
	}
	return s.view(c), nil
}

func (s *Service) gatewayView(c chat.Conversation) Conversation {
	v := Conversation{ID: c.ID, Title: c.Title, AgentID: c.AgentID, Kind: "gateway"}
	if v.Title == "" {
		v.Title = strings.TrimPrefix(c.ID, GatewayPrefix)
	}
	s.mu.Lock()
	s.fillRunState(&v, c.SessionKey)
	s.mu.Unlock()
	return v
}

// List returns u's conversations (archived ones only when archived is true), newest activity
// first, and for owners the Gateway's other sessions (nil for members or when the Gateway is not
// reachable).
func (s *Service) List(ctx context.Context, u chat.User, archived bool) ([]Conversation, []Conversation, error) {
	if !userIDRe.MatchString(u.ID) {
		return nil, nil, errNotFound
	}
	cs, err := s.cfg.Store.Conversations(ctx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge: list conversations: %w", err)
	}
	out := make([]Conversation, 0, len(cs))
	for _, c := range cs {
		if c.UserID != u.ID || c.Archived != archived {
			continue
		}
		out = append(out, s.view(c))
	}
	sort.SliceStable(out, func(i, j int) bool { return last(out[i]).After(last(out[j])) })
	var gw []Conversation
	s.noteOwner(u)
	if u.IsOwner() && !archived {
		gw, err = s.gatewaySessions(ctx)
		if err != nil {
			s.log.Debug("gateway sessions unavailable", "err", err)
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
	res, err := s.gw.SessionsList(ctx, gateway.SessionsListParams{Limit: 200})
	if err != nil {
		return nil, err
	}
	out := []Conversation{}
	for _, row := range res.Sessions {
		if isOwnNamespace(row.Key) || !gwKeyRe.MatchString(row.Key) {
			continue
		}
		title := row.Label
		if title == "" {
			title = row.DisplayName
		}
		if title == "" {
			title = row.Key
		}
		v := Conversation{ID: GatewayPrefix + row.Key, Title: title, AgentID: row.AgentID, Kind: "gateway", Archived: row.Archived}
		if row.UpdatedAt > 0 {
			v.LastActivityAt = tp(time.UnixMilli(row.UpdatedAt))
		}
		s.mu.Lock()
		s.fillRunState(&v, row.Key)
		s.mu.Unlock()
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
	c, err := s.create(ctx, u, p)
	if err != nil {
		return Conversation{}, err
	}
	v := s.view(c)
	s.cfg.Publisher.Publish(u.ID, chat.ConversationCreated{ConversationView: v}.Event())
	return v, nil
}

func (s *Service) create(ctx context.Context, u chat.User, p CreateParams) (chat.Conversation, error) {
	if !userIDRe.MatchString(u.ID) {
		return chat.Conversation{}, fmt.Errorf("bridge: unusable user id: %w", chat.ErrForbidden)
	}
	if p.ID == "" {
		p.ID = newConversationID()
	}
	if !chat.ValidConversationID(p.ID) {
		return chat.Conversation{}, fmt.Errorf("conversation ids match ^[a-z0-9][a-z0-9_-]{0,63}$: %w", chat.ErrInvalid)
	}
	if p.AgentID == "" {
		p.AgentID = s.defaultAgent()
	}
	if !agentIDRe.MatchString(p.AgentID) || !s.agentAllowed(u, p.AgentID) {
		// The same answer for an agent that does not exist and one this user may not use.
		return chat.Conversation{}, fmt.Errorf("agent %q is not available: %w", truncate(p.AgentID, 64), chat.ErrInvalid)
	}
	if len(p.Title) > maxTitle {
		return chat.Conversation{}, fmt.Errorf("title longer than %d bytes: %w", maxTitle, chat.ErrTooLarge)
	}
	if err := noNUL("title", p.Title); err != nil {
		return chat.Conversation{}, err
	}
	n, err := s.cfg.Store.CountConversations(ctx, u.ID)
	if err != nil {
		return chat.Conversation{}, fmt.Errorf("bridge: count conversations: %w", err)
	}
	if n >= s.cfg.MaxConversations {
		s.emitError(u.ID, "limit_reached", "too many conversations; delete some first", "")
		return chat.Conversation{}, fmt.Errorf("at most %d conversations per user: %w", s.cfg.MaxConversations, chat.ErrLimitReached)
	}
	now := s.cfg.Now().UTC()
	c := chat.Conversation{
		UserID: u.ID, ID: p.ID, AgentID: p.AgentID, SessionKey: SessionKey(p.AgentID, u.ID, p.ID),
		Title: strings.TrimSpace(p.Title), CreatedAt: now, UpdatedAt: now, LastActivityAt: now,
	}
	if err := s.cfg.Store.CreateConversation(ctx, c); err != nil {
		if errors.Is(err, chat.ErrConflict) {
			return chat.Conversation{}, fmt.Errorf("conversation already exists: %w", chat.ErrConflict)
		}
		return chat.Conversation{}, fmt.Errorf("bridge: create conversation: %w", err)
	}
	s.mu.Lock()
	delete(s.notOurs, c.SessionKey)
	s.mu.Unlock()
	s.rememberOwner(c)
	if !u.IsOwner() {
		// The policy goes on before the first send. When this fails, the first send finds the
		// session without a policy and applies it again, or refuses to run (sendChecked).
		if err := s.applyPolicy(ctx, c.SessionKey, s.memberPolicy(c.AgentID)); err != nil {
			s.log.Warn("member session policy not applied at creation; the first send retries", "err", err)
		}
	}
	return c, nil
}

// UpdateParams are the fields to change; nil means unchanged.
type UpdateParams struct {
	Title    *string
	Archived *bool
}

// Update renames and/or archives one of u's conversations.
func (s *Service) Update(ctx context.Context, u chat.User, id string, p UpdateParams) (Conversation, error) {
	c, err := s.lookup(ctx, u, id)
	if err != nil {
		return Conversation{}, err
	}
	if isGateway(c) {
		return Conversation{}, fmt.Errorf("gateway sessions cannot be changed here: %w", chat.ErrForbidden)
	}
	if p.Title != nil {
		if len(*p.Title) > maxTitle {
			return Conversation{}, fmt.Errorf("title longer than %d bytes: %w", maxTitle, chat.ErrTooLarge)
		}
		if err := noNUL("title", *p.Title); err != nil {
			return Conversation{}, err
		}
		c.Title = strings.TrimSpace(*p.Title)
	}
	if p.Archived != nil {
		c.Archived = *p.Archived
	}
	c.UpdatedAt = s.cfg.Now().UTC()
	if err := s.cfg.Store.UpdateConversation(ctx, c); err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			return Conversation{}, errNotFound
		}
		return Conversation{}, fmt.Errorf("bridge: update conversation: %w", err)
	}
	v := s.view(c)
	s.cfg.Publisher.Publish(u.ID, chat.ConversationUpdated{ConversationView: v}.Event())
	return v, nil
}

// Delete removes one of u's conversations: any run is aborted, the Gateway session is archived and
// deleted (a session that never existed is fine), then the row goes.
func (s *Service) Delete(ctx context.Context, u chat.User, id string) error {
	c, err := s.lookup(ctx, u, id)
	if err != nil {
		return err
	}
	if isGateway(c) {
		return fmt.Errorf("gateway sessions cannot be deleted here: %w", chat.ErrForbidden)
	}
	s.mu.Lock()
	cs := s.convs[c.SessionKey]
	var runID string
	if cs != nil {
		cs.queue = nil
		if cs.active != nil {
			runID = cs.active.id
		}
	}
	s.mu.Unlock()
	if runID != "" {
		_, _ = s.gw.ChatAbort(ctx, gateway.ChatAbortParams{SessionKey: c.SessionKey, RunID: runID})
	}
	archived := true
	if _, err := s.gw.SessionsPatch(ctx, gateway.SessionsPatchParams{Key: c.SessionKey, Archived: &archived}); err != nil && !errors.Is(err, chat.ErrInvalid) {
		// A session that never existed cannot be patched; the Gateway answers INVALID_REQUEST.
		if errors.Is(err, chat.ErrUnavailable) && s.GatewayState() != "connected" {
			return err
		}
	}
	if _, err := s.gw.SessionsDelete(ctx, gateway.SessionsDeleteParams{Key: c.SessionKey, ArchivedOnly: true}); err != nil {
		if errors.Is(err, chat.ErrUnavailable) && s.GatewayState() != "connected" {
			return err
		}
	}
	if err := s.cfg.Store.DeleteConversation(ctx, u.ID, c.ID); err != nil && !errors.Is(err, chat.ErrNotFound) {
		return fmt.Errorf("bridge: delete conversation: %w", err)
	}
	s.mu.Lock()
	if cs := s.convs[c.SessionKey]; cs != nil {
		if cs.active != nil {
			s.endRunLocked(cs.active)
		}
		delete(s.convs, c.SessionKey)
	}
	delete(s.owned, c.SessionKey)
	s.notOurs[c.SessionKey] = s.cfg.Now().Add(time.Minute)
	s.mu.Unlock()
	s.cfg.Publisher.Publish(u.ID, chat.ConversationDeleted{ID: c.ID}.Event())
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
	res, err := s.gw.AgentsList(ctx)
	if err != nil {
		return AgentList{}, err
	}
	out := AgentList{Agents: []Agent{}, Default: res.DefaultID}
	if out.Default == "" {
		out.Default = s.defaultAgent()
	}
	for _, a := range res.Agents {
		if !agentIDRe.MatchString(a.ID) {
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
		out.Agents = append(out.Agents, Agent{ID: a.ID, Name: truncate(name, 100), Emoji: truncate(ident.Emoji, 16)})
	}
	return out, nil
}

// defaultAgent is the agent of conversations created without one.
func (s *Service) defaultAgent() string {
	if s.cfg.DefaultAgent != "" {
		return s.cfg.DefaultAgent
	}
	if s.cfg.GatewayDefaultAgent != nil {
		if a := s.cfg.GatewayDefaultAgent(); agentIDRe.MatchString(a) {
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

// noNUL refuses text with a NUL character (chat.ErrInvalid, a 400): the Gateway and PostgreSQL
// refuse it later, after clawchat has accepted the request.
func noNUL(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s contains a NUL character: %w", what, chat.ErrInvalid)
	}
	return nil
}
