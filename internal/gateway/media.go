package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// InboundMediaPrefix starts the transcript reference of a file a user sent with chat.send: the
// Gateway stores every attachment it accepts as managed media and records
// {url:"media://inbound/<name>---<uuid>.<ext>", contentType, kind, fileName, sizeBytes} in the
// user row's __openclaw.media (verified on OpenClaw 2026.9.6; the row's content keeps the text
// only, not the file).
const InboundMediaPrefix = "media://inbound/"

// MediaRef is one file of a transcript row's __openclaw.media.
type MediaRef struct {
	// URL is the Gateway's reference, media://inbound/… for what a user sent.
	URL         string `json:"url"`
	ContentType string `json:"contentType"`
	// Kind is the Gateway's class: image, audio, video or document.
	Kind      string `json:"kind"`
	FileName  string `json:"fileName"`
	SizeBytes int64  `json:"sizeBytes"`
}

// MessageMedia returns the inbound media references of one chat.history row (nil for none or a
// row that does not parse). Only media://inbound/ references with a URL are returned.
func MessageMedia(row json.RawMessage) []MediaRef {
	var m struct {
		Meta *struct {
			Media []MediaRef `json:"media"`
		} `json:"__openclaw"`
	}
	if json.Unmarshal(row, &m) != nil || m.Meta == nil {
		return nil
	}
	var out []MediaRef
	for _, r := range m.Meta.Media {
		if ValidInboundMedia(r.URL) {
			out = append(out, r)
		}
	}
	return out
}

// ValidInboundMedia reports whether ref is a well-formed media://inbound/ reference: one path
// segment of letters, digits, '.', '-' and '_', at most 255 bytes, not "." or "..".
func ValidInboundMedia(ref string) bool {
	name, ok := strings.CutPrefix(ref, InboundMediaPrefix)
	if !ok || name == "" || len(name) > 255 || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Media is a file read from the Gateway's media store. The caller closes Body.
type Media struct {
	Body        io.ReadCloser
	ContentType string // as the Gateway sniffed and stored it
	Size        int64  // Content-Length, -1 when unknown
}

// ErrMediaNotFound is returned by FetchMedia when the Gateway has no such file for the session
// (or refuses to say).
var ErrMediaNotFound = errors.New("gateway: media not found")

// ErrMediaTooLarge is returned by FetchMedia when the file is larger than the caller's limit.
var ErrMediaTooLarge = errors.New("gateway: media too large")

// FetchMedia reads a file a user sent in session sessionKey from the Gateway's HTTP media route
// (GET /__openclaw__/assistant-media?source=…&sessionKey=…, the route the Control UI uses, on
// the Gateway's own port: http for ws:// and https for wss://), authenticated with the shared
// secret as a bearer token. The Gateway checks that the session exists and that the file is in
// its media store; whether the file belongs to this conversation is the caller's check (the
// Gateway resolves inbound media per agent, not per session). Files over maxBytes are refused
// with ErrMediaTooLarge before their body is read when the Gateway announces the length; the
// returned Body also stops with ErrMediaTooLarge after maxBytes.
func (c *Client) FetchMedia(ctx context.Context, sessionKey, source string, maxBytes int64) (*Media, error) {
	if !ValidInboundMedia(source) {
		return nil, ErrMediaNotFound
	}
	u, err := url.Parse(c.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("gateway: media: %w", err)
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	q := url.Values{"source": {source}, "sessionKey": {sessionKey}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+u.Host+"/__openclaw__/assistant-media?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("gateway: media: %w", err)
	}
	secret := c.cfg.Token
	if secret == "" {
		secret = c.cfg.Password
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := c.probeClient.Do(req)
	if err != nil {
		// The error can carry the URL (with the source), never the secret (it is a header).
		return nil, fmt.Errorf("gateway: media: %w", ErrNotConnected)
	}
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		_ = res.Body.Close()
		if res.StatusCode == http.StatusNotFound {
			return nil, ErrMediaNotFound
		}
		return nil, fmt.Errorf("gateway: media: HTTP %d: %w", res.StatusCode, ErrNotConnected)
	}
	if res.ContentLength > maxBytes {
		_ = res.Body.Close()
		return nil, ErrMediaTooLarge
	}
	size := res.ContentLength
	if cl := res.Header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
			size = n
		}
	}
	return &Media{Body: &limitedBody{rc: res.Body, left: maxBytes}, ContentType: res.Header.Get("Content-Type"), Size: size}, nil
}

// limitedBody reads at most left bytes and then fails with ErrMediaTooLarge.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.rc.Read(one[:]); n > 0 {
			return 0, ErrMediaTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
