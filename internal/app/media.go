package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// fetchMedia is httpapi.Deps.Media: a file a user sent, read from the Gateway's media store
// with the Gateway's errors mapped to chat sentinels (never the Gateway's text). maxBytes is
// lowered to the Gateway's own attachment limit when it announced one.
func (s *server) fetchMedia(ctx context.Context, sessionKey, source string, maxBytes int64) (io.ReadCloser, string, int64, error) {
	if l := s.gw.Status().Policy.AttachmentMaxBytes; l > 0 && l < maxBytes {
		maxBytes = l
	}
	m, err := s.gw.FetchMedia(ctx, sessionKey, source, maxBytes)
	switch {
	case errors.Is(err, gateway.ErrMediaNotFound):
		return nil, "", 0, fmt.Errorf("attachment not found: %w", chat.ErrNotFound)
	case errors.Is(err, gateway.ErrMediaTooLarge):
		return nil, "", 0, fmt.Errorf("attachment too large: %w", chat.ErrTooLarge)
	case err != nil:
		s.log.Warn("gateway media fetch failed", "err", err)
		return nil, "", 0, fmt.Errorf("the assistant is not reachable right now: %w", chat.ErrUnavailable)
	}
	return m.Body, m.ContentType, m.Size, nil
}
