package transcript

import (
	"encoding/json"
	"path"
	"strings"

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

// MediaAttachments maps a transcript row's inbound media references to MediaAttachments (nil
// for none).
func MediaAttachments(row json.RawMessage) []MediaAttachment {
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

// cleanFileName keeps the last path element of a file name, without control characters or
// quotes, at most 200 bytes.
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
