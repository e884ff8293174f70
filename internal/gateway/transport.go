package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/coder/websocket"
)

// transport is one WebSocket connection. Read must be called from one goroutine; the
// other methods are safe for concurrent use. Read returns *closeError when the peer
// closed the connection with a close frame.
type transport interface {
	Read(ctx context.Context) ([]byte, error)
	Write(ctx context.Context, data []byte) error
	Ping(ctx context.Context) error
	SetReadLimit(n int64)
	Close(code int, reason string) error
	CloseNow() error
}

// dialFunc opens a transport to url.
type dialFunc func(ctx context.Context, url string) (transport, error)

// errBinaryFrame is returned by Read for a binary message (the Gateway only sends text).
var errBinaryFrame = errors.New("gateway: unexpected binary frame")

// dialWebSocket dials with coder/websocket. It sends no Origin header (an Origin makes
// the Gateway treat the client as a browser and strip its scopes).
func dialWebSocket(ctx context.Context, url string) (transport, error) {
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return &wsTransport{c: c}, nil
}

type wsTransport struct{ c *websocket.Conn }

func (w *wsTransport) Read(ctx context.Context) ([]byte, error) {
	typ, data, err := w.c.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return nil, &closeError{code: int(ce.Code), reason: ce.Reason}
		}
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, errBinaryFrame
	}
	return data, nil
}

func (w *wsTransport) Write(ctx context.Context, data []byte) error {
	return w.c.Write(ctx, websocket.MessageText, data)
}

func (w *wsTransport) Ping(ctx context.Context) error { return w.c.Ping(ctx) }
func (w *wsTransport) SetReadLimit(n int64)           { w.c.SetReadLimit(n) }
func (w *wsTransport) Close(code int, reason string) error {
	return w.c.Close(websocket.StatusCode(code), reason)
}
func (w *wsTransport) CloseNow() error { return w.c.CloseNow() }
