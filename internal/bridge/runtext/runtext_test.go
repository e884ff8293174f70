package runtext

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/gateway"
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

func newTestRun(string) *Content { return &Content{} }

func msgJSON(text string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text}}, "timestamp": 1795275301719})
	return b
}

// checkAgainstOld applies p to r with the new path and to oldText with the reference rule and
// fails on any difference in the text or the replace flag.
func checkAgainstOld(t *testing.T, r *Content, oldText *string, p *gateway.ChatEvent, what string) {
	t.Helper()
	prev, next, replace, _ := r.ApplyDelta(p)
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
	runs := map[string]*Content{}
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
		checkAgainstOld(t, runs[id], old[id], &p, rec.Source+" line "+sc.Text()[:min(80, len(sc.Text()))])
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
			r := newTestRun("r")
			old := ""
			for i, st := range steps {
				p := &gateway.ChatEvent{DeltaText: st.delta, Replace: st.replace, Message: st.msg}
				checkAgainstOld(t, r, &old, p, name+" step "+string(rune('0'+i)))
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
	if r.text != "xy" || r.buf.String() != "xy" {
		t.Fatalf("text = %q, buffer %q", r.text, r.buf.String())
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
	r := newTestRun("r")
	old := ""
	checkAgainstOld(t, r, &old, &gateway.ChatEvent{DeltaText: strp("ab"), Message: msgJSON("ab")}, "first")
	r.SetText("from history")
	old = "from history"
	checkAgainstOld(t, r, &old, &gateway.ChatEvent{DeltaText: strp("c"), Message: msgJSON("abc")}, "after reconcile")
	if r.text != "abc" {
		t.Fatalf("text = %q", r.text)
	}
}
