package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// MediaAttachment is a file a user message was sent with, as history reports it (docs/api.md
// "Message object"). Source is the Gateway's reference (media://inbound/…); the browser fetches
// the file with GET /api/sessions/{key}/media?source=… .
type MediaAttachment struct {
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
	// Kind is image, audio, video or document (the Gateway's class).
	Kind   string `json:"kind"`
	Size   int64  `json:"size,omitempty"`
	Source string `json:"source"`
}

// mediaAttachments maps a transcript row's inbound media references to MediaAttachments.
func mediaAttachments(row json.RawMessage) []MediaAttachment {
	refs := gateway.MessageMedia(row)
	if len(refs) == 0 {
		return nil
	}
	out := make([]MediaAttachment, 0, len(refs))
	for _, r := range refs {
		name := cleanFileName(r.FileName)
		if name == "" {
			name = "file"
		}
		out = append(out, MediaAttachment{Name: name, MimeType: r.ContentType, Kind: r.Kind, Size: r.SizeBytes, Source: r.URL})
	}
	return out
}

// cleanFileName keeps the last path element of a file name, without control characters, at
// most 200 bytes.
func cleanFileName(s string) string {
	s = path.Base(strings.ReplaceAll(s, "\\", "/"))
	if s == "." || s == "/" {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "")
	}
	return s
}

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
		return "", MediaAttachment{}, errNotFound
	}
	c, err := s.lookup(ctx, u, conversation)
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
			for _, a := range mediaAttachments(row) {
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
