package app

import (
	"context"
	"encoding/json"
	"regexp"
	"time"

	"github.com/clawchat/clawchat/internal/share"
)

// accessChannel is the store channel (PostgreSQL NOTIFY; in-process on SQLite) on which every
// instance hears that people lost access to a shared conversation (issue 13).
const accessChannel = "clawchat_access"

// accessLost is one message on accessChannel.
type accessLost struct {
	Origin     string   `json:"o"`
	SessionKey string   `json:"k"`
	Users      []string `json:"u"`
}

var accessUserRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,127}$`)

// buildShare makes the membership service of shared conversations. Its Changed hook cuts the
// people who lost access at once on this instance and tells the others. Its background work
// derives from ctx without its cancellation (a signal starts a graceful shutdown, during which
// connections still end and presence is still told): s.close cancels and joins it (share.Close).
func (s *server) buildShare(ctx context.Context) *share.Service {
	return share.New(share.Config{
		Context:   context.WithoutCancel(ctx),
		Store:     s.db,
		Publisher: s.delivery,
		Logger:    s.log.With("component", "share"),
		Changed: func(key string, lost []string) {
			s.membersChanged(key, lost)
			if len(lost) == 0 {
				return
			}
			b, err := json.Marshal(accessLost{Origin: s.hub.Epoch(), SessionKey: key, Users: lost})
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
			defer cancel()
			if err := s.db.Publish(ctx, accessChannel, b); err != nil {
				s.log.Warn("other instances not told of a removal; they cut it at the removed person's next request", "err", err)
			}
		},
	})
}

// buildPresence makes the presence tracker of this instance: viewers are exchanged with the other
// instances on the store's channel, and delivered to this instance's hub only.
func (s *server) buildPresence() *share.Presence {
	return s.share.NewPresence(s.db, s.hub, s.hub.Epoch())
}

// membersChanged applies a membership change of the conversation with key on this instance:
// the fan-out reads its participants again, and each person who lost access has their replay
// log dropped and their open streams closed (they reconnect and resync without it).
func (s *server) membersChanged(key string, lost []string) {
	if s.fanout != nil {
		s.fanout.Invalidate(key)
	}
	for _, u := range lost {
		s.hub.Reset(u)
	}
}

// watchAccess applies the removals made on other instances until ctx is done.
func (s *server) watchAccess(ctx context.Context) error {
	return s.db.Subscribe(ctx, accessChannel, func(payload []byte) {
		var m accessLost
		if json.Unmarshal(payload, &m) != nil || m.Origin == s.hub.Epoch() || m.SessionKey == "" {
			return
		}
		users := m.Users[:0]
		for _, u := range m.Users {
			if accessUserRe.MatchString(u) {
				users = append(users, u)
			}
		}
		s.membersChanged(m.SessionKey, users)
	})
}

// publishTimeout bounds telling the other instances of a removal.
const publishTimeout = 2 * time.Second
