package embed

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/httpjson"
)

// frameCSP is the frame's Content-Security-Policy: the app's (websec.DefaultCSP) with
// frame-ancestors naming only the host app's configured origins.
const frameCSPBase = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; manifest-src 'self'; worker-src 'self'; "

// FrameAncestors returns the frame-ancestors source list for host app id: its configured
// origins, or 'none' for an unknown app.
func (s *Service) FrameAncestors(id string) string {
	a := s.v.App(id)
	if a == nil || len(a.Origins) == 0 {
		return "'none'"
	}
	return strings.Join(a.Origins, " ")
}

// Frame serves GET /embed?app=<id>: the embedded chat page (static, from the web app's build:
// /embed.html) with a CSP whose frame-ancestors names only the host app's origins. Any other
// page of clawchat keeps frame-ancestors 'none' and X-Frame-Options DENY.
func (s *Service) Frame(static http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app := r.URL.Query().Get("app")
		h := w.Header()
		h.Set("Content-Security-Policy", frameCSPBase+"frame-ancestors "+s.FrameAncestors(app))
		if s.v.App(app) != nil {
			h.Del("X-Frame-Options")
		}
		h.Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = "/embed.html", ""
		static.ServeHTTP(w, r2)
	})
}

// Loader serves GET /clawchat-embed.js, the host page's loader script, from the web app's
// build; host pages on other origins load it with <script src>, so it is
// Cross-Origin-Resource-Policy: cross-origin.
func Loader(static http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		static.ServeHTTP(w, r)
	})
}

// FrameConfig serves GET /embed/config?app=<id>: the origins the frame accepts postMessage
// calls from (the same list as frame-ancestors). Public: it holds no secret.
func (s *Service) FrameConfig(w http.ResponseWriter, r *http.Request) {
	a := s.v.App(r.URL.Query().Get("app"))
	if a == nil {
		httpjson.Fail(w, http.StatusNotFound, "not_found", "no such host app")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"app": a.ID, "origins": a.Origins})
}

var errNoContext = fmt.Errorf("conversation not found: %w", chat.ErrNotFound)

// embedUser returns the embedded user of r, or writes 404 (a cookie session has no contexts).
func embedUser(w http.ResponseWriter, r *http.Request) (chat.User, bool) {
	u, ok := chat.UserFrom(r.Context())
	if !ok || u.Embed == nil {
		httpjson.WriteError(w, errNoContext)
		return chat.User{}, false
	}
	return u, true
}

// grant returns u's role in context id of u's app, or writes the same 404 as for a
// conversation that does not exist.
func grant(w http.ResponseWriter, u chat.User, id string) (string, bool) {
	role, ok := u.Embed.Role(u.Embed.App, id)
	if !ok || !ContextRe.MatchString(id) {
		httpjson.WriteError(w, errNoContext)
		return "", false
	}
	return role, true
}

// Conversations serves GET /api/embed/conversations?context=<id>: u's conversations in that
// context of their host app.
func (s *Service) Conversations(w http.ResponseWriter, r *http.Request) {
	u, ok := embedUser(w, r)
	if !ok {
		return
	}
	id := r.URL.Query().Get("context")
	if _, ok := grant(w, u, id); !ok {
		return
	}
	if s.shared != nil && u.Embed.IsShared(u.Embed.App, id) {
		// Listing a shared context opens its one conversation: created by the first user,
		// joined by every later one the host grants it shared.
		v, err := s.sharedConversation(r.Context(), u, id, "")
		if err != nil {
			httpjson.WriteError(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"conversations": []chat.ConversationView{v}})
		return
	}
	list, err := s.chat.ContextConversations(r.Context(), u, u.Embed.App, id)
	if err != nil {
		httpjson.WriteError(w, err)
		return
	}
	if list == nil {
		list = []chat.ConversationView{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"conversations": list})
}

// Create serves POST /api/embed/conversations {"context","title"?}.
func (s *Service) Create(w http.ResponseWriter, r *http.Request) {
	u, ok := embedUser(w, r)
	if !ok {
		return
	}
	var b struct {
		Context string `json:"context"`
		Title   string `json:"title"`
	}
	if err := httpjson.Decode(w, r, 16<<10, &b, false); err != nil {
		httpjson.WriteError(w, err)
		return
	}
	if _, ok := grant(w, u, b.Context); !ok {
		return
	}
	if s.shared != nil && u.Embed.IsShared(u.Embed.App, b.Context) {
		// A shared context has one conversation: creating answers it.
		v, err := s.sharedConversation(r.Context(), u, b.Context, b.Title)
		if err != nil {
			httpjson.WriteError(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"conversation": v})
		return
	}
	v, err := s.chat.CreateInContext(r.Context(), u, u.Embed.App, b.Context, b.Title)
	if err != nil {
		httpjson.WriteError(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]any{"conversation": v})
}

type sendBody struct {
	Text     string       `json:"text"`
	ClientID string       `json:"clientId"`
	Context  *PageContext `json:"context"`
}

// Send serves POST /api/embed/conversations/{id}/messages {"text","clientId","context"?}: the
// text goes to the conversation as typed (the transcript shows only it); the page context,
// cut to the app's limits and fenced (Fence), goes to the agent with it, and is recorded for
// the author to inspect (Contexts).
func (s *Service) Send(w http.ResponseWriter, r *http.Request) {
	u, ok := embedUser(w, r)
	if !ok {
		return
	}
	var b sendBody
	if err := httpjson.Decode(w, r, 1<<20, &b, false); err != nil {
		httpjson.WriteError(w, err)
		return
	}
	ctx := r.Context()
	conv, err := s.chat.Get(ctx, u, r.PathValue("id"))
	if err != nil {
		httpjson.WriteError(w, err)
		return
	}
	if conv.Context == nil || conv.Context.App != u.Embed.App {
		httpjson.WriteError(w, errNoContext)
		return
	}
	role, ok := grant(w, u, conv.Context.ID)
	if !ok {
		return
	}
	if strings.TrimSpace(b.Text) == "" || len(b.Text) > s.cfg.MaxTextBytes || !utf8.ValidString(b.Text) {
		httpjson.Fail(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("text must be 1–%d bytes of UTF-8", s.cfg.MaxTextBytes))
		return
	}
	var fence string
	if b.Context != nil && !b.Context.Empty() {
		cut, truncated := Cut(*b.Context, s.v.App(u.Embed.App).Limits)
		fence = Fence(u.Embed.App, conv.Context.ID, role, cut, truncated)
	}
	runID, status, err := s.chat.SendWithContext(ctx, u, conv.ID, b.Text, b.ClientID, fence)
	if err != nil {
		httpjson.WriteError(w, err)
		return
	}
	if fence != "" && runID != "" {
		if err := s.st.PutMessageContext(ctx, chat.MessageContext{UserID: u.ID, ConversationID: conv.ID, MessageID: runID, Context: fence, CreatedAt: s.now().UTC()}); err != nil {
			s.log.Warn("embed: record message context", "err", err)
		}
	}
	httpjson.Write(w, http.StatusAccepted, map[string]any{"runId": runID, "status": status, "contextSent": fence != ""})
}

// MessageContext is one entry of GET /api/embed/conversations/{id}/contexts.
type MessageContext struct {
	MessageID string `json:"messageId"` // the run id the send answered
	Context   string `json:"context"`   // exactly what the agent read before the message
	At        string `json:"at"`
}

// Contexts serves GET /api/embed/conversations/{id}/contexts: the page context each of the
// user's messages in their conversation carried, exactly as the agent read it. Only the author
// sees it (the conversation gate is the same as every other route's).
func (s *Service) Contexts(w http.ResponseWriter, r *http.Request) {
	u, ok := chat.UserFrom(r.Context())
	if !ok {
		httpjson.WriteError(w, httpjson.ErrUnauthorized)
		return
	}
	conv, err := s.chat.Get(r.Context(), u, r.PathValue("id"))
	if err != nil {
		httpjson.WriteError(w, err)
		return
	}
	list, err := s.st.MessageContexts(r.Context(), u.ID, conv.ID)
	if err != nil {
		s.log.Error("embed: message contexts", "err", err)
		httpjson.WriteError(w, httpjson.ErrInternal)
		return
	}
	out := make([]MessageContext, 0, len(list))
	for _, m := range list {
		out = append(out, MessageContext{MessageID: m.MessageID, Context: m.Context, At: m.CreatedAt.Format("2006-01-02T15:04:05.000Z07:00")})
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"contexts": out})
}
