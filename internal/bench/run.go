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
	// Throughput tries these delivery rates (deltas delivered per second across all clients),
	// in order, for StepDuration each, until one fails.
	Throughput   []float64
	StepDuration time.Duration
	// MemConns are the idle connection counts whose RSS is measured, ascending.
	MemConns []int
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
		LatencyRate: 200, LatencyDuration: 5 * time.Second,
		Throughput:   []float64{25e3, 50e3, 100e3, 150e3, 200e3, 300e3, 400e3, 600e3, 800e3},
		StepDuration: 2 * time.Second,
		MemConns:     []int{1000, 5000, 10000},
		StartupRuns:  5,
	}
}

// QuickConfig is a few-second smoke run (`make bench-quick`, TestQuickBench).
func QuickConfig() Config {
	return Config{
		Quick:   true,
		Clients: 40, Users: 4, SSEShare: 0.25, Runs: 8, RunLength: 50,
		LatencyRate: 100, LatencyDuration: 500 * time.Millisecond,
		Throughput:   []float64{2e3, 8e3},
		StepDuration: 300 * time.Millisecond,
		MemConns:     []int{100, 200},
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
}

// Memory is clawchat's resident memory.
type Memory struct {
	Idle          int64     `json:"idleRssBytes"`
	SignedIn      int64     `json:"signedInRssBytes"`
	Conns         []ConnMem `json:"idleConnections"`
	Streaming     int64     `json:"streamingRssBytes"`
	StreamingRuns int       `json:"streamingRuns"`
	StreamingConn int       `json:"streamingClients"`
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
	Startup  Startup   `json:"startup"`
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
	if cfg.Users <= 0 || cfg.Clients < cfg.Users || cfg.Runs < cfg.Users {
		return nil, errors.New("bench: need Users ≥ 1, Clients ≥ Users and Runs ≥ Users")
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
		MemConns: cfg.MemConns, StartupRuns: cfg.StartupRuns, ClawchatArgs: strings.Join(r.env(tmp, cfg.Users, true), " ")}

	if err := r.direct(ctx); err != nil {
		return nil, fmt.Errorf("bench: direct: %w", err)
	}
	if err := r.clawchat(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("bench: %w", ctx.Err())
		}
		r.rep.ClawchatError = err.Error()
		r.log.Warn("clawchat side failed", "err", err)
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

// groupOf spreads clients over users: client i belongs to user i % users.
func (r *runner) sseClient(i int) bool {
	if r.cfg.SSEShare <= 0 {
		return false
	}
	every := int(1/r.cfg.SSEShare + 0.5)
	return every > 0 && (i/r.cfg.Users)%every == every-1
}

// direct measures the baseline: the same clients reading the fake Gateway directly.
func (r *runner) direct(ctx context.Context) error {
	r.log.Info("direct: connecting", "clients", r.cfg.Clients)
	fleet := NewFleet(ctx)
	defer fleet.Close()
	sink := &Sink{}
	err := dialMany(ctx, r.cfg.Clients, 64, func(ctx context.Context, i int) error {
		return fleet.DialDirect(ctx, r.gw.URL(), r.client, i%r.cfg.Users, sink)
	})
	if err != nil {
		return err
	}
	n := 0
	if err := waitFor(ctx, 10*time.Second, func() bool { n, _ = r.gw.DirectClients(ctx); return n == r.cfg.Clients }); err != nil {
		return fmt.Errorf("direct clients registered: %d of %d: %w", n, r.cfg.Clients, err)
	}
	spec := StreamSpec{Direct: true, Groups: r.cfg.Users, RunLength: r.cfg.RunLength, Snapshots: true}
	side := &r.rep.Direct
	m, err := r.measure(ctx, fleet, spec, r.cfg.LatencyRate, r.cfg.LatencyDuration, []*Sink{sink}, 0)
	if err != nil {
		return err
	}
	side.Latency, side.LatencyWS, side.DeliveredPerSec = m.lat, m.lat, m.deliveredPerSec
	r.log.Info("direct: latency", "p50", side.Latency.P50, "p99", side.Latency.P99, "p999", side.Latency.P999)
	return r.throughput(ctx, fleet, spec, []*Sink{sink}, 0, side)
}

// clawchat measures the clawchat side.
func (r *runner) clawchat(ctx context.Context) error {
	bin := r.cfg.Binary
	if bin == "" {
		root := r.cfg.ModuleRoot
		if root == "" {
			wd, _ := os.Getwd()
			var err error
			if root, err = FindModuleRoot(wd); err != nil {
				return err
			}
		}
		r.log.Info("building clawchat")
		var err error
		if bin, err = BuildClawchat(ctx, root, r.tmp); err != nil {
			return err
		}
	}
	if err := r.startup(ctx, bin); err != nil {
		return fmt.Errorf("start-up: %w", err)
	}

	port, err := FreePort()
	if err != nil {
		return err
	}
	dataDir := filepath.Join(r.tmp, "data")
	srv, err := StartServer(bin, port, r.env(dataDir, r.cfg.Users, false))
	if err != nil {
		return err
	}
	defer srv.Stop(10 * time.Second)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	_, err = srv.WaitStatus(wctx, r.client, "/readyz")
	cancel()
	if err != nil {
		return err
	}
	pid := srv.PID()
	t := Target{Base: srv.Base, Client: r.client}
	mem := &r.rep.Memory
	if mem.Idle, err = settledRSS(ctx, pid); err != nil {
		return err
	}
	r.log.Info("clawchat: idle", "rss_mib", mib(mem.Idle))

	cookies := make([]string, r.cfg.Users)
	for i := range r.cfg.Users {
		if cookies[i], err = t.Login(ctx, userName(i), password(i)); err != nil {
			return err
		}
	}
	if mem.SignedIn, err = settledRSS(ctx, pid); err != nil {
		return err
	}

	// Idle connections.
	idle := NewFleet(ctx)
	discard := &Sink{}
	for _, n := range r.cfg.MemConns {
		have := idle.Len()
		err := dialMany(ctx, n-have, 64, func(ctx context.Context, i int) error {
			return idle.DialWS(ctx, t, cookies[(have+i)%r.cfg.Users], discard)
		})
		if err != nil {
			idle.Close()
			return fmt.Errorf("%d idle connections: %w", n, err)
		}
		rss, err := settledRSS(ctx, pid)
		if err != nil {
			idle.Close()
			return err
		}
		cm := ConnMem{N: n, RSS: rss, PerConn: (rss - mem.SignedIn) / int64(n)}
		mem.Conns = append(mem.Conns, cm)
		r.log.Info("clawchat: idle connections", "n", n, "rss_mib", mib(rss), "per_conn", cm.PerConn)
	}
	idle.Close()

	// Runs: every user sends into Runs/Users conversations; the fake Gateway records them.
	prior, err := r.gw.Runs(ctx)
	if err != nil {
		return err
	}
	before := len(prior)
	for k := range r.cfg.Runs {
		u := k % r.cfg.Users
		conv := "bench-" + strconv.Itoa(k/r.cfg.Users)
		if _, err := t.Send(ctx, cookies[u], conv, "m-"+strconv.Itoa(k), "benchmark "+strconv.Itoa(k)); err != nil {
			return err
		}
	}
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	runs, err := r.gw.WaitRuns(wctx, before+r.cfg.Runs)
	cancel()
	if err != nil {
		return err
	}
	runs = runs[before:]

	// Streaming clients.
	fleet := NewFleet(ctx)
	defer fleet.Close()
	ws, sse := &Sink{}, &Sink{}
	err = dialMany(ctx, r.cfg.Clients, 64, func(ctx context.Context, i int) error {
		c := cookies[i%r.cfg.Users]
		if r.sseClient(i) {
			return fleet.DialSSE(ctx, t, c, sse)
		}
		return fleet.DialWS(ctx, t, c, ws)
	})
	if err != nil {
		return fmt.Errorf("streaming clients: %w", err)
	}
	// SSE subscriptions register asynchronously to the response headers: give them a moment.
	if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
		return err
	}
	spec := StreamSpec{Runs: runs, RunLength: r.cfg.RunLength, Snapshots: true}
	side := &r.rep.Clawchat
	var peak peakRSS
	peak.start(pid)
	m, err := r.measure(ctx, fleet, spec, r.cfg.LatencyRate, r.cfg.LatencyDuration, []*Sink{ws, sse}, pid)
	mem.Streaming, mem.StreamingRuns, mem.StreamingConn = peak.stop(), len(runs), r.cfg.Clients
	if err != nil {
		return err
	}
	side.Latency, side.LatencyWS, side.LatencySSE = m.lat, stats(&ws.Hist), stats(&sse.Hist)
	side.DeliveredPerSec, side.CPUPerMillion = m.deliveredPerSec, m.cpuPerMillion
	r.log.Info("clawchat: latency", "p50", side.Latency.P50, "p99", side.Latency.P99, "p999", side.Latency.P999, "drops", m.dropped)
	if m.dropped > 0 {
		return fmt.Errorf("latency phase: %d connections dropped", m.dropped)
	}
	return r.throughput(ctx, fleet, spec, []*Sink{ws, sse}, pid, side)
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
	dropped         int64
	cpu             time.Duration
	cpuPerMillion   float64
	delivered       int64
}

// measure streams at rate Gateway events/s for d after a short warm-up and returns what the
// sinks saw. pid > 0 also measures that process's CPU time.
func (r *runner) measure(ctx context.Context, fleet *Fleet, spec StreamSpec, rate float64, d time.Duration, sinks []*Sink, pid int) (measurement, error) {
	var m measurement
	spec.Rate = rate
	spec.Duration = min(d/5, 300*time.Millisecond)
	if _, err := r.gw.Stream(ctx, spec); err != nil {
		return m, err
	}
	if err := drain(ctx, sinks); err != nil {
		return m, err
	}
	for _, s := range sinks {
		s.Hist.Reset()
		s.Delivered.Store(0)
		s.Dropped.Store(0)
	}
	var cpu0 ProcStat
	if pid > 0 {
		var err error
		if cpu0, err = ReadProcStat(pid); err != nil {
			return m, err
		}
	}
	fleet.counting.Store(true)
	spec.Duration = d
	st, err := r.gw.Stream(ctx, spec)
	if err != nil {
		fleet.counting.Store(false)
		return m, err
	}
	err = drain(ctx, sinks)
	fleet.counting.Store(false)
	if err != nil {
		return m, err
	}
	var all Histogram
	for _, s := range sinks {
		all.merge(&s.Hist)
		m.delivered += s.Delivered.Load()
		m.dropped += s.Dropped.Load()
	}
	m.lat = stats(&all)
	secs := st.Elapsed.Seconds()
	m.deliveredPerSec = float64(m.delivered) / secs
	m.eventsPerSec = float64(st.Events) / secs
	if pid > 0 {
		cpu1, err := ReadProcStat(pid)
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

// throughput steps through the configured delivery rates until one fails.
func (r *runner) throughput(ctx context.Context, fleet *Fleet, spec StreamSpec, sinks []*Sink, pid int, side *Side) error {
	fan := float64(r.cfg.Clients) / float64(r.cfg.Users) // deliveries per Gateway event
	for _, target := range r.cfg.Throughput {
		rate := target / fan
		m, err := r.measure(ctx, fleet, spec, rate, r.cfg.StepDuration, sinks, pid)
		if err != nil {
			return err
		}
		s := Step{TargetPerSec: target, EventsPerSec: m.eventsPerSec, DeliveredPerSec: m.deliveredPerSec,
			P50: m.lat.P50, P99: m.lat.P99, Dropped: m.dropped, CPUSeconds: m.cpu.Seconds(), CPUPerMillion: m.cpuPerMillion}
		s.OK = s.P99 < 50 && s.Dropped == 0 && s.DeliveredPerSec >= 0.95*target
		side.Steps = append(side.Steps, s)
		r.log.Info("throughput step", "pid", pid, "target", target, "delivered", int(s.DeliveredPerSec), "p99", s.P99, "dropped", s.Dropped, "ok", s.OK)
		if !s.OK {
			break
		}
		side.MaxDeliveredPerSec = max(side.MaxDeliveredPerSec, s.DeliveredPerSec)
	}
	return nil
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
