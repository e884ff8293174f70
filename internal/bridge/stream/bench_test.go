package stream

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/owners"
	"github.com/clawchat/clawchat/internal/bridge/runs"
	"github.com/clawchat/clawchat/internal/bridge/upstream"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

// newTestTracker returns a Tracker over an in-memory store and a fake Upstream, publishing to pub
// (nil: a recorder).
func newTestTracker(t testing.TB, st *bridgetest.Store, pub runs.Publisher, now func() time.Time) *runs.Tracker {
	t.Helper()
	if pub == nil {
		pub = bridgetest.NewRecorder()
	}
	if st == nil {
		st = bridgetest.NewStore()
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	log := slog.New(slog.DiscardHandler)
	own := owners.New(owners.Config{Store: st, Now: time.Now, Logger: log, Base: context.Background()})
	mapper := upstream.Mapper{Log: log}
	return runs.New(runs.Config{
		Publisher: pub, Owners: own, Gateway: mapper.API(bridgetest.NewUpstream()),
		Send: func(context.Context, string, string, string, *runs.Message) (*gateway.ChatSendResult, error) {
			return &gateway.ChatSendResult{Status: "started"}, nil
		},
		MapError: mapper.Map, Go: func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() },
		Base: context.Background(), Logger: log, Now: now, MaxConcurrentRuns: 3, MaxQueued: 10,
		StaleRunAfter: time.Minute, HistoryTimeout: time.Second, SendTimeout: time.Second,
	})
}

// discard is a Publisher that drops events (benchmarks).
type discard struct{ n int }

func (d *discard) Publish(string, chat.Event) uint64 { d.n++; return uint64(d.n) }
func (d *discard) PublishAll(chat.Event)             {}

// deltaRun returns the Gateway payloads of one run of n deltas with cumulative snapshots, as the
// real Gateway sends them, and its final.
func deltaRun(runID, key string, n int) [][]byte {
	words := []string{"the ", "quick ", "brown ", "fox, ", "\"jumps\" ", "über ", "the ", "lazy ", "dog.\n", "😀 "}
	var text strings.Builder
	out := make([][]byte, 0, n+1)
	for i := range n {
		w := words[i%len(words)]
		text.WriteString(w)
		b, _ := json.Marshal(map[string]any{"runId": runID, "sessionKey": key, "seq": i + 6, "state": "delta", "deltaText": w,
			"message": map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text.String()}}, "timestamp": 1795275301719 + i}})
		out = append(out, b)
	}
	b, _ := json.Marshal(map[string]any{"runId": runID, "sessionKey": key, "seq": n + 10, "state": "final", "stopReason": "stop",
		"message": map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text.String()}}, "timestamp": 1795275301719 + n}})
	return append(out, b)
}

// oldHandleChat is HandleGatewayEvent("chat", …) as it was before the fast path: the baseline.
func (t *Translator) oldHandleChat(payload json.RawMessage) {
	var p gateway.ChatEvent
	if json.Unmarshal(payload, &p) != nil || p.RunID == "" || p.SessionKey == "" {
		return
	}
	r := t.runs.Route(p.RunID, strings.ToLower(p.SessionKey), p.State == "delta")
	if r == nil {
		return
	}
	if p.State != "delta" {
		t.onChat(r, &p)
		return
	}
	snap, hasSnap := gateway.SnapshotText(p.Message)
	prev := r.Content().Text()
	var next string
	replace := false
	switch {
	case p.DeltaText == nil:
		next, replace = snap, true
	case p.Replace:
		next, replace = *p.DeltaText, true
	case prev == "" && hasSnap:
		next = snap
	case hasSnap && !(len(snap)-len(*p.DeltaText) == len(prev) && strings.HasPrefix(snap, prev) && strings.HasSuffix(snap, *p.DeltaText)):
		next, replace = snap, true
	default:
		next = prev + *p.DeltaText
	}
	r.Content().SetText(next)
	if replace {
		t.runs.Publish(r, chat.RunDelta{Conversation: r.ConvID(), RunID: r.ID(), Text: next, Replace: true}.Event())
	} else if inc := next[len(prev):]; inc != "" && strings.HasPrefix(next, prev) {
		t.runs.Publish(r, chat.RunDelta{Conversation: r.ConvID(), RunID: r.ID(), Text: inc}.Event())
	}
}

// BenchmarkHandleEvent feeds runs of n chat deltas with cumulative snapshots (plus the final)
// through HandleChat; "old" is the previous path (decode every snapshot, concatenate) in
// the same binary. ns/delta is the cost per Gateway delta event.
func BenchmarkHandleEvent(b *testing.B) {
	for _, n := range []int{100, 2000} {
		for _, impl := range []string{"old", "new"} {
			b.Run(impl+"/deltas="+itoa(n), func(b *testing.B) {
				pub := &discard{}
				st := bridgetest.NewStore()
				clock := time.Now()
				tr := newTestTracker(b, st, pub, func() time.Time { return clock })
				s := New(tr, nil, time.Now)
				key := "agent:main:clawchat:alice:default"
				if err := st.CreateConversation(context.Background(), chat.Conversation{UserID: "alice", ID: "default", AgentID: "main", SessionKey: key}); err != nil {
					b.Fatal(err)
				}
				payloads := make([][][]byte, 8)
				for i := range payloads {
					payloads[i] = deltaRun("run-"+itoa(i), key, n)
				}
				var bytes int64
				for _, ev := range payloads[0] {
					bytes += int64(len(ev))
				}
				b.SetBytes(bytes)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					evs := payloads[i%len(payloads)]
					clock = clock.Add(11 * time.Minute) // let the run ids be adopted again
					tr.PruneRecent()
					for _, ev := range evs {
						if impl == "old" {
							s.oldHandleChat(ev)
						} else {
							s.HandleChat(ev)
						}
					}
					i++
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*n), "ns/delta")
				if pub.n < i*n {
					b.Fatalf("published %d events for %d deltas", pub.n, i*n)
				}
			})
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
