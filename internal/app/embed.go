package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/embed"
)

// buildEmbed builds embedding (CLAWCHAT_EMBED_*; docs/embed.md) when host apps are configured:
// each app's keys are parsed now, so a bad key file or JWKS URL stops the start with the
// variable's name.
func (s *server) buildEmbed() error {
	cfg := s.cfg.Embed
	if !cfg.Enabled() {
		return nil
	}
	apps := make([]*embed.App, 0, len(cfg.Apps))
	for _, c := range cfg.Apps {
		a := &embed.App{
			ID: c.ID, Origins: c.Origins, JWKSURL: c.JWKSURL, RequestsPerMinute: c.RequestsPerMinute,
			Limits: embed.Limits{Title: c.MaxTitle, Outline: c.MaxOutline, Section: c.MaxSection, Selection: c.MaxSelection, Total: c.MaxContext},
		}
		switch {
		case c.KeyData != "":
			keys, err := embed.ParseKeys([]byte(c.KeyData))
			if err != nil {
				return fmt.Errorf("%sKEY_FILE (%s): %w", c.Env, c.KeyFile, err)
			}
			a.Keys = keys
		case c.Secret != "":
			a.Secret = []byte(c.Secret)
		case c.JWKSURL != "":
			if err := a.UseJWKS(nil, nil, 0); err != nil {
				return fmt.Errorf("%sJWKS_URL: %w", c.Env, err)
			}
		}
		apps = append(apps, a)
	}
	v, err := embed.NewVerifier(embed.VerifierConfig{Apps: apps, Audience: []string{cfg.Audience}, Replay: s.db, MaxLifetime: cfg.MaxLifetime})
	if err != nil {
		return fmt.Errorf("CLAWCHAT_EMBED_APPS: %w", err)
	}
	s.embed, err = embed.New(embed.Config{
		Verifier: v, Store: s.db, Logger: s.log.With("component", "embed"), SessionTTL: cfg.SessionTTL,
		TrustedProxies: s.cfg.TrustedProxies, MaxTextBytes: s.cfg.Chat.MaxMessageBytes,
	})
	return err
}

// embedChat adapts the chat core to what the embedded frame's routes need.
type embedChat struct {
	b  *bridge.Service
	db interface {
		Conversations(ctx context.Context, userID string) ([]chat.Conversation, error)
	}
}

func (e embedChat) Get(ctx context.Context, u chat.User, id string) (chat.ConversationView, error) {
	return e.b.Get(ctx, u, id)
}

func (e embedChat) ContextConversations(ctx context.Context, u chat.User, app, id string) ([]chat.ConversationView, error) {
	all, err := e.db.Conversations(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("app: list context conversations: %w", err)
	}
	out := []chat.ConversationView{}
	for _, c := range all {
		if c.UserID != u.ID || c.HostApp != app || c.ContextID != id || c.Archived {
			continue
		}
		v, err := e.b.Get(ctx, u, c.ID) // the same gate as every route
		if err != nil {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

func (e embedChat) CreateInContext(ctx context.Context, u chat.User, app, id, title string) (chat.ConversationView, error) {
	return e.b.CreateInContext(ctx, u, app, id, title)
}

func (e embedChat) SendWithContext(ctx context.Context, u chat.User, convID, text, clientID, agentContext string) (string, string, error) {
	res, err := e.b.Send(ctx, u, bridge.SendParams{Conversation: convID, ID: clientID, Text: text, AgentContext: agentContext})
	return res.RunID, res.Status, err
}

// embedShared adapts the store, the bridge and share to shared contexts (embed.Shared).
type embedShared struct {
	b  *bridge.Service
	db interface {
		ContextConversationByID(ctx context.Context, app, ctxID, id string) (chat.Conversation, error)
	}
	share interface {
		Grant(ctx context.Context, c chat.Conversation, userID string, role chat.ShareRole) error
	}
}

func (e embedShared) SharedConversation(ctx context.Context, app, ctxID, id string) (chat.Conversation, error) {
	return e.db.ContextConversationByID(ctx, app, ctxID, id)
}

func (e embedShared) CreateSharedInContext(ctx context.Context, u chat.User, app, ctxID, id, title string) (chat.Conversation, error) {
	return e.b.CreateInContextID(ctx, u, app, ctxID, id, title)
}

func (e embedShared) Grant(ctx context.Context, c chat.Conversation, userID string, role chat.ShareRole) error {
	return e.share.Grant(ctx, c, userID, role)
}

// authenticators compose cookie/proxy sign-in (auth) with embed bearer sessions: a request
// with an Authorization: Bearer header is authenticated by its embed session only, never by a
// cookie as well.
func (s *server) authenticate(r *http.Request) (chat.User, bool) {
	if u, ok := embed.Authenticate(r); ok {
		return u, true
	}
	if embed.HasBearer(r) {
		return chat.User{}, false
	}
	return s.auth.Authenticate(r)
}

func (s *server) credential(r *http.Request) string {
	if c := embed.Credential(r); c != "" {
		return c
	}
	if embed.HasBearer(r) {
		return ""
	}
	return s.auth.Credential(r)
}

func (s *server) revalidate(ctx context.Context, cred string) (chat.User, bool) {
	if strings.HasPrefix(cred, "e:") {
		if s.embed == nil {
			return chat.User{}, false
		}
		return s.embed.Revalidate(ctx, cred)
	}
	return s.auth.Revalidate(ctx, cred)
}
