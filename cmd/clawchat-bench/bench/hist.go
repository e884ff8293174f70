package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histSub is the number of linear sub-buckets per power of two (relative error ≤ 1/64).
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histBuckets = histSub + 58*histSub
)

// Histogram records durations (nanoseconds) in log-linear buckets with a relative precision of
// 1/64. Record is lock-free and safe for concurrent use; the zero value is ready. Reading
// (Quantile, Count) while records happen gives a consistent-enough snapshot for reporting.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	s := bits.Len64(v) - histSubBits - 1 // v>>s in [64,128)
	i := histSub + s*histSub + int(v>>uint(s)) - histSub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histUpper returns the largest value that falls in bucket i.
func histUpper(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	s := (i - histSub) / histSub
	m := uint64((i-histSub)%histSub + histSub)
	return (m+1)<<uint(s) - 1
}

// Record adds one sample. Negative durations (clock adjustments) count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[histIndex(uint64(v))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// Count returns the number of samples recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest sample recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the smallest bucket bound at or below which a fraction q (0..1) of the
// samples lie; 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	want := uint64(q*float64(n) + 0.5)
	want = min(max(want, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= want {
			return min(time.Duration(histUpper(i)), h.Max())
		}
	}
	return h.Max()
}

// Reset clears all samples. It must not race with Record if exact counts matter.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.n.Store(0)
	h.max.Store(0)
}
