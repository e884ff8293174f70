package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/clawchat/clawchat/internal/metrics"
)

// TestExpositionParses: the scrape is valid Prometheus text format by the reference parser
// (test-only dependency), histograms are cumulative with +Inf, sum and count, and label values
// are escaped.
func TestExpositionParses(t *testing.T) {
	m := metrics.New()
	m.StoreQuery("q", 700*time.Microsecond) // bucket .001
	m.StoreQuery("q", 30*time.Millisecond)  // bucket .05
	m.StoreQuery("q", 5*time.Second)        // +Inf only
	m.RateLimited("we\"ird\\kind\nx")       // escaped
	m.GatewayRequest("chat.send", time.Millisecond, true)
	body := scrape(t, m)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("reference parser: %v\n%s", err, body)
	}
	h := fams["clawchat_store_query_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() < 5.03 || h.GetSampleSum() > 5.031 {
		t.Errorf("histogram count/sum = %d / %f", h.GetSampleCount(), h.GetSampleSum())
	}
	want := map[float64]uint64{.0005: 0, .001: 1, .025: 1, .05: 2, 1: 2}
	for _, b := range h.GetBucket() {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("bucket le=%g: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
	rl := fams["clawchat_ratelimit_rejections_total"].GetMetric()[0]
	if v := rl.GetLabel()[0].GetValue(); v != "we\"ird\\kind\nx" || rl.GetCounter().GetValue() != 1 {
		t.Errorf("escaped label round trip: %q %v", v, rl.GetCounter().GetValue())
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}
