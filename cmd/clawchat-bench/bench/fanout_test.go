package bench

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/hub"
)

const fanoutSubs = 1000

// BenchmarkFanout publishes one run.delta event to one user with 1000 connections through
// internal/hub and drains every connection the way httpapi's writer does (Take until empty).
// One op = one event delivered to all 1000 connections; ns/delivery is per connection.
func BenchmarkFanout(b *testing.B) {
	h := hub.New(hub.Config{})
	var (
		mu    sync.Mutex
		ready []*hub.Subscription
	)
	subs := make([]*hub.Subscription, fanoutSubs)
	for i := range subs {
		var s *hub.Subscription
		idx := i
		s, _ = h.Subscribe("u", hub.Cursor{}, func() {
			mu.Lock()
			ready = append(ready, subs[idx])
			mu.Unlock()
		})
		subs[i] = s
	}
	ev := chat.NewEvent("run.delta", map[string]any{"conversation": "default", "runId": "r1", "text": "[ts:1700000000000000000] "})
	var (
		buf       []*hub.Frame
		r         = make([]*hub.Subscription, 0, fanoutSubs)
		delivered int
	)
	ready = make([]*hub.Subscription, 0, fanoutSubs)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.Publish("u", ev)
		mu.Lock()
		r, ready = ready, r[:0]
		mu.Unlock()
		for _, s := range r {
			for {
				buf, _ = s.Take(buf)
				if len(buf) == 0 {
					break
				}
				delivered += len(buf)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(delivered, 1)), "ns/delivery")
	if delivered != b.N*fanoutSubs {
		b.Fatalf("delivered %d, want %d", delivered, b.N*fanoutSubs)
	}
}

// BenchmarkFanoutBaselineSlice is the floor of a queue-per-connection design: lock, append a
// shared pointer, unlock, then drain — no replay log, no wake-up bookkeeping.
func BenchmarkFanoutBaselineSlice(b *testing.B) {
	type q struct {
		mu sync.Mutex
		f  []*hub.Frame
	}
	qs := make([]q, fanoutSubs)
	f := &hub.Frame{WS: []byte(`{"type":"event","event":"run.delta","seq":1,"payload":{}}`)}
	var buf []*hub.Frame
	var delivered int
	b.ReportAllocs()
	for b.Loop() {
		for i := range qs {
			qs[i].mu.Lock()
			qs[i].f = append(qs[i].f, f)
			qs[i].mu.Unlock()
		}
		for i := range qs {
			qs[i].mu.Lock()
			buf = append(buf[:0], qs[i].f...)
			qs[i].f = qs[i].f[:0]
			qs[i].mu.Unlock()
			delivered += len(buf)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(delivered, 1)), "ns/delivery")
}

// BenchmarkFanoutBaselineChan is the common naive design: one buffered channel per connection.
func BenchmarkFanoutBaselineChan(b *testing.B) {
	chs := make([]chan *hub.Frame, fanoutSubs)
	for i := range chs {
		chs[i] = make(chan *hub.Frame, 256)
	}
	f := &hub.Frame{}
	var delivered int
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range chs {
			c <- f
		}
		for _, c := range chs {
			<-c
			delivered++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(delivered, 1)), "ns/delivery")
}

// BenchmarkFanoutNaiveJSON encodes the event once per connection (what a server that marshals
// in each connection's writer pays), for comparison with the hub's encode-once frames.
func BenchmarkFanoutNaiveJSON(b *testing.B) {
	type frame struct {
		Type    string          `json:"type"`
		Event   string          `json:"event"`
		Seq     uint64          `json:"seq"`
		Payload json.RawMessage `json:"payload"`
	}
	ev := chat.NewEvent("run.delta", map[string]any{"conversation": "default", "runId": "r1", "text": "[ts:1700000000000000000] "})
	var delivered int
	b.ReportAllocs()
	for b.Loop() {
		for range fanoutSubs {
			out, _ := json.Marshal(frame{"event", ev.Name, 1, ev.Payload})
			delivered += min(len(out), 1)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(delivered, 1)), "ns/delivery")
}

// BenchmarkPipeline measures one delta delivered through clawchat's whole in-process path (fake
// Gateway → gateway client → bridge → hub → httpapi /ws → 100 WebSocket clients of 10 users), as
// fast as it goes. The clients run in the same process, so ns/delivery is an upper bound of the
// server's cost; take -cpuprofile and focus on internal/ packages for the server's share.
func BenchmarkPipeline(b *testing.B) {
	s := newStack(b)
	const users, runsN, clients = 10, 10, 100
	_, runs, ws, _ := streamingSetup(b, s, users, runsN, clients, 0)
	ctx := context.Background()
	events := int64(max(b.N/(clients/users), 1))
	b.ResetTimer()
	st, err := s.gw.Stream(ctx, StreamSpec{Runs: runs, Rate: 1e9, Duration: time.Hour, Count: events, RunLength: 100, Snapshots: true})
	if err != nil {
		b.Fatal(err)
	}
	want := st.Events * clients / users
	if err := waitFor(ctx, time.Minute, func() bool { return ws.Delivered.Load() >= want }); err != nil {
		b.Fatalf("delivered %d of %d", ws.Delivered.Load(), want)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
	b.ReportMetric(ms(ws.Hist.Quantile(0.99)), "p99-ms")
}
