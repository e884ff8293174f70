// Package share is the membership of shared conversations (issue 13): who takes part in a
// conversation and with which role (owner, member, read-only), adding people by account name,
// invitation links (single-use, expiring, revocable, stored only as a hash), removal, leaving and
// ownership transfer. It authorizes every change itself: only the owner manages a conversation;
// anyone who does not take part gets the same chat.ErrNotFound as for a conversation that does
// not exist.
//
// It does not route chat events: the bridge reads the participants from the store (Access) for
// every request and delivers every event of a conversation to all of them. After each change
// Config.Changed tells the composition root which people lost access, so that their replay logs
// and open streams are cut (hub.Reset) on this and every other instance.
package share

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// Store is the persistence share needs (internal/store implements it).
type Store interface {
	Access(ctx context.Context, userID, id string) (chat.Conversation, chat.ShareRole, error)
	AccessibleConversations(ctx context.Context, userID string) ([]chat.Conversation, []chat.ShareRole, error)
	GoneConversations(ctx context.Context, userID string, since int64) ([]string, error)
	Conversation(ctx context.Context, userID, id string) (chat.Conversation, error)
	Members(ctx context.Context, sessionKey string) ([]chat.Member, error)
	AddMember(ctx context.Context, c chat.Conversation, m chat.Member) error
	RemoveMember(ctx context.Context, sessionKey, userID string) error
	SetMemberRole(ctx context.Context, sessionKey, userID string, role chat.ShareRole) error
	SetMuted(ctx context.Context, sessionKey, userID string, muted bool) error
	TransferOwnership(ctx context.Context, sessionKey, from, to string) error
	CreateInvite(ctx context.Context, i chat.Invite) error
	Invites(ctx context.Context, sessionKey string, now int64) ([]chat.Invite, error)
	RevokeInvite(ctx context.Context, sessionKey, id string) error
	RedeemInvite(ctx context.Context, tokenHash, userID string, now int64) (chat.Conversation, error)
	Account(ctx context.Context, id string) (chat.Account, error)
	AccountByUsername(ctx context.Context, username string) (chat.Account, error)
}

// Publisher delivers events to a user's connections (the app's publisher: hub + relay).
type Publisher interface {
	Publish(userID string, ev chat.Event) uint64
}

// Defaults for Config.
const (
	DefaultInviteTTL  = 7 * 24 * time.Hour
	MaxInviteTTL      = 30 * 24 * time.Hour
	DefaultMaxMembers = 20
	// GoneWindow is how far back Refresh announces conversations deleted with their owner's
	// account: the auth change feed reaches every running instance within seconds.
	GoneWindow = 5 * time.Minute
)

// Config configures a Service. Store and Publisher are required.
type Config struct {
	Store     Store
	Publisher Publisher
	Logger    *slog.Logger
	Now       func() time.Time // default time.Now
	// MaxMembers bounds the participants of one conversation, owner included (default 20).
	MaxMembers int
	// Changed is called after every membership change of the conversation with sessionKey, with
	// the account ids of the people who lost access to it (removed, left); nil or empty when
	// nobody did. The composition root cuts their streams and replay logs and tells the other
	// instances. It is called synchronously, before the request is answered. Optional.
	Changed func(sessionKey string, lost []string)
	// Context is the base of the work the Service (and its Fanout and Presence) does on its own,
	// outside any request: participants read to deliver an event, a stale fan-out refreshed in
	// the background, presence told when a connection ends or another instance reports. The
	// composition root owns it; Close cancels what derives from it and waits for that work.
	// nil: context.Background().
	Context context.Context
}

// Service manages participants and invitations. Safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger

	base   context.Context // Config.Context, cancelled by Close
	cancel context.CancelFunc
	mu     sync.Mutex
	wg     sync.WaitGroup // background goroutines (goBackground)
	closed bool
}

// New returns a Service; it panics when Store or Publisher is missing (a wiring bug).
func New(cfg Config) *Service {
	if cfg.Store == nil || cfg.Publisher == nil {
		panic("share: Store and Publisher are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxMembers <= 0 {
		cfg.MaxMembers = DefaultMaxMembers
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := cfg.Context
	if base == nil {
		base = context.Background()
	}
	base, cancel := context.WithCancel(base)
	return &Service{cfg: cfg, log: log, base: base, cancel: cancel}
}

// background returns a context for work of the Service's own, bounded by d and cancelled by
// Close.
func (s *Service) background(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, d)
}

// goBackground runs fn on a goroutine Close waits for, with a background(d) context; once Close
// has begun it runs nothing and reports false.
func (s *Service) goBackground(d time.Duration, fn func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Go(func() {
		ctx, cancel := s.background(d)
		defer cancel()
		fn(ctx)
	})
	return true
}

// Close cancels the Service's background work (its Fanout's and Presence's too), waits for the
// goroutines it started, and starts no more. The composition root calls it at shutdown, after
// the chat core stopped publishing and before the store closes. Requests still served get
// their own contexts; work of the Service's own that comes later fails at once.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// errNotFound is the one answer for a conversation the user may not see, whatever the reason
// (the bridge's answer too).
var errNotFound = fmt.Errorf("conversation not found: %w", chat.ErrNotFound)

var errNotOwner = chat.Public(chat.ErrForbidden, "only the conversation's owner can do that")

// MemberView is a participant as clients see them.
type MemberView struct {
	UserID string         `json:"userId"`
	Name   string         `json:"name"`
	Role   chat.ShareRole `json:"role"`
	// Muted is the caller's own mute (omitted for other people).
	Muted *bool `json:"muted,omitempty"`
}

// Members is the answer of List: the participants and the caller's role.
type Members struct {
	Conversation string         `json:"conversation"`
	Role         chat.ShareRole `json:"role"`
	Members      []MemberView   `json:"members"`
}

// access authorizes u for conversation id: every participant passes, with their role.
func (s *Service) access(ctx context.Context, u chat.User, id string) (chat.Conversation, chat.ShareRole, error) {
	if u.ID == "" || !chat.ValidConversationID(id) {
		return chat.Conversation{}, "", errNotFound
	}
	c, role, err := s.cfg.Store.Access(ctx, u.ID, id)
	if errors.Is(err, chat.ErrNotFound) {
		return chat.Conversation{}, "", errNotFound
	}
	if err != nil {
		return chat.Conversation{}, "", fmt.Errorf("share: access: %w", err)
	}
	return c, role, nil
}

func (s *Service) owner(ctx context.Context, u chat.User, id string) (chat.Conversation, error) {
	c, role, err := s.access(ctx, u, id)
	if err != nil {
		return chat.Conversation{}, err
	}
	if role != chat.ShareOwner {
		return chat.Conversation{}, errNotOwner
	}
	return c, nil
}

// name is what other participants see of an account: its display name, else its username.
func name(a chat.Account) string {
	if a.DisplayName != "" {
		return a.DisplayName
	}
	return a.Username
}

// list returns c's participants (the creator alone, as owner, when not shared) for viewer.
func (s *Service) list(ctx context.Context, c chat.Conversation, viewer string) ([]MemberView, error) {
	ms, err := s.cfg.Store.Members(ctx, c.SessionKey)
	if err != nil {
		return nil, fmt.Errorf("share: members: %w", err)
	}
	if len(ms) == 0 {
		ms = []chat.Member{{UserID: c.UserID, Role: chat.ShareOwner}}
	}
	out := make([]MemberView, 0, len(ms))
	for _, m := range ms {
		v := MemberView{UserID: m.UserID, Role: m.Role, Name: m.UserID}
		if a, err := s.cfg.Store.Account(ctx, m.UserID); err == nil {
			v.Name = name(a)
		}
		if m.UserID == viewer {
			muted := m.Muted
			v.Muted = &muted
		}
		out = append(out, v)
	}
	return out, nil
}

// List returns the participants of conversation id, for any participant.
func (s *Service) List(ctx context.Context, u chat.User, id string) (Members, error) {
	c, role, err := s.access(ctx, u, id)
	if err != nil {
		return Members{}, err
	}
	ms, err := s.list(ctx, c, u.ID)
	if err != nil {
		return Members{}, err
	}
	return Members{Conversation: c.ID, Role: role, Members: ms}, nil
}

// Participants returns the account ids of everyone who sees the conversation c: its participants
// when shared, else its creator.
func (s *Service) Participants(ctx context.Context, c chat.Conversation) ([]string, error) {
	ms, err := s.cfg.Store.Members(ctx, c.SessionKey)
	if err != nil {
		return nil, fmt.Errorf("share: members: %w", err)
	}
	if len(ms) == 0 {
		return []string{c.UserID}, nil
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.UserID
	}
	return out, nil
}

// changed tells every participant of c the new list (conversation.members), the people who lost
// access that the conversation is gone for them (conversation.deleted), and Config.Changed.
func (s *Service) changed(ctx context.Context, c chat.Conversation, lost ...string) {
	if s.cfg.Changed != nil {
		s.cfg.Changed(c.SessionKey, lost)
	}
	for _, id := range lost {
		s.cfg.Publisher.Publish(id, chat.ConversationDeleted{ID: c.ID}.Event())
	}
	ids, err := s.Participants(ctx, c)
	if err != nil {
		s.log.Warn("share: participants not told of a change", "err", err)
		return
	}
	for _, id := range ids {
		ms, err := s.list(ctx, c, id)
		if err != nil {
			s.log.Warn("share: participants not told of a change", "err", err)
			return
		}
		_, role, _ := s.cfg.Store.Access(ctx, id, c.ID)
		s.cfg.Publisher.Publish(id, chat.ConversationMembers{Conversation: c.ID, Role: string(role), Members: views(ms)}.Event())
	}
}

// Refresh tells userID's connections through local (this instance's hub) the current
// participants of every shared conversation they take part in, with their role
// (conversation.members, as after a transfer), and returns those conversations' session keys
// (the composition root re-reads their fan-out). A shared conversation deleted for everyone in the
// last GoneWindow because its owner's account was deleted with no member left to own it is
// announced as conversation.deleted, unless userID sees another conversation with that id by now.
// Every instance calls it for every user in the auth change feed: that is how a change made
// outside any request reaches everyone, such as ownership passing on when an owner's account is
// deleted (store.DB.DeleteAccount), which `clawchat user del` does from another process.
func (s *Service) Refresh(ctx context.Context, local Publisher, userID string) ([]string, error) {
	gone, err := s.cfg.Store.GoneConversations(ctx, userID, s.cfg.Now().Add(-GoneWindow).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("share: refresh: %w", err)
	}
	for _, id := range gone {
		if _, _, err := s.cfg.Store.Access(ctx, userID, id); errors.Is(err, chat.ErrNotFound) {
			local.Publish(userID, chat.ConversationDeleted{ID: id}.Event())
		}
	}
	cs, roles, err := s.cfg.Store.AccessibleConversations(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("share: refresh: %w", err)
	}
	var keys []string
	for i, c := range cs {
		if !c.Shared {
			continue
		}
		ms, err := s.list(ctx, c, userID)
		if err != nil {
			return keys, fmt.Errorf("share: refresh: %w", err)
		}
		local.Publish(userID, chat.ConversationMembers{Conversation: c.ID, Role: string(roles[i]), Members: views(ms)}.Event())
		keys = append(keys, c.SessionKey)
	}
	return keys, nil
}

func views(ms []MemberView) []chat.MemberView {
	out := make([]chat.MemberView, len(ms))
	for i, m := range ms {
		out[i] = chat.MemberView{UserID: m.UserID, Name: m.Name, Role: string(m.Role), Muted: m.Muted}
	}
	return out
}

// Add adds the account named username to conversation id with role (member or read-only); only
// the owner may. An unknown or disabled account is chat.ErrInvalid ("there is no account with
// that name"; owners and members can tell which account names exist, as they can by sharing).
func (s *Service) Add(ctx context.Context, u chat.User, id, username string, role chat.ShareRole) (MemberView, error) {
	if role == "" {
		role = chat.ShareMember
	}
	if role != chat.ShareMember && role != chat.ShareReadOnly {
		return MemberView{}, chat.Public(chat.ErrInvalid, "role must be member or read-only")
	}
	c, err := s.owner(ctx, u, id)
	if err != nil {
		return MemberView{}, err
	}
	if username == "" || len(username) > 128 {
		return MemberView{}, chat.Public(chat.ErrInvalid, "name an account")
	}
	a, err := s.cfg.Store.AccountByUsername(ctx, username)
	if errors.Is(err, chat.ErrNotFound) || (err == nil && a.Disabled) {
		return MemberView{}, chat.Public(chat.ErrInvalid, "there is no account with that name")
	}
	if err != nil {
		return MemberView{}, fmt.Errorf("share: account: %w", err)
	}
	if err := s.checkRoom(ctx, c); err != nil {
		return MemberView{}, err
	}
	err = s.cfg.Store.AddMember(ctx, c, chat.Member{UserID: a.ID, Role: role, AddedBy: u.ID, AddedAt: s.cfg.Now().UTC()})
	if errors.Is(err, chat.ErrConflict) {
		return MemberView{}, chat.Public(chat.ErrConflict, fmt.Sprintf("%q is already in this conversation, or has another conversation with its id", username))
	}
	if err != nil {
		return MemberView{}, fmt.Errorf("share: add: %w", err)
	}
	s.changed(ctx, c)
	s.announce(ctx, a.ID, c, role)
	return MemberView{UserID: a.ID, Name: name(a), Role: role}, nil
}

// Grant makes userID a participant of conversation c with role (member or read-only) on behalf
// of a trusted server-side caller, without an owner's request: the hook for embedded mode
// (issue 12), where the host's signed token names the people who share a context's
// conversation. The caller must have verified the token; Grant checks nothing but the store's
// rules (the conversation exists, the person does not see another conversation with its id).
// Granting someone who already takes part is not an error; with another role it changes their
// role to it (the grantor is the authority over roles), except the owner's, which stays.
func (s *Service) Grant(ctx context.Context, c chat.Conversation, userID string, role chat.ShareRole) error {
	if role != chat.ShareMember && role != chat.ShareReadOnly {
		return chat.Public(chat.ErrInvalid, "role must be member or read-only")
	}
	if _, r, err := s.cfg.Store.Access(ctx, userID, c.ID); err == nil && r != "" {
		if r == role || r == chat.ShareOwner {
			return nil // the owner stays the owner
		}
		// A participant granted another role: the grantor (the host app's verified token) is the
		// authority over roles in what it grants.
		if err := s.cfg.Store.SetMemberRole(ctx, c.SessionKey, userID, role); err != nil {
			return fmt.Errorf("share: grant: set role: %w", err)
		}
		s.changed(ctx, c)
		return nil
	}
	if err := s.checkRoom(ctx, c); err != nil {
		return err
	}
	if err := s.cfg.Store.AddMember(ctx, c, chat.Member{UserID: userID, Role: role, AddedBy: c.UserID, AddedAt: s.cfg.Now().UTC()}); err != nil {
		return fmt.Errorf("share: grant: %w", err)
	}
	s.changed(ctx, c)
	s.announce(ctx, userID, c, role)
	return nil
}

// announce tells a new participant's devices about the conversation (conversation.created).
func (s *Service) announce(_ context.Context, userID string, c chat.Conversation, role chat.ShareRole) {
	s.cfg.Publisher.Publish(userID, chat.ConversationCreated{ConversationView: View(c, role)}.Event())
}

// View is the client view of a conversation as a participant with role sees it, without run
// state (the bridge adds that where it has it).
func View(c chat.Conversation, role chat.ShareRole) chat.ConversationView {
	tp := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	v := chat.ConversationView{ID: c.ID, Title: c.Title, AgentID: c.AgentID, Kind: "conversation",
		CreatedAt: tp(c.CreatedAt), UpdatedAt: tp(c.UpdatedAt), LastActivityAt: tp(c.LastActivityAt),
		Archived: c.Archived, Role: string(role)}
	if c.HostApp != "" {
		// The host context it belongs to: an embedded session's connection learns from it that
		// the conversation it just joined is one of its granted contexts' (httpapi scope.go).
		v.Context = &chat.HostContext{App: c.HostApp, ID: c.ContextID}
	}
	return v
}

func (s *Service) checkRoom(ctx context.Context, c chat.Conversation) error {
	ids, err := s.Participants(ctx, c)
	if err != nil {
		return err
	}
	if len(ids) >= s.cfg.MaxMembers {
		return chat.Public(chat.ErrLimitReached, fmt.Sprintf("at most %d people per conversation", s.cfg.MaxMembers))
	}
	return nil
}

// Remove takes userID out of conversation id: the owner removes anyone but themself, and every
// participant may remove themself (leave). The owner cannot leave before transferring ownership
// (chat.ErrConflict). The removed person loses access at once (Config.Changed).
func (s *Service) Remove(ctx context.Context, u chat.User, id, userID string) error {
	c, role, err := s.access(ctx, u, id)
	if err != nil {
		return err
	}
	switch {
	case userID == u.ID && role == chat.ShareOwner:
		return chat.Public(chat.ErrConflict, "the owner cannot leave; transfer ownership first")
	case userID != u.ID && role != chat.ShareOwner:
		return errNotOwner
	}
	if err := s.cfg.Store.RemoveMember(ctx, c.SessionKey, userID); errors.Is(err, chat.ErrNotFound) {
		return chat.Public(chat.ErrInvalid, "that person is not in this conversation")
	} else if err != nil {
		return fmt.Errorf("share: remove: %w", err)
	}
	s.changed(ctx, c, userID)
	return nil
}

// SetRole changes a participant's role (member or read-only); only the owner may.
func (s *Service) SetRole(ctx context.Context, u chat.User, id, userID string, role chat.ShareRole) error {
	if role != chat.ShareMember && role != chat.ShareReadOnly {
		return chat.Public(chat.ErrInvalid, "role must be member or read-only (use transfer for owner)")
	}
	c, err := s.owner(ctx, u, id)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.SetMemberRole(ctx, c.SessionKey, userID, role); errors.Is(err, chat.ErrNotFound) {
		return chat.Public(chat.ErrInvalid, "that person is not a member of this conversation")
	} else if err != nil {
		return fmt.Errorf("share: set role: %w", err)
	}
	s.changed(ctx, c)
	return nil
}

// Transfer makes userID (a participant) the owner; the caller, the owner, becomes a member.
func (s *Service) Transfer(ctx context.Context, u chat.User, id, userID string) error {
	c, err := s.owner(ctx, u, id)
	if err != nil {
		return err
	}
	if userID == u.ID {
		return nil
	}
	if err := s.cfg.Store.TransferOwnership(ctx, c.SessionKey, u.ID, userID); errors.Is(err, chat.ErrNotFound) {
		return chat.Public(chat.ErrInvalid, "that person is not a member of this conversation")
	} else if err != nil {
		return fmt.Errorf("share: transfer: %w", err)
	}
	s.changed(ctx, c)
	return nil
}

// SetMuted sets the caller's own per-conversation mute of push notifications. A conversation
// that is not shared has nobody else to mute: chat.ErrInvalid.
func (s *Service) SetMuted(ctx context.Context, u chat.User, id string, muted bool) error {
	c, _, err := s.access(ctx, u, id)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.SetMuted(ctx, c.SessionKey, u.ID, muted); errors.Is(err, chat.ErrNotFound) {
		return chat.Public(chat.ErrInvalid, "the conversation is not shared")
	} else if err != nil {
		return fmt.Errorf("share: mute: %w", err)
	}
	return nil
}

// InviteView is an invitation as its owner sees it. Token is set only in the answer of
// CreateInvite: it is never stored and cannot be shown again.
type InviteView struct {
	ID        string         `json:"id"`
	Role      chat.ShareRole `json:"role"`
	CreatedAt time.Time      `json:"createdAt"`
	ExpiresAt time.Time      `json:"expiresAt"`
	Token     string         `json:"token,omitempty"`
}

var tokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// HashToken is the stored form of an invite token: hex SHA-256.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CreateInvite makes a single-use invitation into conversation id with role, valid for ttl
// (DefaultInviteTTL when 0; at most MaxInviteTTL); only the owner may. The token (256 random
// bits, base64url) is returned once.
func (s *Service) CreateInvite(ctx context.Context, u chat.User, id string, role chat.ShareRole, ttl time.Duration) (InviteView, error) {
	if role == "" {
		role = chat.ShareMember
	}
	if role != chat.ShareMember && role != chat.ShareReadOnly {
		return InviteView{}, chat.Public(chat.ErrInvalid, "role must be member or read-only")
	}
	if ttl == 0 {
		ttl = DefaultInviteTTL
	}
	if ttl < time.Minute || ttl > MaxInviteTTL {
		return InviteView{}, chat.Public(chat.ErrInvalid, fmt.Sprintf("an invite is valid between a minute and %d days", int(MaxInviteTTL.Hours()/24)))
	}
	c, err := s.owner(ctx, u, id)
	if err != nil {
		return InviteView{}, err
	}
	var secret [32]byte
	_, _ = rand.Read(secret[:])
	token := base64.RawURLEncoding.EncodeToString(secret[:])
	var idb [9]byte
	_, _ = rand.Read(idb[:])
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	inv := chat.Invite{ID: "inv-" + base64.RawURLEncoding.EncodeToString(idb[:]), TokenHash: HashToken(token), SessionKey: c.SessionKey,
		Role: role, CreatedBy: u.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.cfg.Store.CreateInvite(ctx, inv); err != nil {
		return InviteView{}, fmt.Errorf("share: create invite: %w", err)
	}
	return InviteView{ID: inv.ID, Role: role, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt, Token: token}, nil
}

// Invites lists the conversation's open invitations (without tokens); only the owner may.
func (s *Service) Invites(ctx context.Context, u chat.User, id string) ([]InviteView, error) {
	c, err := s.owner(ctx, u, id)
	if err != nil {
		return nil, err
	}
	is, err := s.cfg.Store.Invites(ctx, c.SessionKey, s.cfg.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("share: invites: %w", err)
	}
	out := make([]InviteView, 0, len(is))
	for _, i := range is {
		out = append(out, InviteView{ID: i.ID, Role: i.Role, CreatedAt: i.CreatedAt, ExpiresAt: i.ExpiresAt})
	}
	return out, nil
}

// RevokeInvite revokes one invitation of conversation id; only the owner may.
func (s *Service) RevokeInvite(ctx context.Context, u chat.User, id, inviteID string) error {
	c, err := s.owner(ctx, u, id)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RevokeInvite(ctx, c.SessionKey, inviteID); errors.Is(err, chat.ErrNotFound) {
		return chat.Public(chat.ErrInvalid, "no such invite")
	} else if err != nil {
		return fmt.Errorf("share: revoke invite: %w", err)
	}
	return nil
}

// errBadInvite is the one answer for a token that is malformed, unknown, used, revoked or
// expired: nothing tells them apart (and over HTTP it reads like every other not-found).
var errBadInvite = chat.Public(chat.ErrNotFound, "this invitation is not valid (used, expired or revoked)")

// Redeem makes u a participant of the conversation the invitation token opens and returns it as
// u now sees it. u must be signed in (the HTTP layer's guard).
func (s *Service) Redeem(ctx context.Context, u chat.User, token string) (chat.ConversationView, error) {
	if u.ID == "" || !tokenRe.MatchString(token) {
		return chat.ConversationView{}, errBadInvite
	}
	c, err := s.cfg.Store.RedeemInvite(ctx, HashToken(token), u.ID, s.cfg.Now().UnixMilli())
	if errors.Is(err, chat.ErrNotFound) {
		return chat.ConversationView{}, errBadInvite
	}
	if errors.Is(err, chat.ErrConflict) {
		return chat.ConversationView{}, chat.Public(chat.ErrConflict, "you are already in this conversation, or have another one with its id")
	}
	if err != nil {
		return chat.ConversationView{}, fmt.Errorf("share: redeem: %w", err)
	}
	_, role, err := s.cfg.Store.Access(ctx, u.ID, c.ID)
	if err != nil {
		return chat.ConversationView{}, fmt.Errorf("share: redeem: %w", err)
	}
	s.changed(ctx, c)
	s.announce(ctx, u.ID, c, role)
	return View(c, role), nil
}
