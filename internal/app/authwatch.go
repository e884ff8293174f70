package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clawchat/clawchat/internal/auth"
	"github.com/clawchat/clawchat/internal/store"
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

// authChanged is the auth store's change hook: record the change for every process, drop the
// push subscriptions of ended sessions, and act on it here at once.
func (s *server) authChanged(ctx context.Context, c auth.Change) {
	if err := noteAuthChange(ctx, s.db, c); err != nil {
		s.log.Warn("auth change feed", "err", err)
	}
	s.applyAuthChange(ctx, c.UserID)
}

// noteAuthChange writes c to the change feed and deletes the push subscriptions registered by
// the sessions that ended (a shared device must not keep getting the previous user's
// notifications). The server and `clawchat user` both use it.
func noteAuthChange(ctx context.Context, db *store.DB, c auth.Change) error {
	var errs []error
	if err := db.NoteAuthChange(ctx, c.UserID); err != nil {
		errs = append(errs, fmt.Errorf("running servers were not told (%w); the user's open connections close at their next request", err))
	}
	switch {
	case c.AllSessions:
		if err := db.DeleteUserPushSubscriptions(ctx, c.UserID); err != nil {
			errs = append(errs, err)
		}
	case c.SessionID != "":
		if err := db.DeleteSessionPushSubscriptions(ctx, c.SessionID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
	if s.share != nil {
		// Shared conversations can change with another account (an owner's deletion hands
		// theirs over, store.DB.DeleteAccount): this instance tells the user's connections here.
		keys, err := s.share.Refresh(context.WithoutCancel(ctx), s.hub, userID)
		if err != nil {
			s.log.Warn("shared conversations not refreshed after an account change", "err", err)
		}
		for _, k := range keys {
			s.membersChanged(k, nil)
		}
	}
}

// watchAuthChanges polls the store's change feed every interval and applies changes made by
// other processes (and, harmlessly a second time, this one's) until ctx is done.
func (s *server) watchAuthChanges(ctx context.Context, interval time.Duration) error {
	last := int64(-1)
	t := time.NewTicker(interval)
	defer t.Stop()
	full := time.NewTicker(recheckAllEvery)
	defer full.Stop()
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
		case <-full.C:
			// What no change announces: sessions reaching their absolute lifetime or idle
			// timeout, stores edited by hand.
			if s.api != nil {
				s.api.RecheckAll(ctx)
			}
		case <-t.C:
		}
	}
}

// recheckAllEvery is how often every open connection is revalidated regardless of the feed.
const recheckAllEvery = 5 * time.Minute
