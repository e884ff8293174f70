package ochar

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/testkit/fakemodel"
)

// Options configure Start. The zero value starts a loopback Gateway with a fresh token in a
// fresh temporary directory, installing the packages into DefaultCacheDir when missing.
type Options struct {
	// Install, when set, is used instead of calling EnsureInstalled.
	Install *Install
	// CacheDir is passed to EnsureInstalled ("" = DefaultCacheDir).
	CacheDir string
	// Progress receives install and startup progress lines (nil: discarded).
	Progress io.Writer
	// Dir is the run directory (config, state, home, logs). "" = a new directory under
	// os.TempDir(), removed by Stop.
	Dir string
	// Token is the shared gateway token ("" = 32 random alphanumerics).
	Token string
	// WordDelay is the fake model's default delay per streamed word (default 50ms; a
	// message's [delay=MS] directive overrides it).
	WordDelay time.Duration
	// Reasoning declares the scripted model a reasoning model, so the Gateway streams what its
	// [think] directive produces as thinking (the demo shows it); off by default.
	Reasoning bool
	// UtilityModel makes the scripted model the agents' utility model too (agents.defaults.
	// utilityModel), so the Gateway's cheap side tasks such as sessions.title.prepare reach it
	// (fakemodel answers a title request with a title); off by default, as OpenClaw's utility
	// routing is then disabled and no side task reaches the model.
	UtilityModel bool
	// ReadyTimeout bounds the wait for /readyz (default 180s; a fresh state dir takes about
	// 12-17 s on two cores, more under load).
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL (default 10s; the
	// Gateway drains running turns on SIGTERM for up to minutes).
	StopTimeout time.Duration
	// Netns runs the Gateway and the model inside a new network namespace; clients reach
	// it from a second namespace through a loopback proxy, so the Gateway sees a
	// non-loopback peer (device pairing). Needs root. See netns.go.
	Netns bool
	// Logger receives the fake model's request log (default: discard).
	Logger *slog.Logger
}

// Gateway is a running OpenClaw Gateway started by Start. URL, Token, Dir and Port are fixed;
// PID changes on Restart (read it with Pid). Methods are safe for concurrent use.
type Gateway struct {
	// URL is what a client dials: ws://127.0.0.1:PORT. For a Netns gateway it is a
	// loopback proxy whose connections reach the Gateway from the client namespace.
	URL string
	// Token is the shared gateway token.
	Token string
	// Dir is the run directory: openclaw.json, state/, home/, logs/gateway.out,
	// logs/openclaw.log.
	Dir string
	// Port is the Gateway's own port (inside its namespace for Netns).
	Port int
	// Remote reports whether clients reach the Gateway from a non-loopback address.
	Remote bool
	// StartupTime is how long the first start took until /readyz was 200.
	StartupTime time.Duration

	in      Install
	opts    Options
	ownDir  bool
	model   *fakemodel.Server
	ns      *netnsPair
	proxy   *proxy
	mu      sync.Mutex
	proc    *process
	stopped bool
}

// process is one Gateway process and its reaper.
type process struct {
	pid    int
	exited chan struct{}
	err    error // set before exited is closed
}

// Start installs what is missing, writes the config, starts the fake model and the Gateway
// and waits until the Gateway's /readyz answers 200. On failure everything started is
// stopped again and the error carries the tail of the Gateway's log.
func Start(ctx context.Context, opts Options) (g *Gateway, err error) {
	if opts.WordDelay == 0 {
		opts.WordDelay = 50 * time.Millisecond
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 180 * time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	var in Install
	if opts.Install != nil {
		in = *opts.Install
	} else if in, err = EnsureInstalled(ctx, opts.CacheDir, progress); err != nil {
		return nil, err
	}
	g = &Gateway{in: in, opts: opts, Token: opts.Token, Dir: opts.Dir, Remote: opts.Netns}
	defer func() {
		if err != nil {
			g.Stop()
			g = nil
		}
	}()
	if g.Token == "" {
		g.Token = rand.Text()[:26] + rand.Text()[:6]
	}
	if g.Dir == "" {
		if g.Dir, err = os.MkdirTemp("", "clawchat-ochar-"); err != nil {
			return g, fmt.Errorf("ochar: run dir: %w", err)
		}
		g.ownDir = true
	}
	for _, d := range []string{"state", "home", "logs"} {
		if err := os.MkdirAll(filepath.Join(g.Dir, d), 0o700); err != nil {
			return g, fmt.Errorf("ochar: run dir: %w", err)
		}
	}

	modelOpts := fakemodel.Options{Delay: opts.WordDelay, Logger: opts.Logger}
	var modelPort int
	if opts.Netns {
		if g.ns, err = newNetnsPair(ctx); err != nil {
			return g, err
		}
		// Inside a fresh namespace every port is free.
		g.Port = 18789
		modelPort = 18790
		var ln net.Listener
		err = g.ns.inGateway(func() error {
			var lerr error
			ln, lerr = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(modelPort))
			return lerr
		})
		if err != nil {
			return g, fmt.Errorf("ochar: model listener in namespace: %w", err)
		}
		g.model = fakemodel.Serve(ln, modelOpts)
		if g.proxy, err = startProxy(g.ns, net.JoinHostPort(gwIP, strconv.Itoa(g.Port))); err != nil {
			return g, err
		}
		g.URL = "ws://" + g.proxy.addr
	} else {
		if g.model, err = fakemodel.Start("127.0.0.1:0", modelOpts); err != nil {
			return g, fmt.Errorf("ochar: %w", err)
		}
		_, p, _ := net.SplitHostPort(g.model.Addr)
		modelPort, _ = strconv.Atoi(p)
		if g.Port, err = freePort(); err != nil {
			return g, err
		}
		g.URL = "ws://127.0.0.1:" + strconv.Itoa(g.Port)
	}
	if err := g.writeConfig(modelPort); err != nil {
		return g, err
	}
	start := time.Now()
	if err := g.startProcess(ctx); err != nil {
		return g, err
	}
	g.StartupTime = time.Since(start)
	fmt.Fprintf(progress, "ochar: gateway ready on port %d (pid %d, netns %v) in %s\n",
		g.Port, g.Pid(), opts.Netns, g.StartupTime.Round(100*time.Millisecond))
	return g, nil
}

// StartT starts a Gateway for a test, fails the test (never skips) when it cannot, and stops
// it in t.Cleanup. Startup progress is logged to t.
func StartT(t testing.TB, opts Options) *Gateway {
	t.Helper()
	if opts.Progress == nil {
		opts.Progress = tWriter{t}
	}
	g, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start OpenClaw gateway: %v", err)
	}
	t.Cleanup(func() { g.Stop() })
	return g
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("ochar: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeConfig writes openclaw.json (JSON5 is a superset of JSON, so plain JSON is written).
func (g *Gateway) writeConfig(modelPort int) error {
	bind := "loopback"
	if g.opts.Netns {
		bind = "lan" // 0.0.0.0, but only inside the gateway's own namespace
	}
	// The utility model must differ from the primary: OpenClaw skips a utility attempt that
	// resolves to the primary model when only the utility model may be used (titles).
	utility, utilityModel := "", ""
	if g.opts.UtilityModel {
		utility = "fake/utility"
		utilityModel = `, {
          "id": "utility", "name": "Fake Utility", "reasoning": false, "input": ["text"],
          "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
          "contextWindow": 128000, "maxTokens": 4096
        }`
	}
	cfg := fmt.Sprintf(`{
  "gateway": {
    "mode": "local",
    "port": %d,
    "bind": %q,
    "auth": {"mode": "token", "token": %q}
  },
  "update": {"checkOnStart": false},
  "logging": {"file": %q},
  "agents": {
    "defaults": {
      "workspace": %q,
      "model": {"primary": "fake/echo"},
      "utilityModel": %q,
      "heartbeat": {"every": "0m"}
    }
  },
  "models": {
    "mode": "replace",
    "catalogRefresh": {"enabled": false},
    "providers": {
      "fake": {
        "baseUrl": "http://127.0.0.1:%d/v1",
        "apiKey": "fake-local",
        "api": "openai-completions",
        "timeoutSeconds": 120,
        "models": [{
          "id": "echo", "name": "Fake Echo", "reasoning": %t, "input": ["text"],
          "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
          "contextWindow": 128000, "maxTokens": 4096
        }%s]
      }
    }
  }
}
`, g.Port, bind, g.Token, filepath.Join(g.Dir, "logs", "openclaw.log"),
		filepath.Join(g.Dir, "state", "workspace"), utility, modelPort, g.opts.Reasoning, utilityModel)
	if err := os.WriteFile(filepath.Join(g.Dir, "openclaw.json"), []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("ochar: write config: %w", err)
	}
	return nil
}

// env is the Gateway's (and the CLI's) complete environment: nothing inherited but PATH and
// locale; everything OpenClaw writes goes under Dir.
func (g *Gateway) env() []string {
	return []string{
		"PATH=" + filepath.Dir(g.in.Node) + ":/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8", "TZ=UTC",
		"HOME=" + filepath.Join(g.Dir, "home"),
		"OPENCLAW_HOME=" + filepath.Join(g.Dir, "home"),
		"OPENCLAW_STATE_DIR=" + filepath.Join(g.Dir, "state"),
		"OPENCLAW_CONFIG_PATH=" + filepath.Join(g.Dir, "openclaw.json"),
		"OPENCLAW_DISABLE_BONJOUR=1", "OPENCLAW_NO_RESPAWN=1", "OPENCLAW_SKIP_CHANNELS=1",
		"OPENCLAW_NO_AUTO_UPDATE=1", "OPENCLAW_EXEC_SHELL_SNAPSHOT=0", "OPENCLAW_OFFLINE=1",
		"DO_NOT_TRACK=1", "NO_COLOR=1",
	}
}

// command builds an OpenClaw command with the Gateway's environment, inside the Gateway's
// namespace when there is one (`ip netns exec` execs, so the PID is node's).
func (g *Gateway) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append([]string{g.in.Node, g.in.Entry}, args...)
	if g.ns != nil {
		argv = append([]string{"ip", "netns", "exec", g.ns.gw}, argv...)
	}
	var cmd *exec.Cmd
	if ctx.Done() != nil { // context.Background(): a process not tied to any context
		cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	} else {
		cmd = exec.Command(argv[0], argv[1:]...)
	}
	cmd.Env = g.env()
	cmd.Dir = g.Dir
	return cmd
}

// startAttempts bounds the starts of one startProcess: on a loaded machine OpenClaw 2026.9.6 can
// give up on its own start-up ("Gateway failed to start: state lease heartbeat did not become
// ready … timeoutMs=5000") and exit; that start is tried again.
const startAttempts = 3

// errGaveUp marks an exit in which the Gateway reported that it failed to start.
var errGaveUp = errors.New("ochar: the gateway gave up starting")

// startProcess starts the Gateway in its own session and waits until it is ready, starting it
// again (at most startAttempts in all) when it gives up on its own start-up.
func (g *Gateway) startProcess(ctx context.Context) error {
	var err error
	for range startAttempts {
		if err = g.startOnce(ctx); !errors.Is(err, errGaveUp) {
			return err
		}
	}
	return err
}

func (g *Gateway) startOnce(ctx context.Context) error {
	logPath := filepath.Join(g.Dir, "logs", "gateway.out")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("ochar: gateway log: %w", err)
	}
	defer out.Close()
	fmt.Fprintf(out, "--- ochar: gateway start %s\n", time.Now().UTC().Format(time.RFC3339))
	bind := "loopback"
	if g.opts.Netns {
		bind = "lan"
	}
	// Not CommandContext: the process outlives ctx and is stopped by Stop.
	cmd := g.command(context.Background(), "gateway", "run", "--port", strconv.Itoa(g.Port), "--bind", bind)
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ochar: start gateway: %w", err)
	}
	p := &process{pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	g.mu.Lock()
	g.proc = p
	g.mu.Unlock()
	if err := g.waitReady(ctx, p); err != nil {
		tail := g.LogTail(40)
		select {
		case <-p.exited:
			if i := strings.LastIndex(tail, "--- ochar: gateway start"); i >= 0 && strings.Contains(tail[i:], "Gateway failed to start") {
				err = fmt.Errorf("%w: %w", errGaveUp, err)
			}
		default:
		}
		return fmt.Errorf("%w\n--- last lines of %s:\n%s", err, logPath, tail)
	}
	return nil
}

// waitReady polls /readyz until 200, the process exits, or the ready timeout passes.
func (g *Gateway) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, g.opts.ReadyTimeout)
	defer cancel()
	client := g.httpClient()
	defer client.CloseIdleConnections()
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(g.Port)) + "/readyz"
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("ochar: gateway (pid %d) exited during startup: %v", p.pid, p.err)
		case <-ctx.Done():
			return fmt.Errorf("ochar: gateway (pid %d) not ready after %s (last: %s): %w",
				p.pid, g.opts.ReadyTimeout, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// httpClient reaches the Gateway's HTTP port on its loopback (inside its namespace for Netns).
func (g *Gateway) httpClient() *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	if g.ns != nil {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return g.ns.dialGateway(ctx, network, addr)
		}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// Ready reports whether /readyz answers 200 right now.
func (g *Gateway) Ready(ctx context.Context) bool {
	client := g.httpClient()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://127.0.0.1:"+strconv.Itoa(g.Port)+"/readyz", nil)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Pid returns the PID of the current Gateway process (0 when stopped).
func (g *Gateway) Pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc == nil {
		return 0
	}
	return g.proc.pid
}

// ModelURL returns the fake model's base URL as the Gateway sees it.
func (g *Gateway) ModelURL() string { return g.model.URL }

// LogTail returns the last n lines of the Gateway's console log.
func (g *Gateway) LogTail(n int) string {
	b, err := os.ReadFile(filepath.Join(g.Dir, "logs", "gateway.out"))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// signalProcess sends sig to the Gateway process and, with group, to its process group
// (the Gateway's worker children), by PID only.
func signalProcess(p *process, sig syscall.Signal, group bool) {
	select {
	case <-p.exited:
	default:
		syscall.Kill(p.pid, sig)
	}
	if group {
		// The Gateway was started with setsid, so its group id is its pid.
		syscall.Kill(-p.pid, sig)
	}
}

// stopProcess stops the current process: SIGTERM (or SIGKILL when kill), SIGKILL after
// StopTimeout, then SIGKILL to anything left in its process group.
func (g *Gateway) stopProcess(kill bool) error {
	g.mu.Lock()
	p := g.proc
	g.proc = nil
	g.mu.Unlock()
	if p == nil {
		return nil
	}
	if kill {
		signalProcess(p, syscall.SIGKILL, true)
	} else {
		signalProcess(p, syscall.SIGTERM, false)
	}
	t := time.NewTimer(g.opts.StopTimeout)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		signalProcess(p, syscall.SIGKILL, false)
		<-p.exited
	}
	signalProcess(p, syscall.SIGKILL, true)
	return nil
}

// Kill stops the Gateway at once with SIGKILL (a crash), leaving the model, the namespace
// and the run directory in place for Restart.
func (g *Gateway) Kill() error { return g.stopProcess(true) }

// Restart stops the Gateway (SIGTERM; a no-op after Kill) and starts it again with the same
// config, token, state and port, waiting until it is ready.
func (g *Gateway) Restart(ctx context.Context) error {
	if err := g.stopProcess(false); err != nil {
		return err
	}
	g.mu.Lock()
	stopped := g.stopped
	g.mu.Unlock()
	if stopped {
		return errors.New("ochar: restart after Stop")
	}
	return g.startProcess(ctx)
}

// Stop stops the Gateway (SIGTERM, SIGKILL after StopTimeout), the model, the namespaces
// and, when Start made it, removes the run directory. It is idempotent.
func (g *Gateway) Stop() error {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return nil
	}
	g.stopped = true
	g.mu.Unlock()
	var errs []error
	errs = append(errs, g.stopProcess(false))
	if g.proxy != nil {
		g.proxy.close()
	}
	if g.model != nil {
		if err := g.model.Close(); err != nil {
			errs = append(errs, fmt.Errorf("ochar: model: %w", err))
		}
	}
	if g.ns != nil {
		errs = append(errs, g.ns.close())
	}
	if g.ownDir && os.Getenv("CLAWCHAT_OCHAR_KEEP") == "" {
		if err := os.RemoveAll(g.Dir); err != nil {
			errs = append(errs, fmt.Errorf("ochar: remove run dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

// CLI runs `openclaw <args> --url ws://127.0.0.1:PORT --token TOKEN` with the Gateway's
// environment (in its namespace, over its loopback) and returns the combined output, e.g.
// CLI(ctx, "devices", "approve", requestID).
func (g *Gateway) CLI(ctx context.Context, args ...string) (string, error) {
	args = append(args, "--url", "ws://127.0.0.1:"+strconv.Itoa(g.Port), "--token", g.Token)
	cmd := g.command(ctx, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	s := strings.ReplaceAll(out.String(), g.Token, "<TOKEN>")
	if err != nil {
		return s, fmt.Errorf("ochar: openclaw %s: %w: %s", strings.Join(args[:len(args)-4], " "), err, tail(s, 2000))
	}
	return s, nil
}
