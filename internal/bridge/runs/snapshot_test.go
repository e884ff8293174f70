package runs

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/owners"
	"github.com/clawchat/clawchat/internal/bridge/upstream"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

// oldDelta is the delta rule as the bridge applied it before the fast path (decode the snapshot on
// every delta, concatenate): the reference the new path must agree with.
func oldDelta(prev string, p *gateway.ChatEvent) (next string, replace bool) {
	snap, hasSnap := gateway.SnapshotText(p.Message)
	switch {
	case p.DeltaText == nil:
		return snap, true
	case p.Replace:
		return *p.DeltaText, true
	case prev == "" && hasSnap:
		return snap, false
	case hasSnap && !(len(snap)-len(*p.DeltaText) == len(prev) && strings.HasPrefix(snap, prev) && strings.HasSuffix(snap, *p.DeltaText)):
		return snap, true
	default:
		return prev + *p.DeltaText, false
	}
}

// newTestTracker returns a Tracker over an in-memory store and a fake Upstream, publishing to pub
// (nil: a recorder).
func newTestTracker(t testing.TB, st *bridgetest.Store, pub Publisher) *Tracker {
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
	return New(Config{
		Publisher: pub, Owners: own, Gateway: mapper.API(bridgetest.NewUpstream()),
		Send: func(context.Context, string, string, string, *Message) (*gateway.ChatSendResult, error) {
			return &gateway.ChatSendResult{Status: "started"}, nil
		},
		MapError: mapper.Map, Go: func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() },
		Base: context.Background(), Logger: log, Now: time.Now, MaxConcurrentRuns: 3, MaxQueued: 10,
		StaleRunAfter: time.Minute, HistoryTimeout: time.Second, SendTimeout: time.Second,
	})
}

func testService(t testing.TB) *Tracker { return newTestTracker(t, nil, nil) }

func newTestRun(id string) *run {
	return &run{id: id, key: "agent:main:clawchat:u:c", userID: "u", convID: "c", tools: map[string]*toolState{}}
}

func msgJSON(text string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text}}, "timestamp": 1795275301719})
	return b
}

// checkAgainstOld applies p to r with the new path and to oldText with the reference rule and
// fails on any difference in the text or the replace flag.
func checkAgainstOld(t *testing.T, s *Tracker, r *run, oldText *string, p *gateway.ChatEvent, what string) {
	t.Helper()
	prev, next, replace, _ := s.applyDelta(r, p)
	wantNext, wantReplace := oldDelta(*oldText, p)
	if prev != *oldText || next != wantNext || replace != wantReplace || r.text != wantNext {
		t.Fatalf("%s: new (prev %q → %q, replace %v), reference (prev %q → %q, replace %v)", what, prev, next, replace, *oldText, wantNext, wantReplace)
	}
	*oldText = wantNext
}

// The real Gateway's chat events (copied from the live transcripts into testdata: streaming,
// aborts, tool calls, model errors with replace, concurrent and follow-up runs, a stop) go
// through the new path with exactly the reference results, and the fast path proves every
// ordinary delta without decoding.
func TestDeltaRuleOnRealTranscripts(t *testing.T) {
	f, err := os.Open("testdata/gateway-chat-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := testService(t)
	runs := map[string]*run{}
	old := map[string]*string{}
	deltas, fast := 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var rec struct {
			Source  string          `json:"source"`
			Conn    string          `json:"conn"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		var p gateway.ChatEvent
		if err := json.Unmarshal(rec.Payload, &p); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		if p.State != "delta" {
			continue
		}
		id := rec.Source + "/" + rec.Conn + "/" + p.RunID
		if runs[id] == nil {
			runs[id], old[id] = newTestRun(id), new(string)
		}
		deltas++
		if p.DeltaText != nil && !p.Replace && gateway.SnapshotIs(p.Message, runs[id].text, *p.DeltaText) {
			fast++
		}
		checkAgainstOld(t, s, runs[id], old[id], &p, rec.Source+" line "+sc.Text()[:min(80, len(sc.Text()))])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if deltas < 200 || len(runs) < 10 {
		t.Fatalf("only %d deltas in %d runs: testdata incomplete", deltas, len(runs))
	}
	// Every delta of these transcripts is ordinary except the replace ones.
	if fast < deltas*9/10 {
		t.Fatalf("fast path proved %d of %d deltas", fast, deltas)
	}
	t.Logf("%d deltas in %d runs, %d proven without decoding", deltas, len(runs), fast)
}

func strp(s string) *string { return &s }

// Adversarial sequences: each step is checked against the reference rule.
func TestDeltaRuleAdversarial(t *testing.T) {
	type step struct {
		delta   *string
		replace bool
		msg     json.RawMessage
	}
	d := func(delta, snap string) step { return step{delta: strp(delta), msg: msgJSON(snap)} }
	// raw takes deltaText as JSON, so that lone surrogates decode as the Gateway's would (U+FFFD).
	raw := func(deltaJSON, m string) step {
		var delta string
		if err := json.Unmarshal([]byte(deltaJSON), &delta); err != nil {
			t.Fatalf("%s: %v", deltaJSON, err)
		}
		return step{delta: &delta, msg: json.RawMessage(m)}
	}
	cases := map[string][]step{
		"ordinary":                              {d("Echo:", "Echo:"), d(" Hello", "Echo: Hello"), d(" world", "Echo: Hello world")},
		"coalesced":                             {d("a", "a"), d("bcd", "abcd"), d("", "abcd"), d("ef", "abcdef")},
		"first delta differs from its snapshot": {d("b", "ab"), d("c", "abc")},
		"gap (a delta lost)":                    {d("a", "a"), d("c", "abc"), d("d", "abcd")},
		"snapshot rewrites the start":           {d("Hello", "Hello"), d(" there", "Hi there")},
		"replace":                               {d("ab", "ab"), {delta: strp(""), replace: true, msg: msgJSON("")}, d("x", "x")},
		"replace ignores the snapshot":          {d("ab", "ab"), {delta: strp("zz"), replace: true, msg: msgJSON("other")}},
		"no deltaText":                          {d("ab", "ab"), {msg: msgJSON("abc")}, {}},
		"no snapshot":                           {{delta: strp("a")}, {delta: strp("b")}, d("c", "abc")},
		"snapshot shorter":                      {d("abc", "abc"), d("d", "ab")},
		"astral split across deltas": {
			raw(`"\ud83d"`, `{"content":[{"type":"text","text":"\ud83d"}]}`), // lone surrogates decode to U+FFFD
			raw(`"\ude00!"`, `{"content":[{"type":"text","text":"\ud83d\ude00!"}]}`),
			raw(`"?"`, `{"content":[{"type":"text","text":"\ud83d\ude00!?"}]}`),
		},
		"astral escaped and raw": {
			raw(`"😀"`, `{"content":[{"type":"text","text":"\ud83d\ude00"}]}`),
			raw(`"é"`, `{"content":[{"type":"text","text":"😀\u00e9"}]}`),
			raw(`"\"\\/\n"`, `{"content":[{"type":"text","text":"😀é\"\\\/\n"}]}`),
		},
		"invalid UTF-8 in the snapshot": {raw(`"a"`, "{\"content\":[{\"type\":\"text\",\"text\":\"a\xff\"}]}"), d("b", "ab")},
		"several text blocks, thinking and canvas": {
			raw(`"ab"`, `{"content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"a"},{"type":"canvas","text":"zz"},{"text":"b","type":"text"}]}`),
			raw(`"c"`, `{"content":[{"type":"text","text":"a"},null,{"type":"text","text":"bc","id":"x","arguments":{"a":[1,{"b":"]"}]}}]}`),
		},
		"content as a string": {raw(`"ab"`, `{"content":"ab"}`), raw(`"c"`, `{"content":"abc","text":"ignored"}`)},
		"text fallback":       {raw(`"ab"`, `{"content":[],"text":"ab"}`), raw(`"c"`, `{"text":"abc","content":null}`), raw(`"d"`, `{"content":[{"type":"text","text":""}],"text":"abcd"}`)},
		"case-folded keys": {
			d("a", "a"),
			raw(`"b"`, `{"Content":[{"type":"text","text":"ab"}]}`),
			raw(`"c"`, `{"content":[{"TYPE":"text","text":"abc"}]}`),
			raw(`"d"`, `{"content":[{"type":"text","Text":"abcd"}]}`),
			raw(`"e"`, `{"content":[{"type":"text","text":"abcde"}],"TEXT":"x"}`),
		},
		"duplicate keys": {
			d("a", "a"),
			raw(`"b"`, `{"content":[{"type":"text","text":"xx"}],"content":[{"type":"text","text":"ab"}]}`),
			raw(`"c"`, `{"content":[{"type":"text","text":"abc","text":"zz"}]}`),
			raw(`"d"`, `{"content":[{"type":"thinking","type":"text","text":"abcd"}]}`),
		},
		"wrong types fail decoding": {
			d("a", "a"),
			raw(`"b"`, `{"content":[{"type":"text","text":"ab","name":5}]}`),
			raw(`"c"`, `{"content":[{"type":"text","text":"abc"}],"text":7}`),
			raw(`"d"`, `{"content":[{"type":"text","text":"abcd"},"str"]}`),
			raw(`"e"`, `{"content":{"type":"text","text":"abcde"}}`),
			raw(`"f"`, `"abcdef"`),
			raw(`"g"`, `null`),
		},
		"escaped keys and types": {
			d("a", "a"),
			raw(`"b"`, `{"content":[{"type":"te\u0078t","text":"ab"}]}`),
			raw(`"c"`, `{"cont\u0065nt":[{"type":"text","text":"abc"}]}`),
			raw(`"d"`, `{"content":[{"\u0074ext":"abcd","type":"text"}]}`),
		},
		"kelvin sign folds to k": {d("a", "a"), raw(`"b"`, "{\"content\":[{\"type\":\"text\",\"text\":\"ab\",\"\u212aext\":\"zz\"}]}")},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			s := testService(t)
			r := newTestRun("r")
			old := ""
			for i, st := range steps {
				p := &gateway.ChatEvent{DeltaText: st.delta, Replace: st.replace, Message: st.msg}
				checkAgainstOld(t, s, r, &old, p, name+" step "+string(rune('0'+i)))
			}
		})
	}
}

// The run text grows in place: appends never rewrite text handed out earlier, and a text set
// elsewhere restarts the buffer from it.
func TestRunTextBuffer(t *testing.T) {
	r := newTestRun("r")
	var seen []string
	var want strings.Builder
	for i := range 500 {
		inc := strings.Repeat(string(rune('a'+i%26)), i%7+1)
		r.appendText(inc)
		want.WriteString(inc)
		seen = append(seen, r.text)
	}
	if r.text != want.String() {
		t.Fatal("appended text differs")
	}
	for i, s := range seen {
		if !strings.HasPrefix(r.text, s) || (i > 0 && len(s) <= len(seen[i-1])) {
			t.Fatalf("text %d changed after it was handed out", i)
		}
	}
	r.text = "set directly" // as a reconcile without setText would
	r.appendText("!")
	if r.text != "set directly!" {
		t.Fatalf("text = %q", r.text)
	}
	r.setText("x")
	r.appendText("y")
	if r.text != "xy" || r.textBuf.String() != "xy" {
		t.Fatalf("text = %q, buffer %q", r.text, r.textBuf.String())
	}
	if n := testing.AllocsPerRun(100, func() { r.appendText("z") }); n > 0.1 {
		t.Fatalf("appendText allocates %.2f times per call (want amortised ~0)", n)
	}
	m := msgJSON(r.text + "w")
	if n := testing.AllocsPerRun(100, func() { gateway.SnapshotIs(m, r.text, "w") }); n != 0 {
		t.Fatalf("snapshotIs allocates %.0f times", n)
	}
}

// A reconcile that replaces the run text while a delta is being decided is not overwritten with a
// decision based on the old text.
func TestDeltaAfterReconcileSetText(t *testing.T) {
	s := testService(t)
	r := newTestRun("r")
	old := ""
	checkAgainstOld(t, s, r, &old, &gateway.ChatEvent{DeltaText: strp("ab"), Message: msgJSON("ab")}, "first")
	s.mu.Lock()
	r.setText("from history")
	s.mu.Unlock()
	old = "from history"
	checkAgainstOld(t, s, r, &old, &gateway.ChatEvent{DeltaText: strp("c"), Message: msgJSON("abc")}, "after reconcile")
	if r.text != "abc" {
		t.Fatalf("text = %q", r.text)
	}
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
func (s *Tracker) oldHandleChat(payload json.RawMessage) {
	var p gateway.ChatEvent
	if json.Unmarshal(payload, &p) != nil || p.RunID == "" || p.SessionKey == "" {
		return
	}
	r := s.routeRun(p.RunID, strings.ToLower(p.SessionKey), p.State == "delta")
	if r == nil {
		return
	}
	if p.State != "delta" {
		s.onChat(r, &p)
		return
	}
	snap, hasSnap := gateway.SnapshotText(p.Message)
	s.mu.Lock()
	prev := r.text
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
	r.text = next
	s.mu.Unlock()
	if replace {
		s.publishRun(r, chat.RunDelta{Conversation: r.convID, RunID: r.id, Text: next, Replace: true}.Event())
	} else if inc := next[len(prev):]; inc != "" && strings.HasPrefix(next, prev) {
		s.publishRun(r, chat.RunDelta{Conversation: r.convID, RunID: r.id, Text: inc}.Event())
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
				s := newTestTracker(b, st, pub)
				key := "agent:main:clawchat:alice:default"
				if err := st.CreateConversation(context.Background(), chat.Conversation{UserID: "alice", ID: "default", AgentID: "main", SessionKey: key}); err != nil {
					b.Fatal(err)
				}
				runs := make([][][]byte, 8)
				for i := range runs {
					runs[i] = deltaRun("run-"+itoa(i), key, n)
				}
				var bytes int64
				for _, ev := range runs[0] {
					bytes += int64(len(ev))
				}
				b.SetBytes(bytes)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					evs := runs[i%len(runs)]
					s.mu.Lock()
					delete(s.recent, "run-"+itoa(i%len(runs))) // let the run id be adopted again
					s.mu.Unlock()
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
