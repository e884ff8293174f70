package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/clawchat/clawchat/internal/chat"
)

// Limits on what goes into a notification. webpush-go pads every message to one 4096-byte
// record, so the JSON must stay below ~3.9 KB; these keep it far below.
const (
	maxTitleRunes = 120
	maxBodyBytes  = 1000
)

// Payload is the JSON a notification decrypts to; the service worker reads it. Body is present
// only when Config.IncludeText is set.
type Payload struct {
	Title        string `json:"title"`
	Body         string `json:"body,omitempty"`
	Conversation string `json:"conversation,omitempty"`
	URL          string `json:"url"`
	Tag          string `json:"tag"`
}

// NotifyReplyFinished tells userID's browsers that the run runID in conversationID has finished.
// Across every instance sharing the Store it sends at most once per run and user (ClaimOnce
// "push:<runID>:<userID>"), and only if the user has subscriptions. Each subscription gets one delivery,
// at most Concurrency at a time, each bounded by SendTimeout; 404/410 answers delete the
// subscription. Delivery failures are logged (endpoint host and status only, never the text or
// keys) and recorded, not returned: the error is only for store failures. text goes into the
// notification only when IncludeText is set. The caller decides whether a push is wanted at all
// (for example, not while the user has the conversation open).
func (s *Service) NotifyReplyFinished(ctx context.Context, userID, conversationID, runID, title, text string) error {
	if userID == "" || conversationID == "" || runID == "" {
		return fmt.Errorf("push: notify: %w", chat.Public(chat.ErrInvalid, "user, conversation and run are required"))
	}
	p := Payload{
		Title:        title,
		Conversation: conversationID,
		URL:          "/#/c/" + url.PathEscape(conversationID),
		Tag:          "clawchat:" + conversationID,
	}
	// The claim names the user too: in a shared conversation every participant is told of the
	// same run (issue 13).
	return s.notify(ctx, userID, "push:"+runID+":"+userID, p, text, topicFor(userID, conversationID), runID)
}

// NotifyMessage tells userID's browsers that another participant of a shared conversation wrote
// in it (issue 13): the title names the sender, the body is the message only with IncludeText.
// At most once per (message, user) across instances.
func (s *Service) NotifyMessage(ctx context.Context, userID, conversationID, messageID, sender, text string) error {
	if userID == "" || conversationID == "" || messageID == "" {
		return fmt.Errorf("push: notify message: %w", chat.Public(chat.ErrInvalid, "user, conversation and message are required"))
	}
	p := Payload{
		Title:        sender + " wrote",
		Conversation: conversationID,
		URL:          "/#/c/" + url.PathEscape(conversationID),
		Tag:          "clawchat:" + conversationID,
	}
	return s.notify(ctx, userID, "push:msg:"+messageID+":"+userID, p, text, topicFor(userID, conversationID), messageID)
}

// NotifyApproval tells owner ownerID's browsers that a command waits for an owner's approval
// (every owner gets one, whether or not the app is open: an approval expires). requester is the
// clawchat user whose conversation asked (empty for a Gateway session); command goes into the
// body only when IncludeText is set. At most once per (approval, owner) across instances.
func (s *Service) NotifyApproval(ctx context.Context, ownerID, approvalID, requester, command string) error {
	if ownerID == "" || approvalID == "" {
		return fmt.Errorf("push: notify approval: %w", chat.Public(chat.ErrInvalid, "owner and approval are required"))
	}
	title := "Approval needed"
	if requester != "" {
		title = "Approval needed: " + requester + " asks to run a command"
	}
	p := Payload{Title: title, URL: "/#/approvals", Tag: "clawchat:approval:" + approvalID}
	return s.notify(ctx, ownerID, "push:approval:"+approvalID+":"+ownerID, p, command, topicFor(ownerID, "approval:"+approvalID), approvalID)
}

// notify sends p (body text only with IncludeText) to every subscription of userID, once across
// instances per claim key.
func (s *Service) notify(ctx context.Context, userID, claim string, p Payload, text, topic, logID string) error {
	subs, err := s.cfg.Store.PushSubscriptions(ctx, userID)
	if err != nil {
		return fmt.Errorf("push: notify: list: %w", err)
	}
	if len(subs) == 0 {
		return nil
	}
	won, err := s.cfg.Store.ClaimOnce(ctx, claim, s.cfg.ClaimTTL)
	if err != nil {
		return fmt.Errorf("push: notify: claim: %w", err)
	}
	if !won {
		return nil // another instance (or an earlier call) sends this one
	}
	p.Title = truncateRunes(strings.TrimSpace(p.Title), maxTitleRunes)
	if p.Title == "" {
		p.Title = "clawchat"
	}
	if s.cfg.IncludeText {
		p.Body = truncateBytes(strings.TrimSpace(text), maxBodyBytes)
	}
	msg, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("push: notify: encode: %w", err)
	}

	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, sub := range subs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil
		}
		wg.Go(func() {
			defer func() { <-sem }()
			s.deliver(ctx, sub, msg, topic, logID)
		})
	}
	wg.Wait()
	return nil
}

// deliver sends one message to one subscription and acts on the answer.
func (s *Service) deliver(ctx context.Context, sub chat.PushSubscription, msg []byte, topic, runID string) {
	host := endpointHost(sub.Endpoint)
	// Re-check at send time: the allowlist may have changed since the row was stored.
	if err := s.CheckEndpoint(sub.Endpoint); err != nil {
		s.log.WarnContext(ctx, "push subscription no longer allowed; deleting", "user", sub.UserID, "host", host)
		s.record(OutcomeRejected)
		s.deleteSub(ctx, sub)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	// webpush-go appends padding to the slice it is given, so every delivery needs its own copy.
	resp, err := webpush.SendNotificationWithContext(ctx, bytes.Clone(msg), &webpush.Subscription{
		Endpoint: sub.Endpoint,
		Keys:     webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth},
	}, &webpush.Options{
		HTTPClient:      s.client,
		Subscriber:      s.libSubscriber(),
		TTL:             int(s.cfg.TTL.Seconds()),
		Topic:           topic,
		Urgency:         webpush.UrgencyNormal,
		VAPIDPublicKey:  s.cfg.PublicKey,
		VAPIDPrivateKey: s.cfg.PrivateKey,
	})
	if err != nil {
		s.log.WarnContext(ctx, "push delivery failed", "user", sub.UserID, "run", runID, "host", host, "err", safeErr(err))
		s.record(OutcomeError)
		return
	}
	defer resp.Body.Close()
	reason, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		s.record(OutcomeSent)
		if err := s.cfg.Store.TouchPushSubscription(ctx, sub.Endpoint, s.cfg.Now()); err != nil {
			s.log.WarnContext(ctx, "push: touch subscription", "user", sub.UserID, "host", host, "err", err)
		}
		s.log.DebugContext(ctx, "push delivered", "user", sub.UserID, "run", runID, "host", host, "status", code)
	case code == http.StatusNotFound || code == http.StatusGone:
		s.record(OutcomeGone)
		s.log.InfoContext(ctx, "push subscription gone; deleting", "user", sub.UserID, "host", host, "status", code)
		s.deleteSub(ctx, sub)
	case code == http.StatusTooManyRequests:
		s.record(OutcomeRateLimited)
		s.log.WarnContext(ctx, "push service rate limited us", "user", sub.UserID, "host", host,
			"retry_after", resp.Header.Get("Retry-After"))
	case code >= 300 && code < 500: // redirects are not followed: a push service never sends one
		s.record(OutcomeRejected)
		s.log.WarnContext(ctx, "push service rejected delivery", "user", sub.UserID, "host", host,
			"status", code, "reason", printable(reason, 200))
	default:
		s.record(OutcomeFailed)
		s.log.WarnContext(ctx, "push service failed", "user", sub.UserID, "host", host, "status", code)
	}
}

func (s *Service) deleteSub(ctx context.Context, sub chat.PushSubscription) {
	// Use a fresh deadline: the delivery's may have run out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SendTimeout)
	defer cancel()
	if err := s.cfg.Store.DeletePushSubscription(ctx, sub.Endpoint); err != nil {
		s.log.WarnContext(ctx, "push: delete subscription", "user", sub.UserID, "host", endpointHost(sub.Endpoint), "err", err)
	}
}

func (s *Service) record(outcome string) {
	if s.cfg.Recorder != nil {
		s.cfg.Recorder.PushResult(outcome)
	}
}

// libSubscriber adapts the subject to webpush-go v1.4.0, which prepends "mailto:" to anything
// that does not start with "https:".
func (s *Service) libSubscriber() string {
	return strings.TrimPrefix(s.cfg.Subscriber, "mailto:")
}

// safeErr drops the request URL (the endpoint, a capability) that net/http puts into its errors.
func safeErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// topicFor names a per-conversation Topic header (≤32 base64url chars) so a push service keeps
// only the newest undelivered notification of a conversation. It reveals nothing about the ids.
func topicFor(userID, conversationID string) string {
	h := sha256.Sum256([]byte(userID + "\x00" + conversationID))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// printable keeps a push service's error reason loggable: bounded, one line, ASCII.
func printable(b []byte, n int) string {
	var sb strings.Builder
	for _, c := range b {
		if sb.Len() >= n {
			break
		}
		if c >= 0x20 && c < 0x7f {
			sb.WriteByte(c)
		}
	}
	return sb.String()
}
