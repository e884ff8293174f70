// Package upstream is the one place where the Gateway's errors become errors a user may see.
// A Mapper turns any error of a Gateway request into a chat sentinel-wrapped error whose message
// is safe to show (never the Gateway's own text, which can carry server paths), and logs the
// original. It holds no state.
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Mapper maps Gateway request errors for users.
type Mapper struct {
	// Classify maps an error first (optional; nil or a nil answer falls through to the default,
	// which understands gateway.Error and gateway.ErrNotConnected and treats anything else as
	// chat.ErrUnavailable).
	Classify func(error) error
	Log      *slog.Logger // required
}

// Map maps err (nil stays nil) of a request of method to a chat sentinel-wrapped error whose
// message is safe to show; the original is logged. A cancelled ctx wins over the Gateway's answer.
func (m Mapper) Map(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("bridge: %s: %w", method, ctx.Err())
	}
	m.Log.Warn("gateway request failed", "method", method, "err", err)
	if m.Classify != nil {
		if mapped := m.Classify(err); mapped != nil {
			return mapped
		}
	}
	if mapped := classify(err); mapped != nil {
		return mapped
	}
	conflict := strings.Contains(err.Error(), "already used for different input")
	if e, ok := errors.AsType[interface {
		error
		ErrorShape() json.RawMessage
	}](err); ok && strings.Contains(string(e.ErrorShape()), "chat-request-conflict") {
		conflict = true
	}
	if conflict {
		return fmt.Errorf("this message id was already used for a different message: %w", chat.ErrConflict)
	}
	return fmt.Errorf("the assistant is not reachable right now: %w", chat.ErrUnavailable)
}

// API returns the typed Gateway API over r with every error mapped by m.
func (m Mapper) API(r gateway.Requester) gateway.API {
	return gateway.API{R: mapped{r, m}}
}

type mapped struct {
	r gateway.Requester
	m Mapper
}

func (x mapped) Request(ctx context.Context, method string, params, result any) error {
	return x.m.Map(ctx, method, x.r.Request(ctx, method, params, result))
}

// classify maps gateway client errors to chat sentinels with messages safe to show.
func classify(err error) error {
	switch {
	case errors.Is(err, gateway.ErrNotConnected):
		return fmt.Errorf("the assistant is not reachable right now: %w", chat.ErrUnavailable)
	case errors.Is(err, gateway.ErrFrameTooLarge):
		return fmt.Errorf("message with attachments is too large for the assistant: %w", chat.ErrTooLarge)
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		return nil
	}
	if strings.Contains(string(ge.Details), "chat-request-conflict") {
		return fmt.Errorf("this message id was already used for a different message: %w", chat.ErrConflict)
	}
	switch ge.Code {
	case gateway.CodeInvalidRequest:
		return fmt.Errorf("the assistant refused the request: %w", chat.ErrInvalid)
	case gateway.CodeForbidden:
		return fmt.Errorf("the assistant refused the request: %w", chat.ErrForbidden)
	}
	return fmt.Errorf("the assistant is not reachable right now: %w", chat.ErrUnavailable)
}

// IsChatError reports whether err already carries a chat sentinel (and a message for the user).
func IsChatError(err error) bool {
	for _, e := range []error{chat.ErrForbidden, chat.ErrUnavailable, chat.ErrInvalid, chat.ErrNotFound, chat.ErrConflict, chat.ErrTooLarge, chat.ErrLimitReached, chat.ErrRateLimited} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// UserMessage is the text of a run.error for a send that failed with err: the mapped message of
// an unavailable, conflict or forbidden error, else a generic one.
func UserMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i > 0 && (errors.Is(err, chat.ErrUnavailable) || errors.Is(err, chat.ErrConflict) || errors.Is(err, chat.ErrForbidden)) {
		return msg[:i]
	}
	return "the message could not be sent"
}
