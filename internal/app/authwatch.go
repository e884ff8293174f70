package app

import (
	"context"
	"time"
)

// How sign-outs, revocations, role changes and deletions reach open connections (issue 16):
//
//   - Every writer goes through auth.WithChangeHook: this server's sign-in, sign-out and OIDC
//     role updates, Bootstrap at start, and `clawchat user …` in another process. The hook
//     appends the user to the store's auth_changes feed.
//   - In this process the hook also re-checks the user's open WebSocket and SSE connections at
//     once (authChanged), so POST /logout returns after the session's sockets are closed.
//   - Every process polls the feed every second (watchAuthChanges), which carries changes made by
//     other instances and by the CLI, on SQLite and PostgreSQL alike.
//   - Re-checking a connection reads its session and account (auth.Service.Revalidate): a gone
//     session closes it with 4401, a changed role with 4012 (the client reconnects with the new
//     role). Independently, every WebSocket request is authorized with the revalidated user.

// authChanged is the auth store's change hook: record the change for every process, and act on
// it here at once.
func (s *server) authChanged(ctx context.Context, userID string) {
	if err := s.db.NoteAuthChange(ctx, userID); err != nil {
		s.log.Warn("auth change feed: write failed; other instances learn of the change at their connections' next request", "err", err)
	}
	s.applyAuthChange(ctx, userID)
}

// applyAuthChange re-checks userID's open connections and tells the chat core (which prunes
// Gateway session watchers and re-reads the owners). Before the API exists (Bootstrap at start)
// there is nothing to re-check.
func (s *server) applyAuthChange(ctx context.Context, userID string) {
	if s.api != nil {
		s.api.Recheck(context.WithoutCancel(ctx), userID)
	}
	if s.bridge != nil {
		s.bridge.UserChanged(userID)
	}
}

// watchAuthChanges polls the store's change feed every interval and applies changes made by
// other processes (and, harmlessly a second time, this one's) until ctx is done.
func (s *server) watchAuthChanges(ctx context.Context, interval time.Duration) error {
	last := int64(-1)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		users, pos, err := s.db.AuthChangesSince(ctx, last)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("auth change feed: read failed", "err", err)
		case err == nil:
			last = pos
			for _, u := range users {
				s.applyAuthChange(ctx, u)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
