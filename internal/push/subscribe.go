package push

import (
	"cmp"
	"context"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
)

// maxEndpointLen bounds stored endpoints; real ones are well under 1 KiB.
const maxEndpointLen = 2048

// subscriptionJSON is the shape of a browser's PushSubscription.toJSON().
type subscriptionJSON struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// Subscribe validates a browser PushSubscription.toJSON() document and stores it for userID.
// The endpoint must be https, on the default port, on an allowed push-service host (no IP
// literals); p256dh must decode to a P-256 point and auth to 16 bytes. When the user already has
// MaxPerUser other subscriptions, the least recently used ones are deleted. Errors wrap
// chat.ErrInvalid for bad input and never quote the keys. An endpoint registered to another user
// is not moved (chat.ErrConflict): see SubscribeSession.
func (s *Service) Subscribe(ctx context.Context, userID string, raw []byte) error {
	return s.SubscribeSession(ctx, userID, "", raw)
}

// SubscribeSession is Subscribe recording the sign-in session that registers the subscription
// (deleted with it at sign-out). The rule for an endpoint that another user registered (issue 16):
// it is refused with chat.ErrConflict and stays theirs. An endpoint is a capability URL; whoever
// learned one must not take the subscription over (the owner would silently stop getting
// notifications). The browser that really holds the endpoint can always get a fresh one
// (pushManager unsubscribe + subscribe), which the web app does on 409; the stale registration
// disappears at the other user's sign-out, or at the first delivery the push service answers
// 404/410.
func (s *Service) SubscribeSession(ctx context.Context, userID, sessionID string, raw []byte) error {
	if userID == "" {
		return fmt.Errorf("push: subscribe: %w", chat.Public(chat.ErrInvalid, "no user"))
	}
	var in subscriptionJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("push: subscribe: %w", chat.Public(chat.ErrInvalid, "not a push subscription"))
	}
	if err := s.CheckEndpoint(in.Endpoint); err != nil {
		return fmt.Errorf("push: subscribe: %w", err)
	}
	p256dh, err := decodeKey(in.Keys.P256dh)
	if err != nil || len(p256dh) != 65 {
		return fmt.Errorf("push: subscribe: %w", chat.Public(chat.ErrInvalid, "keys.p256dh must be a 65-byte P-256 point"))
	}
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return fmt.Errorf("push: subscribe: %w", chat.Public(chat.ErrInvalid, "keys.p256dh is not a valid P-256 point"))
	}
	auth, err := decodeKey(in.Keys.Auth)
	if err != nil || len(auth) != 16 {
		return fmt.Errorf("push: subscribe: %w", chat.Public(chat.ErrInvalid, "keys.auth must be 16 bytes"))
	}

	existing, err := s.cfg.Store.PushSubscriptions(ctx, userID)
	if err != nil {
		return fmt.Errorf("push: subscribe: list: %w", err)
	}
	now := s.cfg.Now()
	sub := chat.PushSubscription{
		UserID:     userID,
		Endpoint:   in.Endpoint,
		P256dh:     in.Keys.P256dh,
		Auth:       in.Keys.Auth,
		SessionID:  sessionID,
		CreatedAt:  now,
		LastUsedAt: now,
	}
	others := existing[:0:0]
	for _, e := range existing {
		if e.Endpoint == in.Endpoint {
			sub.CreatedAt = e.CreatedAt // re-subscribing the same browser is an update
			continue
		}
		others = append(others, e)
	}
	if excess := len(others) - (s.cfg.MaxPerUser - 1); excess > 0 {
		slices.SortFunc(others, func(a, b chat.PushSubscription) int {
			return cmp.Or(a.LastUsedAt.Compare(b.LastUsedAt), a.CreatedAt.Compare(b.CreatedAt))
		})
		for _, e := range others[:excess] {
			if err := s.cfg.Store.DeletePushSubscription(ctx, e.Endpoint); err != nil {
				return fmt.Errorf("push: subscribe: evict: %w", err)
			}
		}
	}
	if err := s.cfg.Store.SavePushSubscription(ctx, sub); err != nil {
		if errors.Is(err, chat.ErrConflict) {
			s.log.WarnContext(ctx, "push subscription refused: endpoint registered to another user", "user", userID, "host", endpointHost(in.Endpoint))
		}
		return fmt.Errorf("push: subscribe: save: %w", err)
	}
	s.log.InfoContext(ctx, "push subscription saved", "user", userID, "host", endpointHost(in.Endpoint))
	return nil
}

// Unsubscribe deletes the subscription with this endpoint if it belongs to userID. Deleting an
// unknown endpoint, or another user's, succeeds without effect (so nobody learns whether an
// endpoint exists).
func (s *Service) Unsubscribe(ctx context.Context, userID, endpoint string) error {
	if userID == "" || endpoint == "" {
		return fmt.Errorf("push: unsubscribe: %w", chat.Public(chat.ErrInvalid, "endpoint required"))
	}
	subs, err := s.cfg.Store.PushSubscriptions(ctx, userID)
	if err != nil {
		return fmt.Errorf("push: unsubscribe: list: %w", err)
	}
	for _, e := range subs {
		if e.Endpoint == endpoint {
			if err := s.cfg.Store.DeletePushSubscription(ctx, endpoint); err != nil {
				return fmt.Errorf("push: unsubscribe: %w", err)
			}
			return nil
		}
	}
	return nil
}

// CheckEndpoint reports whether endpoint may receive pushes: an absolute https URL without user
// info, on the default port, whose host is on the allowlist and is not an IP literal or
// localhost. Errors wrap chat.ErrInvalid.
func (s *Service) CheckEndpoint(endpoint string) error {
	if endpoint == "" || len(endpoint) > maxEndpointLen {
		return chat.Public(chat.ErrInvalid, "endpoint missing or too long")
	}
	u, err := url.Parse(endpoint)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return chat.Public(chat.ErrInvalid, "endpoint is not an absolute URL")
	}
	if u.Scheme != "https" {
		return chat.Public(chat.ErrInvalid, "endpoint must use https")
	}
	if u.User != nil {
		return chat.Public(chat.ErrInvalid, "endpoint must not carry credentials")
	}
	if p := u.Port(); p != "" && p != "443" {
		return chat.Public(chat.ErrInvalid, "endpoint must use the default https port")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return chat.Public(chat.ErrInvalid, "endpoint has no host")
	}
	if _, err := netip.ParseAddr(host); err == nil || strings.Contains(host, ":") {
		return chat.Public(chat.ErrInvalid, "endpoint host must be a name, not an IP address")
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return chat.Public(chat.ErrInvalid, "endpoint host is not a push service")
	}
	if !hostAllowed(host, s.allowed) {
		return chat.Public(chat.ErrInvalid, "endpoint host is not an allowed push service")
	}
	return nil
}

// hostAllowed matches host against exact names and "*.suffix" patterns. A pattern "*.d" matches
// "x.d" and "y.x.d" but not "d" itself.
func hostAllowed(host string, patterns []string) bool {
	for _, p := range patterns {
		if suffix, ok := strings.CutPrefix(p, "*"); ok {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// endpointHost is the only part of an endpoint we log: the path is a capability.
func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "invalid"
	}
	return u.Hostname()
}
