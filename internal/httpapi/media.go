package httpapi

import (
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
// application/octet-stream with Content-Disposition: attachment.
var inlineMedia = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true}

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
	mt, _, _ := mime.ParseMediaType(ctype)
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=86400")
	name := strings.NewReplacer(`"`, "", "\\", "", "\r", "", "\n", "").Replace(att.Name)
	if inlineMedia[mt] {
		h.Set("Content-Type", mt)
		h.Set("Content-Disposition", `inline; filename="`+asciiName(name)+`"; filename*=UTF-8''`+urlPathEscape(name))
	} else {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="`+asciiName(name)+`"; filename*=UTF-8''`+urlPathEscape(name))
	}
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, body)
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
