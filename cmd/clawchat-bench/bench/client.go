package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Sink collects what clients receive: a latency histogram over every delta timestamp seen and
// counters. Safe for concurrent use; the zero value is ready.
type Sink struct {
	Hist      Histogram
	Delivered atomic.Int64 // delta timestamps seen (one per Gateway delta per connection)
	Dropped   atomic.Int64 // connections that ended while they should have been reading
}

var tsMarker = []byte("[ts:")

// scan records one latency sample per "[ts:<nanos>]" marker in b.
func (s *Sink) scan(b []byte, now int64) {
	for {
		i := bytes.Index(b, tsMarker)
		if i < 0 {
			return
		}
		b = b[i+len(tsMarker):]
		var v int64
		j := 0
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
			v = v*10 + int64(b[j]-'0')
		}
		if j > 0 {
			s.Hist.Record(time.Duration(now - v))
			s.Delivered.Add(1)
		}
		b = b[j:]
	}
}

// Fleet is a set of benchmark clients that read until closed. Safe for concurrent use.
type Fleet struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closes []func()
	n      atomic.Int64
	// counting is set while a measurement runs; connections that end while it is set count
	// as dropped.
	counting atomic.Bool
}

// NewFleet returns an empty fleet bound to ctx.
func NewFleet(ctx context.Context) *Fleet {
	ctx, cancel := context.WithCancel(ctx)
	return &Fleet{ctx: ctx, cancel: cancel}
}

// Len returns the number of live connections.
func (f *Fleet) Len() int { return int(f.n.Load()) }

// Close ends every connection and waits for the readers.
func (f *Fleet) Close() {
	f.cancel()
	f.mu.Lock()
	closes := f.closes
	f.closes = nil
	f.mu.Unlock()
	for _, c := range closes {
		c()
	}
	f.wg.Wait()
}

func (f *Fleet) track(closeFn func(), read func()) {
	f.mu.Lock()
	f.closes = append(f.closes, closeFn)
	f.mu.Unlock()
	f.n.Add(1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer f.n.Add(-1)
		read()
	}()
}

// Target is a clawchat server as clients see it.
type Target struct {
	Base   string // http://127.0.0.1:port
	Client *http.Client
}

func newHTTPClient() *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 0}
}

// Login signs in with a password and returns the Cookie header value of the session.
func (t Target) Login(ctx context.Context, user, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.Base+"/login", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := t.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login %s: status %d", user, res.StatusCode)
	}
	for _, c := range res.Cookies() {
		if c.Name == "clawchat_session" && c.Value != "" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("login %s: no clawchat_session cookie", user)
}

// Send posts a message to conversation conv (creating it) and returns the run id.
func (t Target) Send(ctx context.Context, cookie, conv, id, text string) (string, error) {
	body, _ := json.Marshal(map[string]string{"message": text, "id": id})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.Base+"/api/sessions/"+conv+"/send", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", cookie)
	res, err := t.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusAccepted && res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("send %s: status %d: %.200s", conv, res.StatusCode, b)
	}
	var r struct {
		RunID string `json:"runId"`
	}
	_ = json.Unmarshal(b, &r)
	return r.RunID, nil
}

func wsURL(base string) string {
	return "ws" + strings.TrimPrefix(base, "http")
}

// readLoopWS reads WebSocket messages into a reused buffer and hands each to fn until reading
// fails; it always returns a non-nil error.
func readLoopWS(ctx context.Context, c *websocket.Conn, fn func([]byte)) error {
	var buf bytes.Buffer
	for {
		_, r, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		fn(buf.Bytes())
	}
}

var runDeltaHead = []byte(`"run.delta"`)

// DialWS opens a browser WebSocket to clawchat's /ws with cookie, waits for hello, subscribes
// from scratch and waits for the answer; then it reads run.delta events into sink until the
// fleet closes.
func (f *Fleet) DialWS(ctx context.Context, t Target, cookie string, sink *Sink) error {
	h := http.Header{}
	h.Set("Cookie", cookie)
	h.Set("Origin", t.Base)
	c, res, err := websocket.Dial(ctx, wsURL(t.Base)+"/ws", &websocket.DialOptions{HTTPHeader: h, HTTPClient: t.Client})
	if err != nil {
		if res != nil {
			return fmt.Errorf("dial /ws: status %d: %w", res.StatusCode, err)
		}
		return fmt.Errorf("dial /ws: %w", err)
	}
	c.SetReadLimit(1 << 20)
	fail := func(err error) error {
		_ = c.CloseNow()
		return err
	}
	_, hello, err := c.Read(ctx)
	if err != nil {
		return fail(fmt.Errorf("read hello: %w", err))
	}
	if !bytes.Contains(hello, []byte(`"hello"`)) {
		return fail(fmt.Errorf("first frame is not hello: %.120s", hello))
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"req","id":"s1","method":"subscribe","params":{}}`)); err != nil {
		return fail(fmt.Errorf("subscribe: %w", err))
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return fail(fmt.Errorf("subscribe answer: %w", err))
		}
		if bytes.Contains(b, []byte(`"id":"s1"`)) {
			if !bytes.Contains(b, []byte(`"ok":true`)) {
				return fail(fmt.Errorf("subscribe refused: %.200s", b))
			}
			break
		}
	}
	f.track(func() { _ = c.CloseNow() }, func() {
		_ = readLoopWS(f.ctx, c, func(b []byte) {
			head := b[:min(len(b), 64)]
			if bytes.Contains(head, runDeltaHead) {
				sink.scan(b, time.Now().UnixNano())
			}
		})
		if f.ctx.Err() == nil && f.counting.Load() { // readLoopWS only returns on an error
			sink.Dropped.Add(1)
		}
		_ = c.CloseNow()
	})
	return nil
}

// DialSSE opens GET /api/events with cookie and reads run.delta events into sink until the
// fleet closes. It returns once the response headers arrived.
func (f *Fleet) DialSSE(ctx context.Context, t Target, cookie string, sink *Sink) error {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, t.Base+"/api/events", nil)
	if err != nil {
		return fmt.Errorf("sse: %w", err)
	}
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Accept", "text/event-stream")
	type result struct {
		res *http.Response
		err error
	}
	ch := make(chan result, 1)
	go func() {
		res, err := t.Client.Do(req)
		ch <- result{res, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.res != nil {
				r.res.Body.Close()
			}
		}()
		return fmt.Errorf("sse: %w", ctx.Err())
	}
	if r.err != nil {
		return fmt.Errorf("sse: %w", r.err)
	}
	if r.res.StatusCode != http.StatusOK {
		r.res.Body.Close()
		return fmt.Errorf("sse: status %d", r.res.StatusCode)
	}
	body := r.res.Body
	f.track(func() { _ = body.Close() }, func() {
		defer body.Close()
		br := bufio.NewReaderSize(body, 4096)
		isDelta := false
		for {
			line, err := br.ReadSlice('\n')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				if f.ctx.Err() == nil && f.counting.Load() {
					sink.Dropped.Add(1)
				}
				return
			}
			switch {
			case bytes.HasPrefix(line, []byte("event:")):
				isDelta = bytes.Equal(bytes.TrimSpace(line[6:]), []byte("run.delta"))
			case bytes.HasPrefix(line, []byte("data:")):
				if isDelta {
					sink.scan(line, time.Now().UnixNano())
				}
			case len(bytes.TrimSpace(line)) == 0:
				isDelta = false
			}
		}
	})
	return nil
}

// DialDirect opens a plain WebSocket to the fake Gateway's /direct endpoint (group g) and reads
// run.delta frames into sink until the fleet closes, exactly like DialWS does.
func (f *Fleet) DialDirect(ctx context.Context, gatewayURL string, client *http.Client, g int, sink *Sink) error {
	c, _, err := websocket.Dial(ctx, gatewayURL+"/direct?group="+strconv.Itoa(g), &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return fmt.Errorf("dial direct: %w", err)
	}
	c.SetReadLimit(1 << 20)
	f.track(func() { _ = c.CloseNow() }, func() {
		_ = readLoopWS(f.ctx, c, func(b []byte) {
			if bytes.Contains(b[:min(len(b), 64)], runDeltaHead) {
				sink.scan(b, time.Now().UnixNano())
			}
		})
		if f.ctx.Err() == nil && f.counting.Load() { // readLoopWS only returns on an error
			sink.Dropped.Add(1)
		}
		_ = c.CloseNow()
	})
	return nil
}

// dialMany runs dial for i in [0,n) with at most par in flight and returns the first error.
func dialMany(ctx context.Context, n, par int, dial func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, par)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := dial(ctx, i); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
