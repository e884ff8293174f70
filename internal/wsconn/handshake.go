package wsconn

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrBadHandshake is returned by Upgrade when the request is not a valid WebSocket opening
// handshake; Upgrade has answered it with 400 (or 426 for another protocol version).
var ErrBadHandshake = errors.New("wsconn: not a WebSocket handshake")

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// headerHasToken reports whether one of the comma-separated values of header name contains
// token (case-insensitive).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// checkHandshake validates the client's opening handshake (RFC 6455 §4.2.1) and returns the
// Sec-WebSocket-Accept value, or writes the refusal and returns ErrBadHandshake.
func checkHandshake(w http.ResponseWriter, r *http.Request) (string, error) {
	refuse := func(code int, msg string) (string, error) {
		http.Error(w, msg, code)
		return "", fmt.Errorf("%w: %s", ErrBadHandshake, msg)
	}
	if r.Method != http.MethodGet || !r.ProtoAtLeast(1, 1) {
		return refuse(http.StatusBadRequest, "WebSocket handshake needs GET over HTTP/1.1")
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return refuse(http.StatusUpgradeRequired, "WebSocket upgrade expected")
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return refuse(http.StatusUpgradeRequired, "unsupported WebSocket version")
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if len(key) != 24 { // base64 of 16 bytes; checked before decoding
		return refuse(http.StatusBadRequest, "invalid Sec-WebSocket-Key")
	}
	var raw [18]byte
	if n, err := base64.StdEncoding.Decode(raw[:], []byte(key)); err != nil || n != 16 {
		return refuse(http.StatusBadRequest, "invalid Sec-WebSocket-Key")
	}
	h := sha1.New()
	io.WriteString(h, key)
	io.WriteString(h, acceptGUID)
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// hijack takes the connection over from net/http, writes the 101 answer and returns the
// connection with any bytes the client sent after its request (already buffered by net/http).
// Nothing of net/http's per-connection state is kept.
func hijack(w http.ResponseWriter, accept string, timeout time.Duration) (net.Conn, []byte, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "WebSocket upgrade not supported", http.StatusInternalServerError)
		return nil, nil, fmt.Errorf("wsconn: hijack: %w", err)
	}
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		early = make([]byte, n)
		_, _ = io.ReadFull(brw.Reader, early)
	}
	// net/http may have set deadlines (ReadHeaderTimeout); the WebSocket sets its own.
	_ = conn.SetDeadline(time.Time{})
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, resp); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("wsconn: write handshake: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, early, nil
}
