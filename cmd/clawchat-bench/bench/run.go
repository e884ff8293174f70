// Package bench measures what clawchat costs between an OpenClaw Gateway and browsers, side by
// side with a direct connection (the physical limit), on one machine over loopback.
//
// Run starts a fake Gateway (FakeGateway) in this process and clawchat as a separate process
// (so its RSS and CPU time, read from /proc, are its own), signs clients in, and measures:
// Gateway→browser latency (p50/p99/p99.9) through clawchat and direct, RSS idle and per idle
// connection, RSS with concurrent streaming runs, the highest delta delivery rate with p99 under
// 50 ms, start-up time to /healthz and /readyz, and CPU seconds per million delivered deltas.
// The Report renders as a Markdown table and as JSON.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config sets the benchmark's sizes. Use FullConfig or QuickConfig and adjust.
type Config struct {
	Quick bool
	// Binary is a prebuilt clawchat binary; empty means build ./cmd/clawchat of ModuleRoot.
	Binary string
	// ModuleRoot is the clawchat source tree (found from the working directory when empty).
	ModuleRoot string
	// Clients browser connections in the latency and throughput phases, signed in as Users
	// users (evenly); a share SSEShare of them use SSE, the rest WebSocket.
	Clients  int
	Users    int
	SSEShare float64
	// Runs concurrent streaming runs (conversations), spread over the users.
	Runs int
	// RunLength is the number of deltas per run: then the fake Gateway sends the final event and
	// the conversation goes on with a new run (a follow-up turn), so replies stay reply-sized.
	// Every delta carries the cumulative message snapshot, as the real Gateway's do.
	RunLength int
	// LatencyRate is the Gateway delta events per second of the latency phase, for
	// LatencyDuration.
	LatencyRate     float64
	LatencyDuration time.Duration
	// LatencyRounds splits LatencyDuration into rounds that alternate between the direct and
	// the clawchat path, so both see the same background load.
	LatencyRounds int
	// Throughput tries these delivery rates (deltas delivered per second across all clients),
	// in order, for StepDuration each, until one fails.
	Throughput   []float64
	StepDuration time.Duration
	// MemConns are the idle WebSocket connection counts whose RSS is measured, ascending.
	MemConns []int
	// SSEMemConns are the idle SSE (GET /api/events) connection counts whose RSS is measured, in
	// a process of their own, ascending (none: skipped).
	SSEMemConns []int
	// StartupRuns is how many fresh starts are timed.
	StartupRuns int
	// TempDir holds the binary and data directories (os.TempDir when empty).
	TempDir string
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// FullConfig is the configuration of `make bench`.
func FullConfig() Config {
	return Config{
		Clients: 1000, Users: 10, SSEShare: 0.2, Runs: 100, RunLength: 100,
		LatencyRate: 200, LatencyDuration: 6 * time.Second, LatencyRounds: 6,
		Throughput:   []float64{25e3, 50e3, 100e3, 150e3, 200e3, 300e3, 400e3, 600e3, 800e3},
		StepDuration: 2 * time.Second,
		MemConns:     []int{1000, 5000, 10000},
		SSEMemConns:  []int{1000, 5000},
		StartupRuns:  5,
	}
}

// QuickConfig is a few-second smoke run (`make bench-quick`, TestQuickBench).
func QuickConfig() Config {
	return Config{
		Quick:   true,
		Clients: 40, Users: 4, SSEShare: 0.25, Runs: 8, RunLength: 50,
		LatencyRate: 100, LatencyDuration: 500 * time.Millisecond, LatencyRounds: 2,
		Throughput:   []float64{2e3, 8e3},
		StepDuration: 300 * time.Millisecond,
		MemConns:     []int{100, 200},
		SSEMemConns:  []int{100, 200},
		StartupRuns:  1,
	}
}

// LatencyStats are quantiles in milliseconds.
type LatencyStats struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50Ms"`
	P99     float64 `json:"p99Ms"`
	P999    float64 `json:"p999Ms"`
	Max     float64 `json:"maxMs"`
}

// Step is one throughput step.
type Step struct {
	TargetPerSec    float64 `json:"targetPerSec"`
	EventsPerSec    float64 `json:"gatewayEventsPerSec"`
	DeliveredPerSec float64 `json:"deliveredPerSec"`
	P50             float64 `json:"p50Ms"`
	P99             float64 `json:"p99Ms"`
	Dropped         int64   `json:"droppedConnections"`
	CPUSeconds      float64 `json:"cpuSeconds,omitempty"`
	CPUPerMillion   float64 `json:"cpuSecondsPerMillion,omitempty"`
	OK              bool    `json:"ok"`
}

// Side is what one path (direct or through clawchat) measured.
type Side struct {
	Latency    LatencyStats `json:"latency"`
	LatencyWS  LatencyStats `json:"latencyWebSocket"`
	LatencySSE LatencyStats `json:"latencySSE"`
	// DeliveredPerSec during the latency phase.
	DeliveredPerSec float64 `json:"latencyPhaseDeliveredPerSec"`
	// CPUPerMillion is clawchat's CPU seconds per 1M delivered deltas during the latency phase.
	CPUPerMillion float64 `json:"latencyPhaseCpuSecondsPerMillion,omitempty"`
	Steps         []Step  `json:"throughput"`
	// MaxDeliveredPerSec is the best passing step (p99 < 50 ms, no drops, ≥95% delivered).
	MaxDeliveredPerSec float64 `json:"maxDeliveredPerSec"`
}

// ConnMem is RSS with N idle connections.
type ConnMem struct {
	N       int   `json:"connections"`
	RSS     int64 `json:"rssBytes"`
	PerConn int64 `json:"bytesPerConnection"`
	// Marginal is the RSS growth per connection since the previous count.
	Marginal int64 `json:"marginalBytesPerConnection"`
}

// Memory is clawchat's resident memory.
type Memory struct {
	Idle     int64 `json:"idleRssBytes"`
	SignedIn int64 `json:"signedInRssBytes"`
	// Baseline is RSS after connections came and went: the reference for per-connection cost.
	Baseline int64     `json:"baselineRssBytes"`
	Conns    []ConnMem `json:"idleConnections"`
	// SSEBaseline and SSEConns are the same for idle SSE connections, measured in a fresh process.
	SSEBaseline int64     `json:"sseBaselineRssBytes,omitempty"`
	SSEConns    []ConnMem `json:"idleSSEConnections,omitempty"`
	Streaming   int64     `json:"streamingRssBytes"`
	// StreamingBefore is RSS of the (fresh) streaming process with its clients connected, before
	// the first delta.
	StreamingBefore int64 `json:"streamingBeforeRssBytes"`
	StreamingRuns   int   `json:"streamingRuns"`
	StreamingConn   int   `json:"streamingClients"`
}

// Startup is process start to first 200.
type Startup struct {
	Healthz []float64 `json:"healthzMs"`
	Readyz  []float64 `json:"readyzMs"`
	// Medians.
	HealthzMs float64 `json:"healthzMedianMs"`
	ReadyzMs  float64 `json:"readyzMedianMs"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpuModel"`
	MemoryMiB int64  `json:"memoryMiB"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	OS        string `json:"os"`
	FileLimit uint64 `json:"fileLimit"`
	// LoadStart and LoadEnd are /proc/loadavg's 1, 5 and 15 minute load averages at the start
	// and the end of the run: the machine may be shared.
	LoadStart string `json:"loadAverageStart"`
	LoadEnd   string `json:"loadAverageEnd"`
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Report is the outcome of Run.
type Report struct {
	Quick    bool      `json:"quick"`
	At       time.Time `json:"at"`
	Took     float64   `json:"tookSeconds"`
	Machine  Machine   `json:"machine"`
	Config   Params    `json:"config"`
	Direct   Side      `json:"direct"`
	Clawchat Side      `json:"clawchat"`
	Memory   Memory    `json:"memory"`
	// BinaryBytes is the size of the clawchat binary measured (stripped, as shipped).
	BinaryBytes int64   `json:"binaryBytes,omitempty"`
	Startup     Startup `json:"startup"`
	// ClawchatError says why the clawchat side is missing or incomplete.
	ClawchatError string `json:"clawchatError,omitempty"`
	Rows          []Row  `json:"results"`
}

// Params echoes the sizes used.
type Params struct {
	Clients      int     `json:"clients"`
	Users        int     `json:"users"`
	SSEShare     float64 `json:"sseShare"`
	Runs         int     `json:"runs"`
	RunLength    int     `json:"deltasPerRun"`
	LatencyRate  float64 `json:"latencyGatewayEventsPerSec"`
	LatencySecs  float64 `json:"latencySeconds"`
	StepSecs     float64 `json:"throughputStepSeconds"`
	MemConns     []int   `json:"memoryConnections"`
	SSEMemConns  []int   `json:"sseMemoryConnections,omitempty"`
	StartupRuns  int     `json:"startupRuns"`
	ClawchatArgs string  `json:"clawchatEnvironment"`
}

type runner struct {
	cfg    Config
	log    *slog.Logger
	gw     Gateway
	token  string
	client *http.Client
	rep    *Report
	tmp    string
}

// Run runs the benchmark. It returns a report even when the clawchat side failed (then
// Report.ClawchatError says why); the error is for failures of the benchmark itself.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Users <= 0 || cfg.Clients < cfg.Users || cfg.Runs < cfg.Users || len(cfg.MemConns) == 0 {
		return nil, errors.New("bench: need Users ≥ 1, Clients ≥ Users, Runs ≥ Users and MemConns")
	}
	lim, err := RaiseFileLimit()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(cfg.TempDir, "clawchat-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	token := hex.EncodeToString(tok)
	// The fake Gateway runs in a child process, so that on both paths the Gateway, the server
	// (clawchat or the Gateway itself) and the clients are separate processes.
	gw, err := StartGatewayProcess(ctx, token)
	if err != nil {
		return nil, err
	}
	defer gw.Close()
	r := &runner{cfg: cfg, log: cfg.Log, gw: gw, token: token, client: newHTTPClient(), tmp: tmp,
		rep: &Report{Quick: cfg.Quick, At: start.UTC(), Machine: machine(lim)}}
	defer r.client.CloseIdleConnections()
	r.rep.Config = Params{Clients: cfg.Clients, Users: cfg.Users, SSEShare: cfg.SSEShare, Runs: cfg.Runs, RunLength: cfg.RunLength,
		LatencyRate: cfg.LatencyRate, LatencySecs: cfg.LatencyDuration.Seconds(), StepSecs: cfg.StepDuration.Seconds(),
		MemConns: cfg.MemConns, SSEMemConns: cfg.SSEMemConns, StartupRuns: cfg.StartupRuns, ClawchatArgs: strings.Join(r.env(tmp, cfg.Users, true), " ")}

	if err := r.run(ctx); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	r.rep.Took = time.Since(start).Seconds()
	r.rep.Machine.LoadEnd = loadAvg()
	r.rep.Rows = rows(r.rep)
	return r.rep, nil
}

func (r *runner) env(dataDir string, users int, redacted bool) []string {
	var lu []string
	for i := range users {
		lu = append(lu, userName(i)+":"+password(i))
	}
	tok, lus := r.token, strings.Join(lu, ",")
	if redacted {
		tok, dataDir, lus = "<random>", "<tmp>", fmt.Sprintf("bench0:…,…(%d users)", users)
	}
	return []string{
		"OPENCLAW_GATEWAY_URL=" + r.gw.URL(),
		"OPENCLAW_GATEWAY_TOKEN=" + tok,
		"CLAWCHAT_DATA_DIR=" + dataDir,
		"CLAWCHAT_LOCAL_USERS=" + lus,
		"CLAWCHAT_COOKIE_SECURE=false",
		"CLAWCHAT_MAX_CONNECTIONS_PER_USER=0",
		"CLAWCHAT_LOG_LEVEL=warn",
		"CLAWCHAT_API_REQUESTS_PER_MINUTE=1000000",
		"CLAWCHAT_SENDS_PER_MINUTE=1000000",
		"CLAWCHAT_MAX_CONCURRENT_RUNS=1000",
	}
}

func userName(i int) string { return "bench" + strconv.Itoa(i) }
func password(i int) string { return "bench-password-" + strconv.Itoa(i) }

// sseClient reports whether client i (of user i % Users) uses SSE: every 1/SSEShare-th client of
// each user does.
func (r *runner) sseClient(i int) bool {
	if r.cfg.SSEShare <= 0 {
		return false
	}
	every := int(1/r.cfg.SSEShare + 0.5)
	return every > 0 && (i/r.cfg.Users)%every == every-1
}

// path is one way from the Gateway to the clients: direct or through clawchat.
type path struct {
	name  string
	fleet *Fleet
	spec  StreamSpec
	sinks []*Sink // ws, then sse (clawchat only)
	pid   int     // the server process whose CPU is measured (0: none)
	side  *Side
	// latency accumulated over the interleaved rounds
	ws, sse   Histogram
	delivered int64
	secs      float64
	cpu       time.Duration
	// throughput
	failed bool
}

// run runs the phases. The clawchat side failing is not an error of the run: the direct side is
// still measured and Report.ClawchatError says why.
func (r *runner) run(ctx context.Context) error {
	direct, err := r.directPath(ctx)
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	defer direct.fleet.Close()
	paths := []*path{direct}
	claw, stop, err := r.clawchatPath(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.rep.ClawchatError = err.Error()
		r.log.Warn("clawchat side failed", "err", err)
	} else {
		defer stop()
		defer claw.fleet.Close()
		paths = append(paths, claw)
	}
	if err := r.latency(ctx, paths); err != nil {
		if len(paths) < 2 || ctx.Err() != nil {
			return err
		}
		r.rep.ClawchatError = "latency: " + err.Error()
		return nil
	}
	if err := r.throughput(ctx, paths); err != nil {
		if len(paths) < 2 || ctx.Err() != nil {
			return err
		}
		r.rep.ClawchatError = "throughput: " + err.Error()
	}
	return nil
}

// directPath connects the clients straight to the fake Gateway's /direct endpoint.
func (r *runner) directPath(ctx context.Context) (*path, error) {
	r.log.Info("direct: connecting", "clients", r.cfg.Clients)
	p := &path{name: "direct", fleet: NewFleet(ctx), side: &r.rep.Direct,
		spec: StreamSpec{Direct: true, Groups: r.cfg.Users, RunLength: r.cfg.RunLength, Snapshots: true}}
	sink := &Sink{}
	p.sinks = []*Sink{sink}
	err := dialMany(ctx, r.cfg.Clients, 64, func(ctx context.Context, i int) error {
		return p.fleet.DialDirect(ctx, r.gw.URL(), r.client, i%r.cfg.Users, sink)
	})
	if err == nil {
		n := 0
		if err = waitFor(ctx, 10*time.Second, func() bool { n, _ = r.gw.DirectClients(ctx); return n == r.cfg.Clients }); err != nil {
			err = fmt.Errorf("direct clients registered: %d of %d: %w", n, r.cfg.Clients, err)
		}
	}
	if err != nil {
		p.fleet.Close()
		return nil, err
	}
	return p, nil
}

// clawchatPath builds (or takes) clawchat, times its start-up, starts it, measures its memory
// idle and with idle connections, creates the runs and connects the streaming clients. stop ends
// the process.
func (r *runner) clawchatPath(ctx context.Context) (p *path, stop func(), err error) {
	bin := r.cfg.Binary
	if bin == "" {
		root := r.cfg.ModuleRoot
		if root == "" {
			wd, _ := os.Getwd()
			if root, err = FindModuleRoot(wd); err != nil {
				return nil, nil, err
			}
		}
		r.log.Info("building clawchat")
		if bin, err = BuildClawchat(ctx, root, r.tmp); err != nil {
			return nil, nil, err
		}
	}
	if fi, err := os.Stat(bin); err == nil {
		r.rep.BinaryBytes = fi.Size()
	}
	if err := r.startup(ctx, bin); err != nil {
		return nil, nil, fmt.Errorf("start-up: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, nil, err
	}
	srv, err := StartServer(bin, port, r.env(filepath.Join(r.tmp, "data"), r.cfg.Users, false))
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			srv.Stop(10 * time.Second) // srv is the current process
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	_, err = srv.WaitStatus(wctx, r.client, "/readyz")
	cancel()
	if err != nil {
		return nil, nil, err
	}
	pid := srv.PID()
	t := Target{Base: srv.Base, Client: r.client}
	mem := &r.rep.Memory
	// Idle means settled: clawchat lets go of the pages only start-up needed 5 s after start
	// (internal/app/pages_linux.go); miso-chat's baseline was also read 10 s after ready.
	if err := sleepCtx(ctx, idleAfterReady); err != nil {
		return nil, nil, err
	}
	if mem.Idle, err = settledRSS(ctx, pid); err != nil {
		return nil, nil, err
	}
	r.log.Info("clawchat: idle", "rss_mib", mib(mem.Idle))
	cookies := make([]string, r.cfg.Users)
	for i := range r.cfg.Users {
		if cookies[i], err = t.Login(ctx, userName(i), password(i)); err != nil {
			return nil, nil, err
		}
	}
	if mem.SignedIn, err = settledRSS(ctx, pid); err != nil {
		return nil, nil, err
	}
	// Churn: open and close connections, so that the garbage of start-up (argon2id buffers) is
	// collected and returned before the per-connection baseline is taken.
	churn := NewFleet(ctx)
	err = dialMany(ctx, r.cfg.MemConns[0], 64, func(ctx context.Context, i int) error {
		return churn.DialWS(ctx, t, cookies[i%r.cfg.Users], &Sink{})
	})
	churn.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("churn connections: %w", err)
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return nil, nil, err
	}
	if mem.Baseline, err = settledRSS(ctx, pid); err != nil {
		return nil, nil, err
	}
	r.log.Info("clawchat: baseline", "signed_in_mib", mib(mem.SignedIn), "after_churn_mib", mib(mem.Baseline))
	dialWS := func(f *Fleet) func(ctx context.Context, cookie string) error {
		return func(ctx context.Context, cookie string) error { return f.DialWS(ctx, t, cookie, &Sink{}) }
	}
	if mem.Conns, err = r.idleConnections(ctx, "WebSocket", pid, mem.Baseline, r.cfg.MemConns, cookies, dialWS); err != nil {
		return nil, nil, err
	}
	if len(r.cfg.SSEMemConns) > 0 {
		// Idle SSE streams in a process of their own, measured the same way.
		srv.Stop(10 * time.Second)
		next, nt, npid, err := r.freshServer(ctx, bin, "data-sse", cookies)
		if err != nil {
			ok = true // nothing left to stop
			return nil, nil, err
		}
		srv, t, pid = next, nt, npid
		churn := NewFleet(ctx)
		err = dialMany(ctx, r.cfg.SSEMemConns[0], 64, func(ctx context.Context, i int) error {
			return churn.DialSSE(ctx, t, cookies[i%r.cfg.Users], &Sink{})
		})
		churn.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("churn SSE connections: %w", err)
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return nil, nil, err
		}
		if mem.SSEBaseline, err = settledRSS(ctx, pid); err != nil {
			return nil, nil, err
		}
		dialSSE := func(f *Fleet) func(ctx context.Context, cookie string) error {
			return func(ctx context.Context, cookie string) error { return f.DialSSE(ctx, t, cookie, &Sink{}) }
		}
		if mem.SSEConns, err = r.idleConnections(ctx, "SSE", pid, mem.SSEBaseline, r.cfg.SSEMemConns, cookies, dialSSE); err != nil {
			return nil, nil, err
		}
	}

	// A fresh process for the streaming phases, so that their memory is not mixed up with the
	// heap the idle connections left behind.
	srv.Stop(10 * time.Second)
	if port, err = FreePort(); err != nil {
		return nil, nil, err
	}
	if srv, err = StartServer(bin, port, r.env(filepath.Join(r.tmp, "data2"), r.cfg.Users, false)); err != nil {
		return nil, nil, err
	}
	wctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	_, err = srv.WaitStatus(wctx, r.client, "/readyz")
	cancel()
	if err != nil {
		return nil, nil, err
	}
	pid = srv.PID()
	t = Target{Base: srv.Base, Client: r.client}
	for i := range r.cfg.Users {
		if cookies[i], err = t.Login(ctx, userName(i), password(i)); err != nil {
			return nil, nil, err
		}
	}

	// Runs: every user sends into Runs/Users conversations; the fake Gateway records them.
	prior, err := r.gw.Runs(ctx)
	if err != nil {
		return nil, nil, err
	}
	for k := range r.cfg.Runs {
		conv := "bench-" + strconv.Itoa(k/r.cfg.Users)
		if _, err := t.Send(ctx, cookies[k%r.cfg.Users], conv, "m-"+strconv.Itoa(k), "benchmark "+strconv.Itoa(k)); err != nil {
			return nil, nil, err
		}
	}
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	runs, err := r.gw.WaitRuns(wctx, len(prior)+r.cfg.Runs)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	runs = runs[len(prior):]

	p = &path{name: "clawchat", fleet: NewFleet(ctx), pid: pid, side: &r.rep.Clawchat,
		spec: StreamSpec{Runs: runs, RunLength: r.cfg.RunLength, Snapshots: true}}
	ws, sse := &Sink{}, &Sink{}
	p.sinks = []*Sink{ws, sse}
	err = dialMany(ctx, r.cfg.Clients, 64, func(ctx context.Context, i int) error {
		c := cookies[i%r.cfg.Users]
		if r.sseClient(i) {
			return p.fleet.DialSSE(ctx, t, c, sse)
		}
		return p.fleet.DialWS(ctx, t, c, ws)
	})
	if err == nil {
		// An SSE subscription registers while the response headers are written: give the
		// last ones a moment.
		err = sleepCtx(ctx, 200*time.Millisecond)
	}
	if err != nil {
		p.fleet.Close()
		return nil, nil, fmt.Errorf("streaming clients: %w", err)
	}
	mem.StreamingRuns, mem.StreamingConn = len(runs), r.cfg.Clients
	if mem.StreamingBefore, err = settledRSS(ctx, pid); err != nil {
		p.fleet.Close()
		return nil, nil, err
	}
	ok = true
	return p, func() { srv.Stop(10 * time.Second) }, nil
}

// idleConnections measures RSS with each of counts idle connections of one kind, opened by the
// function dial returns for a fleet, against baseline.
func (r *runner) idleConnections(ctx context.Context, kind string, pid int, baseline int64, counts []int, cookies []string,
	dial func(*Fleet) func(ctx context.Context, cookie string) error) ([]ConnMem, error) {
	idle := NewFleet(ctx)
	defer idle.Close()
	open := dial(idle)
	var out []ConnMem
	prev := ConnMem{RSS: baseline}
	for _, n := range counts {
		have := idle.Len()
		err := dialMany(ctx, n-have, 64, func(ctx context.Context, i int) error {
			return open(ctx, cookies[(have+i)%r.cfg.Users])
		})
		if err != nil {
			return out, fmt.Errorf("%d idle %s connections: %w", n, kind, err)
		}
		rss, err := settledRSS(ctx, pid)
		if err != nil {
			return out, err
		}
		cm := ConnMem{N: n, RSS: rss, PerConn: (rss - baseline) / int64(n), Marginal: (rss - prev.RSS) / int64(n-prev.N)}
		out = append(out, cm)
		prev = cm
		r.log.Info("clawchat: idle connections", "kind", kind, "n", n, "rss_mib", mib(rss), "per_conn", cm.PerConn, "marginal", cm.Marginal)
	}
	return out, nil
}

// freshServer starts clawchat with a new data directory, waits for /readyz and signs every
// bench user in (cookies is filled in).
func (r *runner) freshServer(ctx context.Context, bin, dataDir string, cookies []string) (*Server, Target, int, error) {
	port, err := FreePort()
	if err != nil {
		return nil, Target{}, 0, err
	}
	srv, err := StartServer(bin, port, r.env(filepath.Join(r.tmp, dataDir), r.cfg.Users, false))
	if err != nil {
		return nil, Target{}, 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	_, err = srv.WaitStatus(wctx, r.client, "/readyz")
	cancel()
	t := Target{Base: srv.Base, Client: r.client}
	for i := 0; err == nil && i < r.cfg.Users; i++ {
		cookies[i], err = t.Login(ctx, userName(i), password(i))
	}
	if err != nil {
		srv.Stop(10 * time.Second)
		return nil, Target{}, 0, err
	}
	return srv, t, srv.PID(), nil
}

// latency measures every path in interleaved rounds (direct, clawchat, direct, …) so that both
// see the same background load on a shared machine.
func (r *runner) latency(ctx context.Context, paths []*path) error {
	rounds := max(r.cfg.LatencyRounds, 1)
	d := r.cfg.LatencyDuration / time.Duration(rounds)
	var peak peakRSS
	if len(paths) > 1 {
		peak.start(paths[1].pid)
	}
	defer func() {
		if len(paths) > 1 {
			r.rep.Memory.Streaming = peak.stop()
		}
	}()
	for round := range rounds {
		for _, p := range paths {
			m, err := r.measure(ctx, p, r.cfg.LatencyRate, d, round == 0)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if m.dropped > 0 {
				return fmt.Errorf("%s: %d connections dropped at %s deliveries", p.name, m.dropped, fmtRate(m.deliveredPerSec))
			}
			p.ws.merge(&p.sinks[0].Hist)
			if len(p.sinks) > 1 {
				p.sse.merge(&p.sinks[1].Hist)
			}
			p.delivered += m.delivered
			p.secs += m.secs
			p.cpu += m.cpu
		}
	}
	for _, p := range paths {
		var all Histogram
		all.merge(&p.ws)
		all.merge(&p.sse)
		p.side.Latency, p.side.LatencyWS, p.side.LatencySSE = stats(&all), stats(&p.ws), stats(&p.sse)
		p.side.DeliveredPerSec = float64(p.delivered) / p.secs
		if p.pid > 0 && p.delivered > 0 {
			p.side.CPUPerMillion = p.cpu.Seconds() / float64(p.delivered) * 1e6
		}
		r.log.Info(p.name+": latency", "p50", p.side.Latency.P50, "p99", p.side.Latency.P99, "p999", p.side.Latency.P999)
	}
	return nil
}

// throughput steps every path through the configured delivery rates, interleaved, until each
// has failed a step.
func (r *runner) throughput(ctx context.Context, paths []*path) error {
	fan := float64(r.cfg.Clients) / float64(r.cfg.Users) // deliveries per Gateway event
	for _, target := range r.cfg.Throughput {
		live := 0
		for _, p := range paths {
			if p.failed {
				continue
			}
			live++
			m, err := r.measure(ctx, p, target/fan, r.cfg.StepDuration, true)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			s := Step{TargetPerSec: target, EventsPerSec: m.eventsPerSec, DeliveredPerSec: m.deliveredPerSec,
				P50: m.lat.P50, P99: m.lat.P99, Dropped: m.dropped, CPUSeconds: m.cpu.Seconds(), CPUPerMillion: m.cpuPerMillion}
			s.OK = s.P99 < 50 && s.Dropped == 0 && s.DeliveredPerSec >= 0.95*target
			p.side.Steps = append(p.side.Steps, s)
			r.log.Info(p.name+": throughput step", "target", target, "delivered", int(s.DeliveredPerSec), "p99", s.P99, "dropped", s.Dropped, "ok", s.OK)
			if !s.OK {
				p.failed = true
				continue
			}
			p.side.MaxDeliveredPerSec = max(p.side.MaxDeliveredPerSec, s.DeliveredPerSec)
		}
		if live == 0 {
			break
		}
	}
	return nil
}

func (r *runner) startup(ctx context.Context, bin string) error {
	st := &r.rep.Startup
	for i := range r.cfg.StartupRuns {
		port, err := FreePort()
		if err != nil {
			return err
		}
		dir := filepath.Join(r.tmp, "startup-"+strconv.Itoa(i))
		srv, err := StartServer(bin, port, r.env(dir, 1, false))
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		h, err := srv.WaitStatus(wctx, r.client, "/healthz")
		var rd time.Duration
		if err == nil {
			rd, err = srv.WaitStatus(wctx, r.client, "/readyz")
		}
		cancel()
		srv.Stop(10 * time.Second)
		if err != nil {
			return err
		}
		st.Healthz = append(st.Healthz, ms(h))
		st.Readyz = append(st.Readyz, ms(rd))
	}
	st.HealthzMs, st.ReadyzMs = median(st.Healthz), median(st.Readyz)
	r.log.Info("clawchat: start-up", "healthz_ms", st.HealthzMs, "readyz_ms", st.ReadyzMs)
	return nil
}

type measurement struct {
	lat             LatencyStats
	deliveredPerSec float64
	eventsPerSec    float64
	secs            float64
	dropped         int64
	cpu             time.Duration
	cpuPerMillion   float64
	delivered       int64
}

// measure streams on p at rate Gateway events/s for d (after a short warm-up when warm is set)
// and returns what p's sinks saw; the sinks' histograms hold the samples afterwards. A path with
// a pid also gets that process's CPU time.
func (r *runner) measure(ctx context.Context, p *path, rate float64, d time.Duration, warm bool) (measurement, error) {
	var m measurement
	spec := p.spec
	spec.Rate = rate
	if warm {
		spec.Duration = min(d/5, 300*time.Millisecond)
		if _, err := r.gw.Stream(ctx, spec); err != nil {
			return m, err
		}
		if err := drain(ctx, p.sinks); err != nil {
			return m, err
		}
	}
	for _, s := range p.sinks {
		s.Hist.Reset()
		s.Delivered.Store(0)
		s.Dropped.Store(0)
	}
	var cpu0 ProcStat
	if p.pid > 0 {
		var err error
		if cpu0, err = ReadProcStat(p.pid); err != nil {
			return m, err
		}
	}
	p.fleet.counting.Store(true)
	spec.Duration = d
	st, err := r.gw.Stream(ctx, spec)
	if err == nil {
		err = drain(ctx, p.sinks)
	}
	p.fleet.counting.Store(false)
	if err != nil {
		return m, err
	}
	var all Histogram
	for _, s := range p.sinks {
		all.merge(&s.Hist)
		m.delivered += s.Delivered.Load()
		m.dropped += s.Dropped.Load()
	}
	m.lat = stats(&all)
	m.secs = st.Elapsed.Seconds()
	m.deliveredPerSec = float64(m.delivered) / m.secs
	m.eventsPerSec = float64(st.Events) / m.secs
	if p.pid > 0 {
		cpu1, err := ReadProcStat(p.pid)
		if err != nil {
			return m, err
		}
		m.cpu = cpu1.CPU - cpu0.CPU
		if m.delivered > 0 {
			m.cpuPerMillion = m.cpu.Seconds() / float64(m.delivered) * 1e6
		}
	}
	return m, nil
}

// drain waits until the sinks stop receiving (no new delivery for 150 ms), at most 10 s.
func drain(ctx context.Context, sinks []*Sink) error {
	total := func() int64 {
		var n int64
		for _, s := range sinks {
			n += s.Delivered.Load()
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	last, quiet := total(), 0
	for time.Now().Before(deadline) {
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
		n := total()
		if n == last {
			quiet++
			if quiet >= 3 {
				return nil
			}
		} else {
			last, quiet = n, 0
		}
	}
	return nil
}

func (h *Histogram) merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

func stats(h *Histogram) LatencyStats {
	return LatencyStats{Samples: h.Count(), P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
}

// idleAfterReady is how long after /readyz the idle RSS is read.
const idleAfterReady = 10 * time.Second

// settledRSS samples pid's RSS every 250 ms until two consecutive samples differ by under 1%
// (at most 5 s) and returns the last.
func settledRSS(ctx context.Context, pid int) (int64, error) {
	st, err := ReadProcStat(pid)
	if err != nil {
		return 0, err
	}
	prev := st.RSS
	for range 20 {
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return 0, err
		}
		st, err := ReadProcStat(pid)
		if err != nil {
			return 0, err
		}
		d := st.RSS - prev
		prev = st.RSS
		if d < 0 {
			d = -d
		}
		if d*100 < st.RSS {
			return st.RSS, nil
		}
	}
	return prev, nil
}

// peakRSS samples a process's RSS every 50 ms in the background.
type peakRSS struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	max   int64
}

func (p *peakRSS) start(pid int) {
	p.stopc = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if st, err := ReadProcStat(pid); err == nil {
				p.max = max(p.max, st.RSS)
			}
			select {
			case <-p.stopc:
				return
			case <-t.C:
			}
		}
	}()
}

func (p *peakRSS) stop() int64 {
	close(p.stopc)
	p.wg.Wait()
	return p.max
}

func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for !cond() {
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func mib(b int64) float64        { return float64(b) / (1 << 20) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func machine(fileLimit uint64) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, FileLimit: fileLimit, LoadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemoryMiB = kb >> 10
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
