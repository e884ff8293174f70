package gateway

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeFrame feeds arbitrary inbound data through frame decoding, error conversion,
// seq tracking and payload decoding: nothing may panic, and accepted frames must be
// well-formed.
func FuzzDecodeFrame(f *testing.F) {
	seeds := []string{
		`{"type":"event","event":"connect.challenge","payload":{"nonce":"n","ts":1}}`,
		`{"type":"res","id":"r1","ok":true,"payload":{"runId":"a","status":"started"}}`,
		`{"type":"res","id":"r1","ok":false,"error":{"code":"NOT_PAIRED","message":"m","details":{"code":"PAIRING_REQUIRED","requestId":"x"},"retryAfterMs":500}}`,
		`{"type":"res","id":"r1","ok":false}`,
		`{"type":"event","event":"agent","seq":3,"payload":{"runId":"r","seq":2,"stream":"lifecycle","data":{"phase":"end"}}}`,
		`{"type":"event","event":"chat","seq":4,"payload":{"runId":"r","sessionKey":"k","seq":2,"state":"delta","deltaText":"x","message":{"role":"assistant","content":[{"type":"text","text":"x"}]}}}`,
		`{"type":"event","event":"shutdown","payload":{"reason":"r","restartExpectedMs":1500}}`,
		`{"type":"event","event":"x","seq":-5}`,
		`{"type":"req","id":"1","method":"m"}`,
		`[]`, `null`, `"str"`, `{`, ``, "{\"type\":\"event\",\"event\":\"\xff\"}",
		`{"type":"event","event":"agent","payload":{"runId":"r","seq":1e300}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeFrame(data)
		if err != nil {
			if fr != nil {
				t.Fatal("frame returned with error")
			}
			return
		}
		switch fr.Type {
		case frameRes:
			if fr.ID == "" {
				t.Fatal("response without id accepted")
			}
			if !fr.OK {
				if fr.Error == nil {
					t.Fatal("error response without error shape")
				}
				e := fr.Error.toError("m", func(s string) string { return s })
				_ = e.Error()
				_ = e.PairingRequestID()
			}
		case frameEvent:
			if fr.Event == "" {
				t.Fatal("event without name accepted")
			}
			var tr seqTracker
			ev, _ := tr.process(fr.Event, fr.Seq, fr.Payload)
			if fr.Seq != nil && ev.Seq != *fr.Seq {
				t.Fatal("seq not carried")
			}
			_, _ = tr.process(fr.Event, fr.Seq, fr.Payload)
			if ce, err := DecodeChatEvent(fr.Payload); err == nil {
				_, _ = ce.MessageText()
				_ = ce.Terminal()
			}
			if ae, err := DecodeAgentEvent(fr.Payload); err == nil {
				_ = ae.Phase()
				var v map[string]any
				_ = ae.DecodeData(&v)
			}
			var ch challengePayload
			_ = json.Unmarshal(fr.Payload, &ch)
		default:
			t.Fatalf("unexpected frame type %q accepted", fr.Type)
		}
	})
}
