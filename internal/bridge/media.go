package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// MediaAttachment is a file a user message was sent with (transcript.MediaAttachment).
type MediaAttachment = transcript.MediaAttachment

// maxMediaScan bounds how many of a conversation's newest transcript rows MediaSource reads to
// find a reference (pages of 1,000, the Gateway's largest).
const maxMediaScan = 5000

// MediaSource authorizes reading a file of u's conversation: it returns the conversation's
// Gateway session key and the attachment when source is an inbound media reference of one of
// the conversation's newest 5,000 transcript rows. Anything else — another user's conversation,
// a reference that is not in this transcript, a malformed one — is chat.ErrNotFound, so a user
// can never read a file through a conversation it does not belong to.
func (s *Service) MediaSource(ctx context.Context, u chat.User, conversation, source string) (string, MediaAttachment, error) {
	if !gateway.ValidInboundMedia(source) {
		return "", MediaAttachment{}, fmt.Errorf("conversation not found: %w", chat.ErrNotFound)
	}
	c, err := s.conversations.Lookup(ctx, u, conversation)
	if err != nil {
		return "", MediaAttachment{}, err
	}
	offset := 0
	for offset < maxMediaScan {
		raw, err := s.gw.ChatHistory(ctx, gateway.ChatHistoryParams{SessionKey: c.SessionKey, Limit: 1000, Offset: offset, MaxChars: 1})
		if err != nil {
			return "", MediaAttachment{}, err
		}
		for _, row := range raw.Messages {
			if !strings.Contains(string(row), source) {
				continue
			}
			for _, a := range transcript.MediaAttachments(row) {
				if a.Source == source {
					return c.SessionKey, a, nil
				}
			}
		}
		if !raw.HasMore || raw.NextOffset == nil || *raw.NextOffset <= offset {
			break
		}
		offset = *raw.NextOffset
	}
	return "", MediaAttachment{}, fmt.Errorf("attachment not found: %w", chat.ErrNotFound)
}
