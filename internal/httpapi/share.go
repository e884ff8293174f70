package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/share"
)

// Routes of shared conversations (docs/api.md "Shared conversations"). Each one is authorized by
// internal/share: a conversation the caller does not take part in is the one not-found answer.

func (a *api) shareRoutes(mux *http.ServeMux) {
	if a.d.Share == nil {
		return
	}
	mux.Handle("GET /api/sessions/{key}/members", a.authed(a.listMembers))
	mux.Handle("POST /api/sessions/{key}/members", a.authed(a.addMember))
	mux.Handle("PATCH /api/sessions/{key}/members/{user}", a.authed(a.setMemberRole))
	mux.Handle("DELETE /api/sessions/{key}/members/{user}", a.authed(a.removeMember))
	mux.Handle("POST /api/sessions/{key}/owner", a.authed(a.transferOwner))
	mux.Handle("PUT /api/sessions/{key}/mute", a.authed(a.setMute))
	mux.Handle("GET /api/sessions/{key}/invites", a.authed(a.listInvites))
	mux.Handle("POST /api/sessions/{key}/invites", a.authed(a.createInvite))
	mux.Handle("DELETE /api/sessions/{key}/invites/{id}", a.authed(a.revokeInvite))
	mux.Handle("POST /api/invites/redeem", a.authed(a.redeemInvite))
}

// shareKey is convKey for the share routes; a malformed id is the usual not-found.
func shareKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	k, ok := convKey(r)
	if !ok {
		writeError(w, errNotFoundRoute)
	}
	return k, ok
}

func (a *api) listMembers(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := shareKey(w, r)
	if !ok {
		return
	}
	m, err := a.d.Share.List(r.Context(), u, key)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *api) addMember(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := shareKey(w, r)
	if !ok {
		return
	}
	var b struct {
		Username string         `json:"username"`
		Role     chat.ShareRole `json:"role"`
	}
	if err := decodeJSON(w, r, 4<<10, &b, false); err != nil {
		writeError(w, err)
		return
	}
	m, err := a.d.Share.Add(r.Context(), u, key, b.Username, b.Role)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

// shareChange is the shape of the membership changes that take a small JSON body and answer 204:
// the conversation key from the path, body B decoded (≤ 4 KiB), then do.
func shareChange[B any](w http.ResponseWriter, r *http.Request, do func(key string, b B) error) {
	key, ok := shareKey(w, r)
	if !ok {
		return
	}
	var b B
	if err := decodeJSON(w, r, 4<<10, &b, false); err != nil {
		writeError(w, err)
		return
	}
	if err := do(key, b); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) setMemberRole(w http.ResponseWriter, r *http.Request, u chat.User) {
	shareChange(w, r, func(key string, b struct {
		Role chat.ShareRole `json:"role"`
	}) error {
		return a.d.Share.SetRole(r.Context(), u, key, r.PathValue("user"), b.Role)
	})
}

func (a *api) removeMember(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := shareKey(w, r)
	if !ok {
		return
	}
	if err := a.d.Share.Remove(r.Context(), u, key, r.PathValue("user")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) transferOwner(w http.ResponseWriter, r *http.Request, u chat.User) {
	shareChange(w, r, func(key string, b struct {
		UserID string `json:"userId"`
	}) error {
		return a.d.Share.Transfer(r.Context(), u, key, b.UserID)
	})
}

func (a *api) setMute(w http.ResponseWriter, r *http.Request, u chat.User) {
	shareChange(w, r, func(key string, b struct {
		Muted bool `json:"muted"`
	}) error {
		return a.d.Share.SetMuted(r.Context(), u, key, b.Muted)
	})
}

func (a *api) listInvites(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := shareKey(w, r)
	if !ok {
		return
	}
	is, err := a.d.Share.Invites(r.Context(), u, key)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"invites": is})
}

func (a *api) createInvite(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := shareKey(w, r)
	if !ok {
		return
	}
	var b struct {
		Role       chat.ShareRole `json:"role"`
		TTLSeconds int64          `json:"ttlSeconds"`
	}
	if err := decodeJSON(w, r, 4<<10, &b, true); err != nil {
		writeError(w, err)
		return
	}
	if b.TTLSeconds < 0 || b.TTLSeconds > int64(share.MaxInviteTTL/time.Second) {
		writeError(w, chat.Public(chat.ErrInvalid, "ttlSeconds is out of range"))
		return
	}
	inv, err := a.d.Share.CreateInvite(r.Context(), u, key, b.Role, time.Duration(b.TTLSeconds)*time.Second)
	if err != nil {
		writeError(w, err)
		return
	}
	// The link carries the token in the fragment, which browsers never send to a server: it
	// stays out of access logs and Referer headers.
	writeJSON(w, http.StatusCreated, map[string]any{"invite": inv, "link": "/#join=" + inv.Token})
}

func (a *api) revokeInvite(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := shareKey(w, r)
	if !ok {
		return
	}
	if err := a.d.Share.RevokeInvite(r.Context(), u, key, r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) redeemInvite(w http.ResponseWriter, r *http.Request, u chat.User) {
	var b struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(w, r, 4<<10, &b, false); err != nil {
		writeError(w, err)
		return
	}
	c, err := a.d.Share.Redeem(r.Context(), u, b.Token)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// handleShare serves the WebSocket methods of shared conversations: typing
// {"conversation","typing"} and presence {"conversation"} (the conversation this connection
// shows now, "" for none; answered with the viewers). handled is false for other methods.
func (c *wsConn) handleShare(ctx context.Context, u chat.User, req wsRequest) (payload any, handled bool, err error) {
	sh := c.a.d.Share
	switch {
	case req.Method == "typing" && sh != nil:
		var p struct {
			Conversation string `json:"conversation"`
			Typing       bool   `json:"typing"`
		}
		if err = strictParams(req.Params, &p); err == nil {
			err = sh.Typing(ctx, u, p.Conversation, p.Typing)
		}
		return struct{}{}, true, err
	case req.Method == "presence" && c.a.d.Presence != nil:
		var p struct {
			Conversation string `json:"conversation"`
		}
		if err = strictParams(req.Params, &p); err == nil {
			var viewers []chat.Sender
			viewers, err = c.a.d.Presence.View(ctx, c, u, p.Conversation)
			payload = map[string]any{"viewers": viewers}
			c.mu.Lock()
			closed := c.closed
			c.mu.Unlock()
			if closed { // release ran meanwhile: do not leave a viewer behind
				c.a.d.Presence.Leave(c)
			}
		}
		return payload, true, err
	}
	return nil, false, nil
}
