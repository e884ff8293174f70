package gateway

import (
	"encoding/json"
	"math/rand/v2"
	"time"
)

// backoff is exponential backoff with full jitter between min and a doubling ceiling
// capped at max. Not safe for concurrent use.
type backoff struct {
	min, max time.Duration
	attempt  int
	// int64n returns a uniform value in [0, n); nil means math/rand/v2.
	int64n func(n int64) int64
}

// next returns the delay before the next attempt and advances the attempt counter.
func (b *backoff) next() time.Duration {
	ceiling := b.min
	for i := 0; i < b.attempt && ceiling < b.max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, b.max)
	b.attempt++
	span := int64(ceiling - b.min)
	if span <= 0 {
		return b.min
	}
	f := b.int64n
	if f == nil {
		f = rand.Int64N
	}
	return b.min + time.Duration(f(span+1))
}

// reset restarts the schedule after a healthy connection.
func (b *backoff) reset() { b.attempt = 0 }

// watchdog calls fire when kick has not been called for d. Safe for concurrent use.
type watchdog struct {
	d     time.Duration
	timer *time.Timer
}

func newWatchdog(d time.Duration, fire func()) *watchdog {
	return &watchdog{d: d, timer: time.AfterFunc(d, fire)}
}

// kick postpones the deadline by d from now.
func (w *watchdog) kick() { w.timer.Reset(w.d) }

// stop disarms the watchdog.
func (w *watchdog) stop() { w.timer.Stop() }

// maxTrackedRuns bounds the per-run seq map.
const maxTrackedRuns = 1024

// seqTracker detects envelope seq gaps (per connection) and per-run agent seq
// duplicates/gaps (across connections). Used only by the reader goroutine of the
// current connection; not safe for concurrent use.
type seqTracker struct {
	lastEnvelope int64
	runs         map[string]*runSeq
	tick         uint64 // logical clock for LRU eviction
	maxRuns      int
}

type runSeq struct {
	last    int64
	touched uint64
}

// agentHead is the part of an agent payload the tracker needs.
type agentHead struct {
	RunID  string `json:"runId"`
	Seq    *int64 `json:"seq"`
	Stream string `json:"stream"`
	Data   struct {
		Phase string `json:"phase"`
	} `json:"data"`
}

// newConnection resets the envelope counter (the Gateway restarts it per socket).
func (t *seqTracker) newConnection() { t.lastEnvelope = 0 }

// process returns the Event to deliver and whether to deliver it.
func (t *seqTracker) process(name string, seq *int64, payload json.RawMessage) (Event, bool) {
	ev := Event{Name: name, Payload: payload}
	if seq != nil {
		s := *seq
		ev.Seq = s
		if t.lastEnvelope > 0 && s > t.lastEnvelope+1 {
			ev.Gap = &Gap{Kind: GapEnvelope, Expected: t.lastEnvelope + 1, Received: s}
		}
		if s > t.lastEnvelope {
			t.lastEnvelope = s
		}
	}
	if name != "agent" {
		return ev, true
	}
	var h agentHead
	if json.Unmarshal(payload, &h) != nil || h.RunID == "" || h.Seq == nil {
		return ev, true
	}
	if t.runs == nil {
		t.runs = make(map[string]*runSeq)
	}
	if t.maxRuns <= 0 {
		t.maxRuns = maxTrackedRuns
	}
	t.tick++
	rs, ok := t.runs[h.RunID]
	if ok {
		if *h.Seq <= rs.last {
			return ev, false // duplicate or stale
		}
		if *h.Seq > rs.last+1 && ev.Gap == nil {
			ev.Gap = &Gap{Kind: GapRun, RunID: h.RunID, Expected: rs.last + 1, Received: *h.Seq}
		}
		rs.last = *h.Seq
		rs.touched = t.tick
	} else {
		if len(t.runs) >= t.maxRuns {
			t.evictOldest()
		}
		rs = &runSeq{last: *h.Seq, touched: t.tick}
		t.runs[h.RunID] = rs
	}
	if h.Stream == "lifecycle" && (h.Data.Phase == "end" || h.Data.Phase == "error") {
		delete(t.runs, h.RunID)
	}
	return ev, true
}

func (t *seqTracker) evictOldest() {
	var oldestID string
	var oldest uint64
	for id, rs := range t.runs {
		if oldestID == "" || rs.touched < oldest {
			oldestID, oldest = id, rs.touched
		}
	}
	delete(t.runs, oldestID)
}
