package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
)

// MediaFetcher reads a file a user sent from the Gateway's media store (the app adapts
// gateway.Client.FetchMedia): the body, the content type the Gateway recorded and the length
// (-1 unknown). Errors are chat sentinels: chat.ErrNotFound, chat.ErrTooLarge, chat.ErrUnavailable.
type MediaFetcher func(ctx context.Context, sessionKey, source string, maxBytes int64) (body io.ReadCloser, contentType string, size int64, err error)

// inlineMedia are the content types the media route serves as themselves (shown in an <img>):
// raster images only. Everything else, SVG included (it can carry script), is served as
// application/octet-stream with Content-Disposition: attachment, except audioMedia.
var inlineMedia = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true}

// audioMedia are the audio types the media route serves as themselves (played by an <audio>
// element: voice memos), each with the signature its first bytes must start with; a file whose
// bytes do not match is a download like any other. Audio is not active content, and nosniff
// keeps a browser from reading it as anything else.
var audioMedia = map[string]func(head []byte) bool{
	"audio/webm": func(h []byte) bool { return bytes.HasPrefix(h, []byte{0x1a, 0x45, 0xdf, 0xa3}) }, // EBML
	"audio/ogg":  func(h []byte) bool { return bytes.HasPrefix(h, []byte("OggS")) },
	"audio/mpeg": func(h []byte) bool {
		return bytes.HasPrefix(h, []byte("ID3")) || len(h) >= 2 && h[0] == 0xff && h[1]&0xe0 == 0xe0 // ID3 tag or MPEG frame sync
	},
	"audio/mp4": func(h []byte) bool { return len(h) >= 8 && string(h[4:8]) == "ftyp" },
	"audio/wav": func(h []byte) bool { return len(h) >= 12 && string(h[:4]) == "RIFF" && string(h[8:12]) == "WAVE" },
}

// audioAliases are other names browsers and the Gateway give the audioMedia types.
var audioAliases = map[string]string{"audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4", "audio/aac": "audio/mp4",
	"audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav", "audio/mp3": "audio/mpeg",
	"audio/opus": "audio/ogg", "application/ogg": "audio/ogg"}

// servedAs is how the media route serves a file whose first bytes are head, that the Gateway's
// media store answers with content type ctype and its transcript records as recorded (the
// attachment's mimeType): its type and whether it is inline (shown or played in the page) rather
// than a download (application/octet-stream). Raster images (by ctype) and audio (by either
// type: the media store names types by file extension, so an audio/webm memo comes back as
// video/webm) whose bytes have the audio type's signature are inline; everything else is a download.
func servedAs(ctype, recorded string, head []byte) (contentType string, inline bool) {
	mt := baseType(ctype)
	if inlineMedia[mt] {
		return mt, true
	}
	for _, t := range []string{mt, baseType(recorded)} {
		if a, ok := audioAliases[t]; ok {
			t = a
		}
		if sig, ok := audioMedia[t]; ok && sig(head) {
			return t, true
		}
	}
	return "application/octet-stream", false
}

// baseType is a content type without parameters, in lower case ("" if it does not parse).
func baseType(ctype string) string {
	mt, _, _ := mime.ParseMediaType(ctype)
	return strings.ToLower(mt)
}

// defaultMaxMedia bounds a media response when Deps.MaxMediaBytes is 0: the Gateway's own
// default attachment limit (20 MB decoded).
const defaultMaxMedia = 20 << 20

// media is GET /api/sessions/{key}/media?source=media://inbound/…: a file a user sent with a
// message of conversation {key} (docs/api.md). The bridge authorizes it first (u's own
// conversation, and the reference is in that conversation's transcript); everything else is 404.
func (a *api) media(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := convKey(r)
	if !ok || a.d.Media == nil {
		writeError(w, errNotFoundRoute)
		return
	}
	sessionKey, att, err := a.d.Bridge.MediaSource(r.Context(), u, key, r.URL.Query().Get("source"))
	if err != nil {
		writeError(w, err)
		return
	}
	limit := a.d.MaxMediaBytes
	if limit <= 0 {
		limit = defaultMaxMedia
	}
	body, ctype, size, err := a.d.Media(r.Context(), sessionKey, att.Source, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, 512)
	head, _ := br.Peek(12) // short files give fewer bytes; a read error shows in the copy below
	mt, inline := servedAs(ctype, att.MimeType, head)
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=86400")
	name := strings.NewReplacer(`"`, "", "\\", "", "\r", "", "\n", "").Replace(att.Name)
	h.Set("Content-Type", mt)
	if inline {
		h.Set("Content-Disposition", `inline; filename="`+asciiName(name)+`"; filename*=UTF-8''`+urlPathEscape(name))
	} else {
		h.Set("Content-Disposition", `attachment; filename="`+asciiName(name)+`"; filename*=UTF-8''`+urlPathEscape(name))
	}
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, br)
}

// asciiName is name with every non-ASCII or non-printable byte replaced by '_'.
func asciiName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '_'
		}
	}
	return string(b)
}

// urlPathEscape percent-encodes name for an RFC 5987 filename* value.
func urlPathEscape(name string) string {
	var sb strings.Builder
	for _, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			sb.WriteByte(c)
		} else {
			sb.WriteString("%" + strconv.FormatUint(uint64(c)>>4, 16) + strconv.FormatUint(uint64(c)&15, 16))
		}
	}
	return sb.String()
}
