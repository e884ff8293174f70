package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

// oldDelta is the delta rule as the bridge applied it before the fast path (decode the snapshot on
// every delta, concatenate): the reference the new path must agree with.
func oldDelta(prev string, p *chatPayload) (next string, replace bool) {
	snap, hasSnap := messageText(p.Message)
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

func testService(t testing.TB) *Service {
	t.Helper()
	s, err := New(Config{Upstream: bridgetest.NewUpstream(), Store: bridgetest.NewStore(), Publisher: bridgetest.NewRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestRun(id string) *run {
	return &run{id: id, key: "agent:main:clawchat:u:c", userID: "u", convID: "c", tools: map[string]*toolState{}}
}

func msgJSON(text string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text}}, "timestamp": 1795275301719})
	return b
}

// checkAgainstOld applies p to r with the new path and to oldText with the reference rule and
// fails on any difference in the text or the replace flag.
func checkAgainstOld(t *testing.T, s *Service, r *run, oldText *string, p *chatPayload, what string) {
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
		var p chatPayload
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
		if p.DeltaText != nil && !p.Replace && snapshotIs(p.Message, runs[id].text, *p.DeltaText) {
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
				p := &chatPayload{DeltaText: st.delta, Replace: st.replace, Message: st.msg}
				checkAgainstOld(t, s, r, &old, p, name+" step "+string(rune('0'+i)))
			}
		})
	}
}

var naiveText = regexp.MustCompile(`"(?i:text|content)"\s*:\s*"((?:[^"\\]|\\.)*)"`)

// snapshotIs never claims a text that messageText would not produce; and on the shape the
// Gateway sends it does prove the text.
func FuzzSnapshotIs(f *testing.F) {
	for _, s := range []string{
		`{"role":"assistant","content":[{"type":"text","text":"Echo: hi"}],"timestamp":1}`,
		`{"content":"Echo: hi"}`,
		`{"content":[],"text":"Echo: hi"}`,
		`{"content":[{"type":"text","text":"Echo:"},{"type":"text","text":" hi"}]}`,
		`{"content":[{"type":"text","text":"Echo: h\u0069"}]}`,
		`{"content":[{"type":"text","text":"\ud83d\ude00"}]}`,
		`{"content":[{"Type":"text","text":"Echo: hi"}]}`,
		`{"content":[{"type":"text","text":"Echo:"}],"content":" hi","text":"x"}`,
		`{"text":"Echo: hi","content":[{"type":"text","text":""},{"type":"thinking","text":"y"}]}`,
		`{"content":[{"type":"text","text":"Echo: hi","Text":"z"},null]}`,
	} {
		f.Add([]byte(s), "Echo:", " hi")
	}
	f.Fuzz(func(t *testing.T, raw []byte, prev, delta string) {
		if snapshotIs(raw, prev, delta) { // must not panic on anything
			if !json.Valid(raw) {
				return // outside the contract: callers pass json.RawMessage from encoding/json
			}
			if text, ok := messageText(raw); !ok || text != prev+delta {
				t.Fatalf("snapshotIs(%s, %q, %q) but messageText = %q, %v", raw, prev, delta, text, ok)
			}
		}
		// Targets a sloppy scanner would accept: every "text" string value, all of them joined.
		if json.Valid(raw) {
			var all strings.Builder
			for _, m := range naiveText.FindAllSubmatch(raw, -1) {
				var v string
				if json.Unmarshal(append(append([]byte{'"'}, m[1]...), '"'), &v) != nil {
					continue
				}
				all.WriteString(v)
				for _, target := range []string{v, all.String()} {
					cut := len(prev) % (len(target) + 1)
					if snapshotIs(raw, target[:cut], target[cut:]) {
						if text, ok := messageText(raw); !ok || text != target {
							t.Fatalf("snapshotIs(%s, %q, %q) but messageText = %q, %v", raw, target[:cut], target[cut:], text, ok)
						}
					}
				}
			}
		}
		// Completeness on the Gateway's shape, for any text.
		if !strings.ContainsRune(prev+delta, '\uFFFD') && strings.ToValidUTF8(prev+delta, "") == prev+delta {
			if m := msgJSON(prev + delta); !snapshotIs(m, prev, delta) {
				t.Fatalf("snapshotIs(%s, %q, %q) = false", m, prev, delta)
			}
		}
	})
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
	if n := testing.AllocsPerRun(100, func() { snapshotIs(m, r.text, "w") }); n != 0 {
		t.Fatalf("snapshotIs allocates %.0f times", n)
	}
}

// A reconcile that replaces the run text while a delta is being decided is not overwritten with a
// decision based on the old text.
func TestDeltaAfterReconcileSetText(t *testing.T) {
	s := testService(t)
	r := newTestRun("r")
	old := ""
	checkAgainstOld(t, s, r, &old, &chatPayload{DeltaText: strp("ab"), Message: msgJSON("ab")}, "first")
	s.mu.Lock()
	r.setText("from history")
	s.mu.Unlock()
	old = "from history"
	checkAgainstOld(t, s, r, &old, &chatPayload{DeltaText: strp("c"), Message: msgJSON("abc")}, "after reconcile")
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
func (s *Service) oldHandleChat(payload json.RawMessage) {
	var p chatPayload
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
	snap, hasSnap := messageText(p.Message)
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
// through HandleGatewayEvent; "old" is the previous path (decode every snapshot, concatenate) in
// the same binary. ns/delta is the cost per Gateway delta event.
func BenchmarkHandleEvent(b *testing.B) {
	for _, n := range []int{100, 2000} {
		for _, impl := range []string{"old", "new"} {
			b.Run(impl+"/deltas="+itoa(n), func(b *testing.B) {
				pub := &discard{}
				st := bridgetest.NewStore()
				s, err := New(Config{Upstream: bridgetest.NewUpstream(), Store: st, Publisher: pub})
				if err != nil {
					b.Fatal(err)
				}
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
							s.HandleGatewayEvent("chat", ev)
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

// Shapes where a naive scan (first "content", exact keys, raw bytes) would see prev+delta but
// encoding/json decodes another text: snapshotIs must not prove them. Each case checks that it
// is meaningful (messageText really differs), and the Gateway's own shapes are proven.
func TestSnapshotIsExactness(t *testing.T) {
	const prev, delta = "ab", "c"
	notProven := []string{
		`{"content":[{"type":"text","text":"abc"}],"Content":[{"type":"text","text":"xy"}]}`,
		`{"content":[{"type":"text","text":"abc"}],"content":[{"type":"text","text":"xy"}]}`,
		`{"content":[{"type":"text","text":"abc","Text":"xy"}]}`,
		`{"content":[{"type":"text","text":"abc","TYPE":"thinking"}]}`,
		`{"content":[{"type":"text","text":"abc","type":"canvas"}]}`,
		`{"content":[{"type":"text","text":"abc","te\u0078t":"xy"}]}`,
		`{"content":[{"type":"text","text":"abc","name":1}]}`,
		`{"content":[{"type":"text","text":"abc"},1]}`,
		`{"content":[{"type":"text","text":"abc"}],"text":1}`,
		`{"content":[{"type":"text","text":"ab\ud800c"}]}`,
		"{\"content\":[{\"type\":\"text\",\"text\":\"ab\xffc\"}]}",
		`{"content":[{"type":"text","text":"abcd"}]}`,
		`{"content":[{"type":"text","text":"ab"}]}`,
		`{"content":[{"type":"text","text":"abx"}]}`,
		`{"content":[{"type":"thinking","text":"abc"}]}`,
		`{"content":[],"text":"xy"}`,
		`"abc"`,
		`null`,
		``,
	}
	for _, raw := range notProven {
		if text, ok := messageText(json.RawMessage(raw)); ok && text == prev+delta {
			t.Fatalf("test case %s is not discriminating: messageText gives %q", raw, text)
		}
		if snapshotIs([]byte(raw), prev, delta) {
			t.Errorf("snapshotIs(%s) = true", raw)
		}
	}
	proven := []string{
		`{"role":"assistant","content":[{"type":"text","text":"abc"}],"timestamp":1795275301719}`,
		` { "content" : [ { "type" : "text" , "text" : "a\u0062c" } ] } `,
		`{"content":[{"type":"text","text":"a"},{"type":"canvas","url":"x"},{"type":"text","text":"bc"}]}`,
		`{"content":[{"text":"abc","type":"text","arguments":{"k":["}",1,null]}}],"meta":{"a":[{}]}}`,
		`{"content":"abc"}`,
		`{"content":null,"text":"abc"}`,
		`{"text":"abc"}`,
		`{"content":[{"type":"text","text":""}],"text":"abc"}`,
	}
	for _, raw := range proven {
		if text, ok := messageText(json.RawMessage(raw)); !ok || text != prev+delta {
			t.Fatalf("test case %s is wrong: messageText gives %q, %v", raw, text, ok)
		}
		if !snapshotIs([]byte(raw), prev, delta) {
			t.Errorf("snapshotIs(%s) = false", raw)
		}
	}
}

// decodeChat gives what json.Unmarshal gives, for the real Gateway payloads and for payloads
// built to trip a splitter.
func TestDecodeChatMatchesUnmarshal(t *testing.T) {
	b, err := os.ReadFile("testdata/gateway-chat-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var payloads [][]byte
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var rec struct {
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, rec.Payload)
	}
	long := `{"role":"assistant","content":[{"type":"text","text":"` + strings.Repeat("x", 100) + `"}]}`
	for _, s := range []string{
		`{"runId":"r","sessionKey":"k","state":"delta","deltaText":"x","message":` + long + `}`,
		`{"message":` + long + `,"runId":"r","sessionKey":"k","state":"delta","deltaText":"x"}`,
		` { "runId" : "r" , "message" : ` + long + ` , "state" : "delta" } `,
		`{"runId":"r","message":` + long + `,"Message":"other"}`,
		`{"runId":"r","MESSAGE":` + long + `,"message":null}`,
		`{"runId":"r","message":` + long + `,"message":` + long + `}`,
		`{"runId":"r","m\u0065ssage":` + long + `}`,
		`{"runId":"r","message":` + long + `,"replace":"yes"}`,
		`{"runId":"r","message":"` + strings.Repeat("\\\"", 50) + `"}`,
		`{"runId":"r","message":[` + long + `,1,"]}"]}`,
		`{"runId":"r","message":` + long + `,"runId":"s"}`,
		`[` + long + `]`,
	} {
		payloads = append(payloads, []byte(s))
	}
	for _, p := range payloads {
		checkDecodeChat(t, p)
	}
}

func checkDecodeChat(t *testing.T, payload []byte) {
	t.Helper()
	var want, got chatPayload
	wantErr := json.Unmarshal(payload, &want)
	gotErr := decodeChat(payload, &got)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%s: decodeChat error %v, json.Unmarshal error %v", payload, gotErr, wantErr)
	}
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(wj) != string(gj) || string(want.Message) != string(got.Message) {
		t.Fatalf("%s:\ndecodeChat   %s\njson.Unmarshal %s", payload, gj, wj)
	}
}

func FuzzDecodeChat(f *testing.F) {
	long := strings.Repeat("y", 70)
	f.Add(`{"runId":"r","sessionKey":"k","state":"delta","deltaText":"x","message":{"content":[{"type":"text","text":"` + long + `"}]}}`)
	f.Add(`{"runId":"r","Message":{"a":"` + long + `"},"message":{"b":"` + long + `"}}`)
	f.Fuzz(func(t *testing.T, payload string) {
		if json.Valid([]byte(payload)) {
			checkDecodeChat(t, []byte(payload))
		} else {
			var p chatPayload
			_ = decodeChat([]byte(payload), &p) // must not panic
		}
	})
}
