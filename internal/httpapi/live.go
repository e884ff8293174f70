package httpapi

import (
	"context"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/wsconn"
)

// Close codes of /ws connections that the server ends for account reasons (docs/api.md).
const (
	// CloseSessionEnded: the session was signed out or revoked, expired, or the account was
	// disabled or deleted. The client goes to the sign-in page; reconnecting would get 401.
	CloseSessionEnded wsconn.StatusCode = 4401
	// CloseAccountChanged: the account's role (or name) changed. The client reconnects at once; the
	// new hello carries the new user, and everything from then on is authorized for the new role.
	CloseAccountChanged wsconn.StatusCode = 4012
)

// endReason says why the server ends a long-lived connection.
type endReason int

const (
	endSessionEnded endReason = iota + 1
	endAccountChanged
)

// liveConn is one open WebSocket or SSE stream in the registry (api.live): who holds it, the
// credential it was opened with, and how to end it. Nothing about the user is trusted after the
// upgrade without Revalidate: the role kept here only tells a role change apart.
type liveConn struct {
	user chat.User // as authenticated at the upgrade
	cred string    // Deps.Credential of the upgrade request ("" without Revalidate)
	// end ends the connection (idempotent, must not block): WebSocket close with the code of
	// reason, or the end of the SSE stream with a final event.
	end func(endReason)
}

// admit registers a new long-lived connection of u, or refuses it when u already holds
// MaxConnectionsPerUser connections, WebSocket and SSE counted together. The check and the
// registration happen under one lock, so parallel upgrades cannot overshoot the cap.
func (a *api) admit(u chat.User, cred string, end func(endReason)) (*liveConn, bool) {
	lc := &liveConn{user: u, cred: cred, end: end}
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	m := a.live[u.ID]
	if a.d.MaxConnectionsPerUser > 0 && len(m) >= a.d.MaxConnectionsPerUser {
		return nil, false
	}
	if m == nil {
		m = map[*liveConn]struct{}{}
		a.live[u.ID] = m
	}
	m[lc] = struct{}{}
	return lc, true
}

// forget removes lc from the registry (when its connection ends); the user's entry goes with its
// last connection, so the registry never outgrows the open connections.
func (a *api) forget(lc *liveConn) {
	if lc == nil {
		return
	}
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	if m := a.live[lc.user.ID]; m != nil {
		delete(m, lc)
		if len(m) == 0 {
			delete(a.live, lc.user.ID)
		}
	}
}

// check revalidates lc's credential now: the current user, or the reason to end the connection.
// Without Deps.Revalidate every connection stays as it was admitted.
func (a *api) check(ctx context.Context, lc *liveConn) (chat.User, endReason) {
	if a.d.Revalidate == nil {
		return lc.user, 0
	}
	u, ok := a.d.Revalidate(ctx, lc.cred)
	switch {
	case !ok || u.ID != lc.user.ID:
		return chat.User{}, endSessionEnded
	case u.Role != lc.user.Role:
		return u, endAccountChanged
	}
	return u, 0
}

// Recheck revalidates every open WebSocket and SSE connection of userID at once and ends those
// whose session is gone (close 4401) or whose role changed (close 4012, the client reconnects with
// the new role). The composition root calls it when it learns of a sign-out, a revocation, a role
// change or a deletion, made by this process or another (the store's change feed).
func (x *API) Recheck(ctx context.Context, userID string) {
	a := x.a
	a.liveMu.Lock()
	conns := make([]*liveConn, 0, len(a.live[userID]))
	for lc := range a.live[userID] {
		conns = append(conns, lc)
	}
	a.liveMu.Unlock()
	for _, lc := range conns {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, why := a.check(cctx, lc)
		cancel()
		if why != 0 {
			lc.end(why)
		}
	}
}

// RecheckAll revalidates every open connection, spread over time by ctx's caller: it catches
// what no change announced (a session that reached its absolute lifetime, a store edited by
// hand). The composition root runs it every few minutes.
func (x *API) RecheckAll(ctx context.Context) {
	a := x.a
	a.liveMu.Lock()
	users := make([]string, 0, len(a.live))
	for u := range a.live {
		users = append(users, u)
	}
	a.liveMu.Unlock()
	for _, u := range users {
		if ctx.Err() != nil {
			return
		}
		x.Recheck(ctx, u)
	}
}

// LiveConnections returns how many WebSocket and SSE connections userID holds (for tests and
// metrics).
func (x *API) LiveConnections(userID string) int {
	x.a.liveMu.Lock()
	defer x.a.liveMu.Unlock()
	return len(x.a.live[userID])
}
