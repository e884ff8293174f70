package metrics

import (
	"bytes"
	"math"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A small implementation of the Prometheus text exposition format (version 0.0.4), enough for
// clawchat's counters, gauges and histograms with fixed label sets. It replaces the Prometheus
// client library, which with its protobuf dependency was 2.3 MB of the 22.4 MB binary
// (docs/benchmarks.md, "Binary size").

type kind string

const (
	counterKind   kind = "counter"
	gaugeKind     kind = "gauge"
	histogramKind kind = "histogram"
)

// family is one metric name with its series. All methods are safe for concurrent use.
type family struct {
	name, help string
	kind       kind
	labels     []string
	buckets    []float64 // histograms: upper bounds, ascending (+Inf implied)

	mu     sync.Mutex
	series map[string]*series
}

type series struct {
	values []string
	val    float64  // counters and gauges
	counts []uint64 // histograms: per bucket (not cumulative), +Inf last
	sum    float64
	count  uint64
}

func newFamily(name, help string, k kind, buckets []float64, labels ...string) *family {
	return &family{name: name, help: help, kind: k, labels: labels, buckets: buckets, series: map[string]*series{}}
}

// get returns the series for values (creating it); f.mu is held.
func (f *family) get(values []string) *series {
	key := strings.Join(values, "\xff")
	s := f.series[key]
	if s == nil {
		s = &series{values: slices.Clone(values)}
		if f.kind == histogramKind {
			s.counts = make([]uint64, len(f.buckets)+1)
		}
		f.series[key] = s
	}
	return s
}

// declare creates the series for values at zero, so that it is exposed before its first use.
func (f *family) declare(values ...string) {
	f.mu.Lock()
	f.get(values)
	f.mu.Unlock()
}

func (f *family) add(v float64, values ...string) {
	f.mu.Lock()
	f.get(values).val += v
	f.mu.Unlock()
}

func (f *family) set(v float64, values ...string) {
	f.mu.Lock()
	f.get(values).val = v
	f.mu.Unlock()
}

func (f *family) observe(v float64, values ...string) {
	i, _ := slices.BinarySearch(f.buckets, v) // the first bound ≥ v; len(buckets) is +Inf
	f.mu.Lock()
	s := f.get(values)
	s.counts[i]++
	s.sum += v
	s.count++
	f.mu.Unlock()
}

// write appends the family in the text format, series sorted by label values.
func (f *family) write(b *bytes.Buffer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	header(b, f.name, f.help, f.kind)
	keys := make([]string, 0, len(f.series))
	for k := range f.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := f.series[k]
		if f.kind != histogramKind {
			sample(b, f.name, f.labels, s.values, "", "", s.val)
			continue
		}
		var cum uint64
		for i, c := range s.counts {
			cum += c
			le := "+Inf"
			if i < len(f.buckets) {
				le = formatFloat(f.buckets[i])
			}
			sample(b, f.name+"_bucket", f.labels, s.values, "le", le, float64(cum))
		}
		sample(b, f.name+"_sum", f.labels, s.values, "", "", s.sum)
		sample(b, f.name+"_count", f.labels, s.values, "", "", float64(s.count))
	}
}

func header(b *bytes.Buffer, name, help string, k kind) {
	b.WriteString("# HELP " + name + " " + strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help) + "\n")
	b.WriteString("# TYPE " + name + " " + string(k) + "\n")
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// sample appends one line: name{labels…,extra="…"} value.
func sample(b *bytes.Buffer, name string, labels, values []string, extraName, extraValue string, v float64) {
	b.WriteString(name)
	if len(labels) > 0 || extraName != "" {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l + `="` + labelEscaper.Replace(values[i]) + `"`)
		}
		if extraName != "" {
			if len(labels) > 0 {
				b.WriteByte(',')
			}
			b.WriteString(extraName + `="` + extraValue + `"`)
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// runtimeSamples are the Go runtime metrics exposed under the Prometheus client's usual names.
var runtimeSamples = []struct {
	src, name, help string
	kind            kind
}{
	{"/memory/classes/heap/objects:bytes", "go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", gaugeKind},
	{"/memory/classes/total:bytes", "go_memstats_sys_bytes", "Bytes of memory obtained from the OS.", gaugeKind},
	{"/gc/heap/goal:bytes", "go_memstats_next_gc_bytes", "Heap size target of the next GC cycle.", gaugeKind},
	{"/gc/cycles/total:gc-cycles", "go_gc_cycles_total", "Completed GC cycles.", counterKind},
}

// writeRuntime appends the go_* and process_* metrics.
func writeRuntime(b *bytes.Buffer, start time.Time) {
	header(b, "go_goroutines", "Number of goroutines that currently exist.", gaugeKind)
	sample(b, "go_goroutines", nil, nil, "", "", float64(runtime.NumGoroutine()))
	header(b, "go_info", "Information about the Go environment.", gaugeKind)
	sample(b, "go_info", []string{"version"}, []string{runtime.Version()}, "", "", 1)
	rs := make([]rtmetrics.Sample, len(runtimeSamples))
	for i, s := range runtimeSamples {
		rs[i].Name = s.src
	}
	rtmetrics.Read(rs)
	for i, s := range runtimeSamples {
		var v float64
		switch rs[i].Value.Kind() {
		case rtmetrics.KindUint64:
			v = float64(rs[i].Value.Uint64())
		case rtmetrics.KindFloat64:
			v = rs[i].Value.Float64()
		default:
			continue
		}
		header(b, s.name, s.help, s.kind)
		sample(b, s.name, nil, nil, "", "", v)
	}

	header(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", gaugeKind)
	sample(b, "process_start_time_seconds", nil, nil, "", "", float64(start.UnixMilli())/1000)
	if st, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Fields after the command name (which may contain spaces): state is field 3.
		if i := bytes.LastIndexByte(st, ')'); i > 0 {
			f := strings.Fields(string(st[i+1:]))
			if len(f) > 22 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				stt, _ := strconv.ParseFloat(f[12], 64)
				vsize, _ := strconv.ParseFloat(f[20], 64)
				rss, _ := strconv.ParseFloat(f[21], 64)
				header(b, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", counterKind)
				sample(b, "process_cpu_seconds_total", nil, nil, "", "", (ut+stt)/100) // USER_HZ is 100 on Linux
				header(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", gaugeKind)
				sample(b, "process_virtual_memory_bytes", nil, nil, "", "", vsize)
				header(b, "process_resident_memory_bytes", "Resident memory size in bytes.", gaugeKind)
				sample(b, "process_resident_memory_bytes", nil, nil, "", "", rss*float64(os.Getpagesize()))
			}
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		header(b, "process_open_fds", "Number of open file descriptors.", gaugeKind)
		sample(b, "process_open_fds", nil, nil, "", "", float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		header(b, "process_max_fds", "Maximum number of open file descriptors.", gaugeKind)
		sample(b, "process_max_fds", nil, nil, "", "", float64(lim.Cur))
	}
}
