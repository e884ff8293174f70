package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// smoke is the post-deploy check: health, readiness (the Gateway), sign-in, a message, and its
// streamed reply. It exits non-zero with one clear reason. The password comes from stdin only
// and is never printed.
func smoke(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	base := fs.String("url", "", "clawchat's URL, e.g. https://chat.example.com")
	user := fs.String("user", "", "account to sign in with")
	pwStdin := fs.Bool("password-stdin", false, "read the password from stdin (required)")
	msg := fs.String("message", "clawchat smoke test: please reply", "message to send")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the whole check")
	if err := fs.Parse(args); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if *base == "" || *user == "" || !*pwStdin {
		return &UsageError{Msg: "usage: clawchat smoke --url URL --user NAME --password-stdin"}
	}
	u, err := url.Parse(strings.TrimRight(*base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &UsageError{Msg: fmt.Sprintf("--url %q is not an http(s) URL", *base)}
	}
	pw, err := bufio.NewReader(io.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, errEOF) {
		return fmt.Errorf("smoke: read password from stdin: %w", err)
	}
	pw = strings.TrimRight(pw, "\r\n")
	if pw == "" {
		return errors.New("smoke: empty password on stdin")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	s := &smokeRun{base: u.String(), out: io.Stdout, hc: &http.Client{Timeout: 30 * time.Second}}
	return s.run(ctx, *user, pw, *msg)
}

var errEOF = io.EOF

type smokeRun struct {
	base   string
	out    io.Writer
	hc     *http.Client
	cookie string
}

func (s *smokeRun) step(format string, args ...any) {
	fmt.Fprintf(s.out, "smoke: "+format+"\n", args...)
}

func (s *smokeRun) request(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.cookie != "" {
		req.Header.Set("Cookie", s.cookie)
	}
	return s.hc.Do(req)
}

func (s *smokeRun) run(ctx context.Context, user, pw, msg string) error {
	start := time.Now()
	// 1. Alive and ready.
	res, err := s.request(ctx, "GET", "/healthz", nil)
	if err != nil {
		return fmt.Errorf("smoke: %s is not reachable: %w", s.base, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("smoke: /healthz answered %s", res.Status)
	}
	s.step("healthz ok")
	res, err = s.request(ctx, "GET", "/readyz", nil)
	if err != nil {
		return fmt.Errorf("smoke: /readyz: %w", err)
	}
	var ready struct {
		Ready  bool   `json:"ready"`
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&ready)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("smoke: not ready, the OpenClaw Gateway connection is down: %s", ready.Reason)
	}
	s.step("readyz ok (gateway connected)")

	// 2. Sign in.
	res, err = s.request(ctx, "POST", "/login", map[string]string{"username": user, "password": pw})
	if err != nil {
		return fmt.Errorf("smoke: sign in: %w", err)
	}
	res.Body.Close()
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("smoke: sign in as %q refused: wrong user name or password", user)
	case res.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("smoke: sign in throttled (Retry-After %s s)", res.Header.Get("Retry-After"))
	case res.StatusCode != http.StatusOK:
		return fmt.Errorf("smoke: sign in answered %s", res.Status)
	}
	for _, c := range res.Cookies() {
		if c.Name == "clawchat_session" {
			s.cookie = c.Name + "=" + c.Value
		}
	}
	if s.cookie == "" {
		return errors.New("smoke: sign in gave no session cookie")
	}
	s.step("signed in as %s", user)
	defer func() {
		if r, err := s.request(context.WithoutCancel(ctx), "POST", "/logout", map[string]string{}); err == nil {
			r.Body.Close()
		}
	}()

	// 3. Listen, send, and wait for the streamed reply.
	events, err := s.request(ctx, "GET", "/api/events", nil)
	if err != nil {
		return fmt.Errorf("smoke: open event stream: %w", err)
	}
	defer events.Body.Close()
	if events.StatusCode != http.StatusOK {
		return fmt.Errorf("smoke: event stream answered %s", events.Status)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	key := "smoke-" + hex.EncodeToString(b[:])
	res, err = s.request(ctx, "POST", "/api/sessions/"+key+"/send", map[string]string{"message": msg})
	if err != nil {
		return fmt.Errorf("smoke: send: %w", err)
	}
	var sent struct {
		RunID string `json:"runId"`
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&sent)
	res.Body.Close()
	if res.StatusCode/100 != 2 || sent.RunID == "" {
		return fmt.Errorf("smoke: send answered %s: %s", res.Status, sent.Error.Message)
	}
	s.step("sent a message to %s (run %s)", key, sent.RunID)
	defer func() {
		if r, err := s.request(context.WithoutCancel(ctx), "DELETE", "/api/sessions/"+key, nil); err == nil {
			r.Body.Close()
		}
	}()
	deltas, text, err := waitReply(events.Body, sent.RunID)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("smoke: no reply within the timeout (%d deltas so far)", deltas)
		}
		return fmt.Errorf("smoke: %w", err)
	}
	s.step("reply streamed in %d deltas, %d characters, %s in all", deltas, len(text), time.Since(start).Round(time.Millisecond))
	s.step("ok")
	return nil
}

// waitReply reads server-sent events until the run ends.
func waitReply(r io.Reader, runID string) (deltas int, text string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			var p struct {
				RunID   string `json:"runId"`
				Text    string `json:"text"`
				Message string `json:"message"`
				State   string `json:"state"`
			}
			if json.Unmarshal([]byte(line[len("data: "):]), &p) != nil {
				continue
			}
			if name == "gateway.status" && p.State != "" && p.State != "connected" {
				return deltas, "", fmt.Errorf("the OpenClaw Gateway connection is %s", p.State)
			}
			if p.RunID != runID {
				continue
			}
			switch name {
			case "run.delta":
				deltas++
			case "run.final":
				if strings.TrimSpace(p.Text) == "" {
					return deltas, "", errors.New("the reply was empty")
				}
				return deltas, p.Text, nil
			case "run.aborted":
				return deltas, "", errors.New("the run was aborted")
			case "run.error":
				return deltas, "", fmt.Errorf("the run failed: %s", p.Message)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return deltas, "", err
	}
	return deltas, "", errors.New("the event stream ended before the reply")
}
