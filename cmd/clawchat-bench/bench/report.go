package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Row is one line of the results table. Result is "pass", "fail" or "" (no target).
type Row struct {
	Metric   string `json:"metric"`
	Target   string `json:"target,omitempty"`
	Clawchat string `json:"clawchat"`
	Direct   string `json:"direct,omitempty"`
	Ratio    string `json:"ratio,omitempty"`
	Result   string `json:"result,omitempty"`
}

// Targets of the issue (2-core machine).
const (
	targetAddedP99Ms    = 1.0
	targetPerConnBytes  = 8 << 10
	target10kRSS        = 128 << 20
	targetDeliveries    = 200e3
	targetIdleRSS       = 16 << 20
	targetBinaryBytes   = 20_000_000
	targetHealthzMs     = 50.0
	targetLatencyBudget = 50.0 // p99 bound of the throughput search
)

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}

func ratio(a, b float64) string {
	if b <= 0 || a <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func fmtMs(v float64) string { return fmt.Sprintf("%.3f ms", v) }
func fmtMiB(b int64) string  { return fmt.Sprintf("%.1f MiB", mib(b)) }
func fmtKiB(b int64) string  { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }
func fmtRate(v float64) string {
	if v >= 1e3 {
		return fmt.Sprintf("%.0fk/s", v/1e3)
	}
	return fmt.Sprintf("%.0f/s", v)
}

// rows builds the results table from a report.
func rows(r *Report) []Row {
	var out []Row
	na := "n/a"
	c, d := r.Clawchat, r.Direct
	clients := fmt.Sprintf("%d clients (%d users, %.0f%% SSE), %d runs, %s Gateway deltas",
		r.Config.Clients, r.Config.Users, r.Config.SSEShare*100, r.Config.Runs, fmtRate(r.Config.LatencyRate))
	for _, q := range []struct {
		name string
		c, d float64
	}{{"p50", c.Latency.P50, d.Latency.P50}, {"p99", c.Latency.P99, d.Latency.P99}, {"p99.9", c.Latency.P999, d.Latency.P999}} {
		row := Row{Metric: "Gateway→browser latency " + q.name + ", " + clients, Clawchat: na, Direct: fmtMs(q.d)}
		if c.Latency.Samples > 0 {
			row.Clawchat, row.Ratio = fmtMs(q.c), ratio(q.c, q.d)
		}
		out = append(out, row)
	}
	added := Row{Metric: "p99 latency added over direct", Target: "≤ 1 ms", Clawchat: na}
	if c.Latency.Samples > 0 {
		v := c.Latency.P99 - d.Latency.P99
		added.Clawchat, added.Result = fmtMs(v), passFail(v <= targetAddedP99Ms)
	}
	out = append(out, added)
	if c.LatencySSE.Samples > 0 {
		out = append(out, Row{Metric: "  of which WebSocket p99 / SSE p99", Clawchat: fmtMs(c.LatencyWS.P99) + " / " + fmtMs(c.LatencySSE.P99)})
	}

	idle := Row{Metric: "RSS idle (10 s after ready, nobody signed in)", Target: "≤ 16 MiB", Clawchat: na}
	if r.Memory.Idle > 0 {
		idle.Clawchat, idle.Result = fmtMiB(r.Memory.Idle), passFail(r.Memory.Idle <= targetIdleRSS)
	}
	out = append(out, idle)
	if r.BinaryBytes > 0 {
		out = append(out, Row{Metric: "Binary size (go build -trimpath -ldflags \"-s -w\")", Target: "≤ 20 MB",
			Clawchat: fmt.Sprintf("%.1f MB", float64(r.BinaryBytes)/1e6), Result: passFail(r.BinaryBytes <= targetBinaryBytes)})
	}
	if r.Memory.SignedIn > 0 {
		out = append(out, Row{Metric: fmt.Sprintf("RSS after %d sign-ins", r.Config.Users), Clawchat: fmtMiB(r.Memory.SignedIn)})
	}
	if r.Memory.Baseline > 0 {
		out = append(out, Row{Metric: fmt.Sprintf("RSS after %d connections came and went (baseline of the per-connection cost)", r.Config.MemConns[0]), Clawchat: fmtMiB(r.Memory.Baseline)})
	}
	for i, cm := range r.Memory.Conns {
		row := Row{Metric: fmt.Sprintf("RSS with %d idle WebSocket connections", cm.N), Clawchat: fmtMiB(cm.RSS)}
		if cm.N == 10000 {
			row.Target, row.Result = "≤ 128 MiB", passFail(cm.RSS <= target10kRSS)
		}
		out = append(out, row)
		per := Row{Metric: fmt.Sprintf("  bytes per idle connection at %d (marginal since the previous count)", cm.N), Clawchat: fmtKiB(cm.PerConn) + " (" + fmtKiB(cm.Marginal) + ")"}
		if i == len(r.Memory.Conns)-1 { // the larger of the average and the marginal cost
			per.Target, per.Result = "≤ 8 KiB", passFail(max(cm.PerConn, cm.Marginal) <= targetPerConnBytes)
		}
		out = append(out, per)
	}
	if len(r.Memory.Conns) == 0 {
		out = append(out, Row{Metric: "RSS per idle connection", Target: "≤ 8 KiB", Clawchat: na})
	}
	if r.Memory.SSEBaseline > 0 {
		out = append(out, Row{Metric: fmt.Sprintf("RSS after %d SSE connections came and went (fresh process; baseline of the SSE cost)", r.Config.SSEMemConns[0]), Clawchat: fmtMiB(r.Memory.SSEBaseline)})
	}
	for i, cm := range r.Memory.SSEConns {
		out = append(out, Row{Metric: fmt.Sprintf("RSS with %d idle SSE connections (GET /api/events)", cm.N), Clawchat: fmtMiB(cm.RSS)})
		per := Row{Metric: fmt.Sprintf("  bytes per idle SSE connection at %d (marginal since the previous count)", cm.N), Clawchat: fmtKiB(cm.PerConn) + " (" + fmtKiB(cm.Marginal) + ")"}
		if i == len(r.Memory.SSEConns)-1 {
			per.Target, per.Result = "≤ 8 KiB", passFail(max(cm.PerConn, cm.Marginal) <= targetPerConnBytes)
		}
		out = append(out, per)
	}
	if r.Memory.Streaming > 0 {
		out = append(out, Row{Metric: fmt.Sprintf("RSS peak with %d concurrent streaming runs, %d clients (fresh process; before the first delta)", r.Memory.StreamingRuns, r.Memory.StreamingConn),
			Clawchat: fmtMiB(r.Memory.Streaming) + " (" + fmtMiB(r.Memory.StreamingBefore) + ")"})
	}

	tp := Row{Metric: "Max deltas delivered per second with p99 < 50 ms", Target: "≥ 200k/s", Clawchat: na, Direct: fmtRate(d.MaxDeliveredPerSec)}
	if len(c.Steps) > 0 {
		tp.Clawchat, tp.Ratio, tp.Result = fmtRate(c.MaxDeliveredPerSec), ratio(c.MaxDeliveredPerSec, d.MaxDeliveredPerSec), passFail(c.MaxDeliveredPerSec >= targetDeliveries)
		if last := c.Steps[len(c.Steps)-1]; last.OK {
			tp.Clawchat = "≥ " + tp.Clawchat + " (highest step tried)"
		}
	}
	if len(d.Steps) > 0 && d.Steps[len(d.Steps)-1].OK {
		tp.Direct = "≥ " + tp.Direct + " (highest step tried)"
	}
	out = append(out, tp)

	h := Row{Metric: fmt.Sprintf("Start → /healthz 200 (median of %d)", len(r.Startup.Healthz)), Target: "≤ 50 ms", Clawchat: na}
	rd := Row{Metric: fmt.Sprintf("Start → /readyz 200 against the local fake Gateway (median of %d)", len(r.Startup.Readyz)), Clawchat: na}
	if len(r.Startup.Healthz) > 0 {
		h.Clawchat, h.Result = fmtMs(r.Startup.HealthzMs), passFail(r.Startup.HealthzMs <= targetHealthzMs)
		rd.Clawchat = fmtMs(r.Startup.ReadyzMs)
	}
	out = append(out, h, rd)

	cpu := Row{Metric: fmt.Sprintf("CPU seconds per 1M delivered deltas (at %s)", fmtRate(c.DeliveredPerSec)), Clawchat: na}
	if c.CPUPerMillion > 0 {
		cpu.Clawchat = fmt.Sprintf("%.2f s", c.CPUPerMillion)
	}
	out = append(out, cpu)
	if best := bestStep(c.Steps); best != nil && best.CPUPerMillion > 0 {
		out = append(out, Row{Metric: fmt.Sprintf("CPU seconds per 1M delivered deltas (at %s)", fmtRate(best.DeliveredPerSec)), Clawchat: fmt.Sprintf("%.2f s", best.CPUPerMillion)})
	}
	return out
}

func bestStep(steps []Step) *Step {
	var b *Step
	for i := range steps {
		if steps[i].OK && (b == nil || steps[i].DeliveredPerSec > b.DeliveredPerSec) {
			b = &steps[i]
		}
	}
	return b
}

// Markdown renders the report: machine, results table and the throughput steps.
func (r *Report) Markdown() string {
	var b strings.Builder
	mode := "full"
	if r.Quick {
		mode = "quick (smoke run: small sizes, targets not meaningful)"
	}
	m := r.Machine
	fmt.Fprintf(&b, "Run %s, mode %s, took %.0f s.\n\n", r.At.Format("2006-01-02 15:04 MST"), mode, r.Took)
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %d MiB RAM, Linux %s, %s %s, open-file limit %d. Load average at start %s, at end %s.\n\n",
		m.CPUs, m.CPUModel, m.MemoryMiB, m.Kernel, m.Go, m.OS, m.FileLimit, m.LoadStart, m.LoadEnd)
	if r.ClawchatError != "" {
		fmt.Fprintf(&b, "**clawchat side incomplete:** %s\n\n", mdEscape(r.ClawchatError))
	}
	b.WriteString("| metric | target | clawchat | direct | clawchat/direct | result |\n|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdEscape(row.Metric), row.Target, row.Clawchat, row.Direct, row.Ratio, row.Result)
	}
	b.WriteString("\nThroughput steps (deliveries/s offered → delivered, p50/p99 latency, dropped connections):\n\n")
	b.WriteString("| path | offered | Gateway events/s | delivered | p50 | p99 | dropped | clawchat CPU s / 1M | ok |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, side := range []struct {
		name  string
		steps []Step
	}{{"direct", r.Direct.Steps}, {"clawchat", r.Clawchat.Steps}} {
		for _, s := range side.steps {
			cpu := ""
			if s.CPUPerMillion > 0 {
				cpu = fmt.Sprintf("%.2f", s.CPUPerMillion)
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %s | %d | %s | %v |\n", side.name, fmtRate(s.TargetPerSec), s.EventsPerSec, fmtRate(s.DeliveredPerSec), fmtMs(s.P50), fmtMs(s.P99), s.Dropped, cpu, s.OK)
		}
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// JSON returns the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bench: encode report: %w", err)
	}
	return append(b, '\n'), nil
}

// Markers of the generated region in docs/benchmarks.md.
const (
	beginMarker = "<!-- bench:results:begin (generated by clawchat-bench; edit outside these markers) -->"
	endMarker   = "<!-- bench:results:end -->"
)

// WriteDoc writes the report into the Markdown document at path, replacing the region between
// the result markers and keeping everything else. A missing file, or one without markers, gets
// the markers appended.
func WriteDoc(path string, r *Report) error {
	doc, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bench: %w", err)
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	region := beginMarker + "\n\n" + r.Markdown() + "\n<details><summary>JSON</summary>\n\n```json\n" + string(js) + "```\n\n</details>\n\n" + endMarker
	i := bytes.Index(doc, []byte(beginMarker))
	j := bytes.Index(doc, []byte(endMarker))
	var out []byte
	if i >= 0 && j > i {
		out = append(append(append([]byte{}, doc[:i]...), region...), doc[j+len(endMarker):]...)
	} else {
		if len(doc) == 0 {
			doc = []byte("# Benchmarks\n")
		}
		out = append(append(bytes.TrimRight(doc, "\n"), "\n\n## Latest results\n\n"...), region...)
		out = append(out, '\n')
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
