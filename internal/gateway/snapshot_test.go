package gateway

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Moved from the bridge with the scanner: SnapshotIs and UnmarshalChatEvent agree with
// encoding/json (SnapshotText, json.Unmarshal).

func msgJSON(text string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text}}, "timestamp": 1795275301719})
	return b
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
		if SnapshotIs(raw, prev, delta) { // must not panic on anything
			if !json.Valid(raw) {
				return // outside the contract: callers pass json.RawMessage from encoding/json
			}
			if text, ok := SnapshotText(raw); !ok || text != prev+delta {
				t.Fatalf("SnapshotIs(%s, %q, %q) but messageText = %q, %v", raw, prev, delta, text, ok)
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
					if SnapshotIs(raw, target[:cut], target[cut:]) {
						if text, ok := SnapshotText(raw); !ok || text != target {
							t.Fatalf("SnapshotIs(%s, %q, %q) but messageText = %q, %v", raw, target[:cut], target[cut:], text, ok)
						}
					}
				}
			}
		}
		// Completeness on the Gateway's shape, for any text.
		if !strings.ContainsRune(prev+delta, '\uFFFD') && strings.ToValidUTF8(prev+delta, "") == prev+delta {
			if m := msgJSON(prev + delta); !SnapshotIs(m, prev, delta) {
				t.Fatalf("SnapshotIs(%s, %q, %q) = false", m, prev, delta)
			}
		}
	})
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
		if text, ok := SnapshotText(json.RawMessage(raw)); ok && text == prev+delta {
			t.Fatalf("test case %s is not discriminating: messageText gives %q", raw, text)
		}
		if SnapshotIs([]byte(raw), prev, delta) {
			t.Errorf("SnapshotIs(%s) = true", raw)
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
		if text, ok := SnapshotText(json.RawMessage(raw)); !ok || text != prev+delta {
			t.Fatalf("test case %s is wrong: messageText gives %q, %v", raw, text, ok)
		}
		if !SnapshotIs([]byte(raw), prev, delta) {
			t.Errorf("SnapshotIs(%s) = false", raw)
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
	var want, got ChatEvent
	wantErr := json.Unmarshal(payload, &want)
	gotErr := UnmarshalChatEvent(payload, &got)
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
			var p ChatEvent
			_ = UnmarshalChatEvent([]byte(payload), &p) // must not panic
		}
	})
}
