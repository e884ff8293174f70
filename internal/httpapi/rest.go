package httpapi

import (
	"net/http"
	"strconv"
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
	Pinned   *bool   `json:"pinned"`
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
		if err != nil || n < 1 {
			writeError(w, chat.Public(chat.ErrInvalid, "limit must be a number from 1 to 1000"))
			return
		}
		limit = n
	}
	page, err := a.historyOp(r.Context(), u, key, limit, q.Get("before"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, misoHistoryPage(key, page))
}

// sendBody is a send's fields, the same on REST and the WebSocket (which adds "conversation").
type sendBody struct {
	Message string `json:"message"`
	// Text is the older (and miso-chat's) name for Message, used when Message is empty.
	Text        string              `json:"text"`
	ID          string              `json:"id"`
	Attachments []bridge.Attachment `json:"attachments"`
}

// params checks b and returns the bridge's send parameters for conversation key; create says
// whether a send to an id the user does not have yet creates it (REST).
func (b sendBody) params(key string, create bool) (bridge.SendParams, error) {
	text := b.Message
	if text == "" {
		text = b.Text
	}
	if !utf8.ValidString(text) {
		return bridge.SendParams{}, chat.Public(chat.ErrInvalid, "message must be UTF-8")
	}
	return bridge.SendParams{Conversation: key, ID: b.ID, Text: text, Attachments: b.Attachments, Create: create}, nil
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
	p, err := b.params(key, true)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := a.d.Bridge.Send(r.Context(), u, p)
	if err != nil {
		writeError(w, err)
		return
	}
	// success and sessionKey are what miso-chat's clients and smoke scripts read.
	writeJSON(w, http.StatusAccepted, map[string]any{"ok": true, "success": true, "sessionKey": key, "runId": res.RunID, "status": res.Status})
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
	res, err := a.abortOp(r.Context(), u, key, b)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) conversationReactions(w http.ResponseWriter, r *http.Request, u chat.User) {
	key := r.PathValue("key")
	if a.d.Reactions == nil {
		writeError(w, errNotFoundRoute)
		return
	}
	m, err := a.d.Reactions.Conversation(r.Context(), u, key)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessionKey": key, "reactions": m})
}

func (a *api) messageReactions(w http.ResponseWriter, r *http.Request, u chat.User) {
	key := r.URL.Query().Get("session")
	if key == "" {
		key = r.URL.Query().Get("sessionKey") // miso-chat's name
	}
	id := r.PathValue("id")
	if a.d.Reactions == nil {
		writeError(w, errNotFoundRoute)
		return
	}
	m, err := a.d.Reactions.Message(r.Context(), u, key, id)
	if err != nil {
		writeError(w, err)
		return
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
	if a.d.Reactions == nil {
		writeError(w, errNotFoundRoute)
		return
	}
	added, m, err := a.d.Reactions.Toggle(r.Context(), u, b.Session, id, b.Emoji)
	if err != nil {
		writeError(w, err)
		return
	}
	// success, messageId, action and emoji are miso-chat's toggle answer.
	action := "removed"
	if added {
		action = "added"
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "messageId": id, "sessionKey": b.Session,
		"action": action, "emoji": b.Emoji, "reactions": m})
}

// listApprovals is GET /api/approvals (owners; members get 404 like any unknown route).
func (a *api) listApprovals(w http.ResponseWriter, r *http.Request, u chat.User) {
	res, err := a.approvalsOp(r.Context(), u)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// resolveApproval is POST /api/approvals/{id} {"decision"} (owners only).
func (a *api) resolveApproval(w http.ResponseWriter, r *http.Request, u chat.User) {
	if !u.IsOwner() {
		// Before reading the body: a member learns nothing, not even whether the body was valid.
		writeError(w, errApprovalNotFound)
		return
	}
	var b resolveBody
	if err := decodeJSON(w, r, 4<<10, &b, false); err != nil {
		writeError(w, err)
		return
	}
	res, err := a.resolveOp(r.Context(), u, r.PathValue("id"), b)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
