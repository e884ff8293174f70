package conversations

import (
	"context"

	"github.com/clawchat/clawchat/internal/chat"
)

// Host contexts (embedding, docs/embed.md): a conversation may belong to a host app's context;
// an embedded session (chat.User.Embed) sees and creates conversations only in the contexts its
// token granted, and every other conversation is the not-found of Lookup.

// Visible reports whether u may see c beyond owning it: an embedded session only in the
// contexts its token granted; every other session sees every conversation of theirs (the
// standalone app lists host-context ones in their own group).
func Visible(u chat.User, c chat.Conversation) bool {
	if u.Embed == nil {
		return true
	}
	_, ok := u.Embed.Role(c.HostApp, c.ContextID)
	return ok
}

// viewFor is View with u's role in c's context (embedded sessions).
func (s *Service) viewFor(ctx context.Context, u chat.User, c chat.Conversation) Conversation {
	v := s.View(ctx, c)
	if v.Context != nil {
		if role, ok := u.Embed.Role(c.HostApp, c.ContextID); ok {
			v.Context.Role = role
		}
	}
	return v
}

// CreateInContext makes a conversation of u in host context (app, ctxID) and publishes
// conversation.created. Without a grant for that context it is the not-found of any
// conversation u may not see.
func (s *Service) CreateInContext(ctx context.Context, u chat.User, app, ctxID, title string) (Conversation, error) {
	_, v, err := s.CreateInContextID(ctx, u, app, ctxID, "", title)
	return v, err
}

// CreateInContextID is CreateInContext with the conversation id given (a shared context's,
// docs/embed.md); "" picks a new one. It returns the stored row as well as u's view of it.
func (s *Service) CreateInContextID(ctx context.Context, u chat.User, app, ctxID, id, title string) (chat.Conversation, Conversation, error) {
	c, err := s.createRow(ctx, u, CreateParams{ID: id, Title: title}, app, ctxID)
	if err != nil {
		return chat.Conversation{}, Conversation{}, err
	}
	v := s.viewFor(ctx, u, c)
	s.cfg.Publisher.Publish(u.ID, chat.ConversationCreated{ConversationView: v}.Event())
	return c, v, nil
}
