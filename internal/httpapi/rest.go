package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/version"
)

func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

func (a *api) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, reason := true, ""
	if a.d.Ready != nil {
		ok, reason = a.d.Ready()
	} else if st := a.d.Bridge.GatewayState(); st != bridge.StateConnected {
		ok, reason = false, "gateway "+st
	}
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": reason})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

// health is GET /api/health, public: "healthy" while this process serves (as miso-chat answers;
// readiness is /readyz), the version, and the Gateway state in clawchat's words (gateway) and
// miso-chat's (gatewayWs.connected, realtime.state). No addresses, no error texts.
func (a *api) health(w http.ResponseWriter, _ *http.Request) {
	st := a.d.Bridge.GatewayState()
	writeJSON(w, http.StatusOK, map[string]any{
		"status":    "healthy",
		"version":   version.String(),
		"gateway":   st,
		"gatewayWs": map[string]bool{"connected": st == bridge.StateConnected},
		"realtime":  map[string]string{"state": misoRealtimeState(st)},
	})
}

func (a *api) me(w http.ResponseWriter, _ *http.Request, u chat.User) {
	writeJSON(w, http.StatusOK, map[string]any{"user": u, "csrf": false})
}

// convKey returns the {key} path value when it is a well-formed conversation id. REST never
// reaches Gateway sessions (gw: ids are WebSocket-only).
func convKey(r *http.Request) (string, bool) {
	k := r.PathValue("key")
	return k, chat.ValidConversationID(k)
}

func (a *api) listSessions(w http.ResponseWriter, r *http.Request, u chat.User) {
	archived := r.URL.Query().Get("archived") == "true"
	list, _, err := a.d.Bridge.List(r.Context(), u, archived)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": misoSessions(list)})
}

type createBody struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	AgentID string `json:"agentId"`
}

func (a *api) createSession(w http.ResponseWriter, r *http.Request, u chat.User) {
	var b createBody
	if err := decodeJSON(w, r, 64<<10, &b, true); err != nil {
		writeError(w, err)
		return
	}
	c, err := a.d.Bridge.Create(r.Context(), u, bridge.CreateParams(b))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

type updateBody struct {
	Title    *string `json:"title"`
	Archived *bool   `json:"archived"`
}

func (a *api) updateSession(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := convKey(r)
	if !ok {
		writeError(w, errNotFoundRoute)
		return
	}
	var b updateBody
	if err := decodeJSON(w, r, 64<<10, &b, false); err != nil {
		writeError(w, err)
		return
	}
	c, err := a.d.Bridge.Update(r.Context(), u, key, bridge.UpdateParams(b))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (a *api) deleteSession(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := convKey(r)
	if !ok {
		writeError(w, errNotFoundRoute)
		return
	}
	if err := a.d.Bridge.Delete(r.Context(), u, key); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) history(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := convKey(r)
	if !ok {
		writeError(w, errNotFoundRoute)
		return
	}
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, fmt.Errorf("limit must be a number from 1 to 1000: %w", chat.ErrInvalid))
			return
		}
		limit = n
	}
	page, err := a.d.Bridge.History(r.Context(), u, key, limit, q.Get("before"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, misoHistoryPage(key, page))
}

type sendBody struct {
	Message string `json:"message"`
	// Text is miso-chat's alternative name for Message (used when Message is empty).
	Text        string              `json:"text"`
	ID          string              `json:"id"`
	Attachments []bridge.Attachment `json:"attachments"`
}

func (a *api) send(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := convKey(r)
	if !ok {
		writeError(w, errNotFoundRoute)
		return
	}
	var b sendBody
	if err := decodeJSON(w, r, a.d.MaxJSONBody, &b, false); err != nil {
		writeError(w, err)
		return
	}
	if b.Message == "" {
		b.Message = b.Text
	}
	if !utf8.ValidString(b.Message) {
		writeError(w, fmt.Errorf("message must be UTF-8: %w", chat.ErrInvalid))
		return
	}
	res, err := a.d.Bridge.Send(r.Context(), u, bridge.SendParams{
		Conversation: key, ID: b.ID, Text: b.Message, Attachments: b.Attachments, Create: true,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	// success and sessionKey are what miso-chat's clients and smoke scripts read.
	writeJSON(w, http.StatusAccepted, map[string]any{"ok": true, "success": true, "sessionKey": key, "runId": res.RunID, "status": res.Status})
}

type abortBody struct {
	RunID string `json:"runId"`
}

func (a *api) abort(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := convKey(r)
	if !ok {
		writeError(w, errNotFoundRoute)
		return
	}
	var b abortBody
	if err := decodeJSON(w, r, 4<<10, &b, true); err != nil {
		writeError(w, err)
		return
	}
	aborted, err := a.d.Bridge.Abort(r.Context(), u, key, b.RunID)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "aborted": aborted})
}

// reactionsMap groups reactions as {"<messageId>":{"👍":["alice"]}}.
func reactionsMap(rs []chat.Reaction, name string) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	for _, r := range rs {
		m := out[r.MessageID]
		if m == nil {
			m = map[string][]string{}
			out[r.MessageID] = m
		}
		m[r.Emoji] = append(m[r.Emoji], name)
	}
	return out
}

func (a *api) conversationReactions(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := convKey(r)
	if !ok || a.d.Reactions == nil {
		writeError(w, errNotFoundRoute)
		return
	}
	if _, err := a.d.Bridge.Get(r.Context(), u, key); err != nil {
		writeError(w, err)
		return
	}
	rs, err := a.d.Reactions.Reactions(r.Context(), u.ID, key)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessionKey": key, "reactions": reactionsMap(rs, u.Name)})
}

var messageIDOK = func(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func (a *api) messageReactions(w http.ResponseWriter, r *http.Request, u chat.User) {
	key := r.URL.Query().Get("session")
	if key == "" {
		key = r.URL.Query().Get("sessionKey") // miso-chat's name
	}
	a.answerMessageReactions(w, r, u, key)
}

func (a *api) answerMessageReactions(w http.ResponseWriter, r *http.Request, u chat.User, key string) {
	id := r.PathValue("id")
	if a.d.Reactions == nil || !chat.ValidConversationID(key) || !messageIDOK(id) {
		writeError(w, errNotFoundRoute)
		return
	}
	if _, err := a.d.Bridge.Get(r.Context(), u, key); err != nil {
		writeError(w, err)
		return
	}
	rs, err := a.d.Reactions.MessageReactions(r.Context(), u.ID, key, id)
	if err != nil {
		writeError(w, err)
		return
	}
	m := reactionsMap(rs, u.Name)[id]
	if m == nil {
		m = map[string][]string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messageId": id, "sessionKey": key, "reactions": m})
}

type reactionBody struct {
	Session string `json:"session"`
	// SessionKey is miso-chat's name for Session (used when Session is empty).
	SessionKey string `json:"sessionKey"`
	Emoji      string `json:"emoji"`
}

func (a *api) toggleReaction(w http.ResponseWriter, r *http.Request, u chat.User) {
	id := r.PathValue("id")
	var b reactionBody
	if err := decodeJSON(w, r, 4<<10, &b, false); err != nil {
		writeError(w, err)
		return
	}
	if b.Session == "" {
		b.Session = b.SessionKey
	}
	if a.d.Reactions == nil || !chat.ValidConversationID(b.Session) || !messageIDOK(id) {
		writeError(w, errNotFoundRoute)
		return
	}
	if b.Emoji == "" || len(b.Emoji) > 32 || !utf8.ValidString(b.Emoji) {
		writeError(w, fmt.Errorf("emoji must be 1 to 32 bytes: %w", chat.ErrInvalid))
		return
	}
	if _, err := a.d.Bridge.Get(r.Context(), u, b.Session); err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	existing, err := a.d.Reactions.MessageReactions(ctx, u.ID, b.Session, id)
	if err != nil {
		writeError(w, err)
		return
	}
	rec := chat.Reaction{UserID: u.ID, ConversationID: b.Session, MessageID: id, Emoji: b.Emoji, CreatedAt: time.Now().UTC()}
	has := false
	for _, e := range existing {
		if e.Emoji == b.Emoji {
			has = true
		}
	}
	if has {
		err = a.d.Reactions.RemoveReaction(ctx, rec)
	} else {
		err = a.d.Reactions.AddReaction(ctx, rec)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	rs, err := a.d.Reactions.MessageReactions(ctx, u.ID, b.Session, id)
	if err != nil {
		writeError(w, err)
		return
	}
	m := reactionsMap(rs, u.Name)[id]
	if m == nil {
		m = map[string][]string{}
	}
	a.d.Hub.Publish(u.ID, chat.ReactionChanged{Conversation: b.Session, MessageID: id, Reactions: m}.Event())
	// success, messageId, action and emoji are miso-chat's toggle answer.
	action := "added"
	if has {
		action = "removed"
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "messageId": id, "sessionKey": b.Session,
		"action": action, "emoji": b.Emoji, "reactions": m})
}

// listApprovals is GET /api/approvals (owners; members get 404 like any unknown route).
func (a *api) listApprovals(w http.ResponseWriter, r *http.Request, u chat.User) {
	list, err := a.d.Bridge.Approvals(r.Context(), u)
	if err != nil {
		writeError(w, err)
		return
	}
	if list == nil {
		list = []bridge.Approval{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": list})
}

// resolveApproval is POST /api/approvals/{id} {"decision"} (owners only).
func (a *api) resolveApproval(w http.ResponseWriter, r *http.Request, u chat.User) {
	if !u.IsOwner() {
		// Before reading the body: a member learns nothing, not even whether the body was valid.
		writeError(w, fmt.Errorf("approval not found: %w", chat.ErrNotFound))
		return
	}
	var b struct {
		Decision string `json:"decision"`
	}
	if err := decodeJSON(w, r, 4<<10, &b, false); err != nil {
		writeError(w, err)
		return
	}
	if err := a.d.Bridge.ResolveApproval(r.Context(), u, r.PathValue("id"), b.Decision); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}
