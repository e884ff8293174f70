// Package titles names conversations after their first message and keeps the Gateway's session
// labels in step with clawchat's titles.
//
// A conversation without a title is named after its first message as soon as it is sent
// (bridge/sending). Then, in the background, Named asks the Gateway for a short title made by
// the agent's utility model (sessions.title.prepare, OpenClaw 2026.8+), which replaces that name
// unless the conversation was renamed meanwhile; the Gateway answers no title at once when it has
// no utility model distinct from the agent's primary one, so nothing costs a model call the
// operator did not configure. Every title (the first name, the agent's, a rename) is pushed to
// the Gateway as the session's label (sessions.patch label), so OpenClaw's own Control UI lists
// conversations by name instead of by raw session key. Labels are unique on a Gateway: a title
// already used by another session is labelled "<title> · <conversation id>".
//
// Titles from the model are untrusted text: control characters are removed, white space folded
// and the length bounded; clients render titles as text.
package titles

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clawchat/clawchat/internal/bridge/conversations"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Store is what titles need of the conversation store (internal/store implements it).
type Store interface {
	// RetitleConversation sets the title of userID's conversation id to to when it is still
	// from, and reports whether it did.
	RetitleConversation(ctx context.Context, userID, id, from, to string, at time.Time) (bool, error)
}

// Config configures a Service. Every field without "optional" is required.
type Config struct {
	// Gateway is the typed Gateway API with the Upstream's own errors (a label in use is an
	// expected refusal, not a failure to log).
	Gateway gateway.API
	Store   Store
	// Updated tells a conversation's participants its new title (conversation.updated).
	Updated func(ctx context.Context, c chat.Conversation)
	// Go runs background work that the owner of the Service waits for at shutdown; Base is its
	// context, cancelled at shutdown.
	Go     func(func())
	Base   context.Context
	Logger *slog.Logger
	Now    func() time.Time
	// Timeout bounds each Gateway call (optional; default 30 s: OpenClaw gives a title model 15 s).
	Timeout time.Duration
}

// Service names conversations. Its methods return at once; the work runs through Config.Go.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Service{cfg: cfg}
}

// maxSource is the most of the first message sessions.title.prepare accepts (characters).
const maxSource = 1000

// maxLabel bounds a label (the Gateway accepts 512 characters).
const maxLabel = 200

// Named is called once c was named after its first message (c.Title, already stored): it asks
// the Gateway for the agent's title, stores it when c still has that first name, tells the
// participants, and pushes the resulting title to the Gateway as the session's label.
func (s *Service) Named(c chat.Conversation, firstMessage string) {
	if conversations.IsGateway(c) || c.Title == "" {
		return
	}
	s.cfg.Go(func() {
		ctx, cancel := context.WithTimeout(s.cfg.Base, s.cfg.Timeout)
		defer cancel()
		if t := s.agentTitle(ctx, c.AgentID, firstMessage); t != "" && t != c.Title {
			ok, err := s.cfg.Store.RetitleConversation(ctx, c.UserID, c.ID, c.Title, t, s.cfg.Now().UTC())
			switch {
			case err != nil && !errors.Is(err, chat.ErrNotFound):
				s.cfg.Logger.Warn("agent's conversation title not stored", "err", err)
				return
			case err != nil || !ok:
				return // deleted or renamed meanwhile: the rename pushes its own label
			}
			c.Title, c.UpdatedAt = t, s.cfg.Now().UTC()
			s.cfg.Updated(ctx, c)
		}
		s.label(ctx, c)
	})
}

// Renamed pushes c's new title to the Gateway as its session's label.
func (s *Service) Renamed(c chat.Conversation) {
	if conversations.IsGateway(c) || Clean(c.Title) == "" {
		return
	}
	s.cfg.Go(func() {
		ctx, cancel := context.WithTimeout(s.cfg.Base, s.cfg.Timeout)
		defer cancel()
		s.label(ctx, c)
	})
}

// agentTitle returns the Gateway's title for a conversation that starts with message ("" when
// it has none).
func (s *Service) agentTitle(ctx context.Context, agentID, message string) string {
	if agentID == "" {
		agentID = "main"
	}
	if utf8.RuneCountInString(message) > maxSource {
		message = string([]rune(message)[:maxSource])
	}
	res, err := s.cfg.Gateway.SessionsTitle(ctx, gateway.SessionsTitleParams{AgentID: agentID, Message: message})
	if err != nil {
		s.cfg.Logger.Debug("no title from the Gateway", "err", err)
		return ""
	}
	if res.Title == nil {
		return ""
	}
	return Clean(*res.Title)
}

// label sets the session's label to c's title, or to "<title> · <id>" when another session of
// the Gateway has that label already.
func (s *Service) label(ctx context.Context, c chat.Conversation) {
	title := Clean(c.Title)
	if title == "" {
		return
	}
	for i, l := range []string{title, title + " · " + c.ID} {
		_, err := s.cfg.Gateway.SessionsPatch(ctx, gateway.SessionsPatchParams{Key: c.SessionKey, Label: &l})
		if err == nil {
			return
		}
		if !labelInUse(err) || i == 1 {
			s.cfg.Logger.Debug("session label not set", "err", err)
			return
		}
	}
}

// labelInUse reports whether the Gateway refused a label another session has (OpenClaw 2026.9.6:
// INVALID_REQUEST "label already in use: <label>").
func labelInUse(err error) bool {
	var ge *gateway.Error
	return errors.As(err, &ge) && strings.Contains(ge.Message, "label already in use")
}

// Clean makes untrusted text a title: control and format characters become spaces, white
// space is folded, and the result is at most 200 bytes, cut at a rune boundary.
func Clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	for len(s) > maxLabel {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return strings.TrimSpace(s)
}
