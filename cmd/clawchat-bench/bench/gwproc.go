package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Gateway is what the benchmark needs from a fake Gateway, in this process (*FakeGateway) or in
// a child process (*GatewayProcess).
type Gateway interface {
	URL() string
	Runs(ctx context.Context) ([]GatewayRun, error)
	WaitRuns(ctx context.Context, n int) ([]GatewayRun, error)
	Stream(ctx context.Context, spec StreamSpec) (StreamStats, error)
	DirectClients(ctx context.Context) (int, error)
}

// childEnv marks the benchmark's own executable started as the fake Gateway process.
const childEnv = "CLAWCHAT_BENCH_CHILD"

// IsGatewayChild reports whether this process was started by StartGatewayProcess; main (and
// TestMain) must then call GatewayChildMain and exit with its status.
func IsGatewayChild() bool { return os.Getenv(childEnv) == "gateway" }

// GatewayChildMain runs the fake Gateway of a child process: it reads the token from stdin's first
// line, prints the URL on stdout, and serves until stdin closes or a signal arrives.
func GatewayChildMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	in := bufio.NewReader(os.Stdin)
	token, err := in.ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench gateway: no token on stdin")
		return 2
	}
	if _, err := RaiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "bench gateway:", err)
	}
	g, err := NewFakeGateway(strings.TrimSpace(token), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench gateway:", err)
		return 1
	}
	defer g.Close()
	g.control.Store(true)
	fmt.Println(g.URL())
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(eof)
	}()
	select {
	case <-ctx.Done():
	case <-eof:
	}
	return 0
}

// GatewayProcess is a fake Gateway running in a child process (the benchmark's own executable
// re-executed), so that its CPU is neither clawchat's nor the clients'. Safe for concurrent use.
type GatewayProcess struct {
	url    string
	token  string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	client *http.Client
	done   chan struct{}
}

// StartGatewayProcess re-executes the current executable as a fake Gateway with token.
func StartGatewayProcess(ctx context.Context, token string) (*GatewayProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("gateway process: %w", err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=gateway")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("gateway process: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("gateway process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("gateway process: %w", err)
	}
	p := &GatewayProcess{token: token, cmd: cmd, stdin: stdin, client: newHTTPClient(), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	if _, err := io.WriteString(stdin, token+"\n"); err != nil {
		p.Close()
		return nil, fmt.Errorf("gateway process: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p.url = <-lines:
	case <-ctx.Done():
		p.Close()
		return nil, fmt.Errorf("gateway process: %w", ctx.Err())
	case <-time.After(30 * time.Second):
		p.Close()
		return nil, errors.New("gateway process: no URL within 30s")
	}
	if !strings.HasPrefix(p.url, "ws://") {
		p.Close()
		return nil, fmt.Errorf("gateway process: unexpected first line %q", p.url)
	}
	return p, nil
}

// PID returns the child's process id.
func (p *GatewayProcess) PID() int { return p.cmd.Process.Pid }

// Close stops the child and waits for it.
func (p *GatewayProcess) Close() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.client.CloseIdleConnections()
}

// URL implements Gateway.
func (p *GatewayProcess) URL() string { return p.url }

func (p *GatewayProcess) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("gateway control: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http"+strings.TrimPrefix(p.url, "ws")+path, body)
	if err != nil {
		return fmt.Errorf("gateway control: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("gateway control %s: %w", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway control %s: %d %s", path, res.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("gateway control %s: %w", path, err)
	}
	return nil
}

// Runs implements Gateway.
func (p *GatewayProcess) Runs(ctx context.Context) ([]GatewayRun, error) {
	var out []GatewayRun
	err := p.call(ctx, http.MethodGet, "/control/runs", nil, &out)
	return out, err
}

// WaitRuns implements Gateway.
func (p *GatewayProcess) WaitRuns(ctx context.Context, n int) ([]GatewayRun, error) {
	for {
		runs, err := p.Runs(ctx)
		if err != nil || len(runs) >= n {
			return runs, err
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return nil, fmt.Errorf("gateway process: waiting for %d runs (have %d): %w", n, len(runs), err)
		}
	}
}

// Stream implements Gateway.
func (p *GatewayProcess) Stream(ctx context.Context, spec StreamSpec) (StreamStats, error) {
	var st StreamStats
	err := p.call(ctx, http.MethodPost, "/control/stream", spec, &st)
	return st, err
}

// DirectClients implements Gateway.
func (p *GatewayProcess) DirectClients(ctx context.Context) (int, error) {
	var n int
	err := p.call(ctx, http.MethodGet, "/control/direct", nil, &n)
	return n, err
}

// serveControl is the child's control API (bearer token): runs, stream, direct.
func (g *FakeGateway) serveControl(w http.ResponseWriter, r *http.Request) {
	if !g.control.Load() || subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+g.token)) != 1 {
		http.NotFound(w, r)
		return
	}
	var out any
	switch r.URL.Path {
	case "/control/runs":
		out = g.runsNow()
	case "/control/direct":
		out = int(g.ndirect.Load())
	case "/control/stream":
		var spec StreamSpec
		if err := json.NewDecoder(r.Body).Decode(&spec); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		st, err := g.Stream(r.Context(), spec)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		out = st
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
