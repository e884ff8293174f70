package wsconn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type event struct {
	Op      int
	Payload string
}

// parseAll feeds data to a fresh parser in chunks of the given sizes (cycled; 0 means all at
// once) and returns the events and the first error.
func parseAll(limit int64, data []byte, sizes []int) ([]event, error) {
	p := parser{limit: limit}
	data = bytes.Clone(data)
	var evs []event
	emit := func(op int, payload []byte) error {
		if op == opFail {
			evs = append(evs, event{op, string(payload)})
			return nil
		}
		if int64(len(payload)) > limit {
			return fmt.Errorf("payload of %d bytes over the limit", len(payload))
		}
		evs = append(evs, event{op, string(payload)})
		return nil
	}
	i := 0
	for len(data) > 0 {
		n := len(data)
		if len(sizes) > 0 && sizes[i%len(sizes)] > 0 && sizes[i%len(sizes)] < n {
			n = sizes[i%len(sizes)]
		}
		i++
		if err := p.feed(data[:n], emit); err != nil {
			return evs, err
		}
		if int64(len(p.msg)) > limit {
			return evs, fmt.Errorf("assembled %d bytes over the limit", len(p.msg))
		}
		data = data[n:]
	}
	return evs, nil
}

func closeCode(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// violationCode is the close code of the first violation: an in-sync one reported as an
// opFail event, or the error that stopped the parser.
func violationCode(evs []event, err error) StatusCode {
	for _, e := range evs {
		if e.Op == opFail {
			return StatusCode(binary.BigEndian.Uint16([]byte(e.Payload)))
		}
	}
	return closeCode(err)
}

func TestParserViolations(t *testing.T) {
	masked := func(fin bool, op byte, p []byte) []byte { return clientFrame(fin, op, p, true) }
	for _, tc := range []struct {
		name string
		data []byte
		want StatusCode
	}{
		{"reserved bits", []byte{0xC1, 0x80, 1, 2, 3, 4}, StatusProtocolError},
		{"unmasked", clientFrame(true, opText, []byte("x"), false), StatusProtocolError},
		{"unknown opcode", masked(true, 0x3, nil), StatusProtocolError},
		{"control opcode 0xB", masked(true, 0xB, nil), StatusProtocolError},
		{"long ping", masked(true, opPing, make([]byte, 126)), StatusProtocolError},
		{"fragmented ping", masked(false, opPing, nil), StatusProtocolError},
		{"continuation first", masked(true, opContinuation, []byte("x")), StatusProtocolError},
		{"text inside fragments", append(masked(false, opText, []byte("a")), masked(true, opText, []byte("b"))...), StatusProtocolError},
		{"length msb", []byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, StatusProtocolError},
		{"huge length", []byte{0x81, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, StatusMessageTooBig},
		{"fragments over limit", append(masked(false, opText, make([]byte, 60)), masked(true, opContinuation, make([]byte, 41))...), StatusMessageTooBig},
		{"binary", masked(true, opBinary, []byte("x")), StatusUnsupportedData},
		{"bad utf-8", masked(true, opText, []byte{0xC3}), StatusInvalidPayload},
		{"one-byte close", masked(true, opClose, []byte{3}), StatusProtocolError},
		{"close code 1005", masked(true, opClose, []byte{0x03, 0xED}), StatusProtocolError},
		{"close code 999", masked(true, opClose, []byte{0x03, 0xE7}), StatusProtocolError},
		{"close reason not utf-8", masked(true, opClose, []byte{0x03, 0xE8, 0xFF}), StatusInvalidPayload},
	} {
		for _, sizes := range [][]int{nil, {1}, {3, 1}} {
			evs, err := parseAll(100, tc.data, sizes)
			if got := violationCode(evs, err); got != tc.want {
				t.Errorf("%s (chunks %v): %v, want close %d", tc.name, sizes, err, tc.want)
			}
		}
	}
}

func TestParserMessages(t *testing.T) {
	var data []byte
	data = append(data, clientFrame(true, opText, []byte("hi"), true)...)
	data = append(data, clientFrame(false, opText, []byte("fr"), true)...)
	data = append(data, clientFrame(true, opPing, []byte("p"), true)...)
	data = append(data, clientFrame(false, opContinuation, nil, true)...)
	data = append(data, clientFrame(true, opContinuation, []byte("ag"), true)...)
	data = append(data, clientFrame(true, opText, bytes.Repeat([]byte("é"), 200), true)...)
	data = append(data, clientFrame(true, opPong, nil, true)...)
	data = append(data, clientFrame(true, opClose, []byte{0x03, 0xE8, 'o', 'k'}, true)...)
	data = append(data, "ignored after close"...)
	want := []event{{opText, "hi"}, {opPing, "p"}, {opText, "frag"}, {opText, string(bytes.Repeat([]byte("é"), 200))}, {opPong, ""}, {opClose, "\x03\xe8ok"}}
	for _, sizes := range [][]int{nil, {1}, {2, 7}, {13}} {
		got, err := parseAll(1000, data, sizes)
		if err != nil {
			t.Fatalf("chunks %v: %v", sizes, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("chunks %v: (-want +got)\n%s", sizes, d)
		}
	}
}

// TestParserDrainsAfterInSyncViolation: after a violation that keeps the frame boundaries
// (1003, 1007, 1009), the parser reports it once, skips data frames (even ones that would be
// violations themselves) and still delivers the peer's control frames, above all its close.
// After a 1002 it stops for good.
func TestParserDrainsAfterInSyncViolation(t *testing.T) {
	masked := func(fin bool, op byte, p []byte) []byte { return clientFrame(fin, op, p, true) }
	tail := append(masked(true, opText, []byte("dropped")), masked(true, opBinary, []byte("also dropped"))...)
	tail = append(tail, masked(true, opContinuation, make([]byte, 300))...)
	tail = append(tail, masked(true, opPing, []byte("p"))...)
	tail = append(tail, masked(true, opClose, []byte{0x03, 0xE8})...)
	for _, tc := range []struct {
		name  string
		first []byte
		want  StatusCode
	}{
		{"too big", masked(true, opText, make([]byte, 200)), StatusMessageTooBig},
		{"too big fragmented", append(masked(false, opText, make([]byte, 60)), masked(false, opContinuation, make([]byte, 60))...), StatusMessageTooBig},
		{"binary", masked(true, opBinary, []byte("x")), StatusUnsupportedData},
		{"bad utf-8", masked(true, opText, []byte{0xC3}), StatusInvalidPayload},
	} {
		want := []event{{opFail, string(closePayload(tc.want, ""))[:2]}, {opPing, "p"}, {opClose, "\x03\xe8"}}
		for _, sizes := range [][]int{nil, {1}, {5, 2}} {
			got, err := parseAll(100, append(bytes.Clone(tc.first), tail...), sizes)
			if err != nil {
				t.Fatalf("%s (chunks %v): %v", tc.name, sizes, err)
			}
			// Compare the code only: the reason is for humans.
			if len(got) > 0 && got[0].Op == opFail {
				got[0].Payload = got[0].Payload[:2]
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s (chunks %v): (-want +got)\n%s", tc.name, sizes, d)
			}
		}
	}
	// 1002: the stream is out of sync; nothing after it is parsed.
	got, err := parseAll(100, append(clientFrame(true, opText, []byte("x"), false), tail...), nil)
	if closeCode(err) != StatusProtocolError || len(got) != 0 {
		t.Errorf("after 1002: %v, events %v", err, got)
	}
}

func TestWriteFrameHeaders(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		b := appendFrame(nil, opText, make([]byte, n))
		p := parser{limit: 1 << 20}
		// Server frames are unmasked; mask them as a client would to parse them back.
		b[1] |= 0x80
		hl := len(b) - n
		b = append(b[:hl:hl], append([]byte{0, 0, 0, 0}, b[hl:]...)...)
		var got int = -1
		if err := p.feed(b, func(op int, payload []byte) error { got = len(payload); return nil }); err != nil || got != n {
			t.Fatalf("length %d: got %d, %v", n, got, err)
		}
	}
	if p := closePayload(StatusGoingAway, string(bytes.Repeat([]byte("é"), 100))); len(p) > 125 {
		t.Fatalf("close payload of %d bytes", len(p))
	}
}

// FuzzParser checks that the parser never panics, never assembles more than the limit, and
// emits the same events whatever the split of its input into reads.
func FuzzParser(f *testing.F) {
	f.Add(clientFrame(true, opText, []byte("hello"), true), uint8(1), uint8(3))
	f.Add(append(clientFrame(false, opText, []byte("a"), true), clientFrame(true, opContinuation, []byte("b"), true)...), uint8(2), uint8(5))
	f.Add(clientFrame(true, opText, make([]byte, 300), true), uint8(7), uint8(0))
	f.Add(clientFrame(true, opClose, []byte{3, 0xe8}, true), uint8(1), uint8(1))
	f.Add([]byte{0x81, 0xFF, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4}, uint8(4), uint8(9))
	f.Fuzz(func(t *testing.T, data []byte, a, b uint8) {
		const limit = 256
		want, wantErr := parseAll(limit, data, nil)
		if wantErr != nil && closeCode(wantErr) == 0 {
			t.Fatalf("non-close error: %v", wantErr)
		}
		for _, sizes := range [][]int{{1}, {int(a), int(b)}} {
			got, err := parseAll(limit, data, sizes)
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("chunks %v: events differ (-whole +split)\n%s", sizes, d)
			}
			if closeCode(err) != closeCode(wantErr) {
				t.Fatalf("chunks %v: error %v, whole: %v", sizes, err, wantErr)
			}
		}
	})
}
