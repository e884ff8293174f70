package embed

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/clawchat/clawchat/internal/chat"
)

// Shared contexts (issue 13, docs/embed.md "Shared contexts"): a context the host grants with
// "shared": true has one conversation per host app and context id, shared by everyone whose
// verified token grants it shared. The first of them to open the context creates it (and owns
// it); each later one is made a participant (Shared.Grant) when their token is used to list or
// open the context: read-only for a viewer, member for an editor. The host stays the authority:
// each later open with a token naming another role changes the participant's role to it
// (audited embed.shared.role), and a participant the owner removed is made one again by the
// next token that grants them the context. Everyone else gets the 404
// of any conversation they may not see: the bridge checks the participant rows and the
// session's grant (conversations.Visible) on every request.

// Shared is what shared contexts need from the chat core (app adapts the bridge, the store and
// share.Service to it).
type Shared interface {
	// SharedConversation returns the conversation with id convID in context (app, ctxID)
	// (there is at most one); chat.ErrNotFound when there is none.
	SharedConversation(ctx context.Context, app, ctxID, convID string) (chat.Conversation, error)
	// CreateSharedInContext makes u's conversation convID in context (app, ctxID):
	// chat.ErrConflict when it exists, also when another user created it meanwhile, on any
	// instance (the store refuses a second conversation with that id in the context).
	CreateSharedInContext(ctx context.Context, u chat.User, app, ctxID, convID, title string) (chat.Conversation, error)
	// Grant makes userID a participant of c with role, without an owner's request
	// (share.Service.Grant); granting a participant again is not an error, and with another
	// role changes theirs (not the owner's).
	Grant(ctx context.Context, c chat.Conversation, userID string, role chat.ShareRole) error
}

// SetShared sets the shared-context dependency (before serving). Without it a context granted
// shared behaves as one granted not shared.
func (s *Service) SetShared(sh Shared) { s.shared = sh }

// SharedConversationID is the conversation id of the shared conversation of context (app,
// ctxID): derived from both, so that every instance finds the same one.
func SharedConversationID(app, ctxID string) string {
	sum := sha256.Sum256([]byte(app + "\x00" + ctxID))
	return "ctx-" + strings.ToLower(accountIDEncoding.EncodeToString(sum[:20]))
}

// ShareRole is the participant role of an embed role: read-only for a viewer, member for an
// editor (a viewer chats about the context but may not change it; in a shared conversation that
// means reading along).
func ShareRole(embedRole string) chat.ShareRole {
	if embedRole == chat.EmbedRoleViewer {
		return chat.ShareReadOnly
	}
	return chat.ShareMember
}

// keyLocks serializes finding-or-creating a context's shared conversation on this instance.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (l *keyLocks) lock(key string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyLock{}
	}
	k := l.m[key]
	if k == nil {
		k = &keyLock{}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	k.mu.Lock()
	return func() {
		k.mu.Unlock()
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// sharedConversation returns the shared conversation of context id of u's app as u sees it,
// creating it (u its owner) or making u a participant first. The caller has checked that u's
// session grants the context shared; anything else is the 404 of a conversation u may not see.
func (s *Service) sharedConversation(ctx context.Context, u chat.User, id, title string) (chat.ConversationView, error) {
	if s.shared == nil || u.Embed == nil || !u.Embed.IsShared(u.Embed.App, id) {
		return chat.ConversationView{}, errNoContext
	}
	app := u.Embed.App
	role, _ := u.Embed.Role(app, id)
	convID := SharedConversationID(app, id)
	unlock := s.locks.lock(app + "\x00" + id)
	defer unlock()
	c, err := s.shared.SharedConversation(ctx, app, id, convID)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		c, err = s.shared.CreateSharedInContext(ctx, u, app, id, convID, title)
		if errors.Is(err, chat.ErrConflict) { // created meanwhile (another instance)
			c, err = s.shared.SharedConversation(ctx, app, id, convID)
		}
		if err != nil {
			return chat.ConversationView{}, fmt.Errorf("embed: create shared conversation: %w", err)
		}
		if c.UserID == u.ID {
			s.audit(ctx, chat.AuditEntry{Action: "embed.shared.create", Actor: u.ID, Target: c.ID, Detail: "app=" + app + " context=" + id})
			return s.chat.Get(ctx, u, c.ID)
		}
	case err != nil:
		return chat.ConversationView{}, fmt.Errorf("embed: find shared conversation: %w", err)
	}
	if c.UserID != u.ID {
		sr := ShareRole(role)
		if v, err := s.chat.Get(ctx, u, c.ID); err == nil {
			// A participant already. The host is the authority over roles: a newer token with
			// another role for the context changes theirs (an owner stays the owner).
			if v.Role == string(sr) || v.Role == string(chat.ShareOwner) {
				return v, nil
			}
			if err := s.shared.Grant(ctx, c, u.ID, sr); err != nil {
				return chat.ConversationView{}, fmt.Errorf("embed: change shared role: %w", err)
			}
			s.audit(ctx, chat.AuditEntry{Action: "embed.shared.role", Actor: u.ID, Target: c.ID,
				Detail: fmt.Sprintf("app=%s context=%s from=%s to=%s", app, id, v.Role, sr)})
			return s.chat.Get(ctx, u, c.ID)
		}
		if err := s.shared.Grant(ctx, c, u.ID, sr); err != nil {
			return chat.ConversationView{}, fmt.Errorf("embed: grant shared conversation: %w", err)
		}
		s.audit(ctx, chat.AuditEntry{Action: "embed.shared.grant", Actor: u.ID, Target: c.ID,
			Detail: fmt.Sprintf("app=%s context=%s owner=%s role=%s", app, id, c.UserID, sr)})
	}
	return s.chat.Get(ctx, u, c.ID)
}
