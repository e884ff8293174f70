package gateway

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the delta hot path: proving that a chat delta's cumulative snapshot is the run
// text plus the increment without decoding the snapshot, and growing the run text in place.
//
// The Gateway sends every chat delta with the whole reply so far (message, about 1.3 KB on average
// and up to the size of the reply), and the rule of openclaw-protocol.md §4.2 compares it with the
// previous text and the increment. Decoding it with encoding/json on every delta (reflection, a
// []ContentBlock, a string per block, the concatenation) made the delta the most expensive event in the
// bridge, and `prev + deltaText` made a run O(n²) in its length. SnapshotIs answers the one
// question the rule asks on the common path, "is the snapshot's text exactly prev+delta?", by
// scanning the raw JSON once, comparing its text pieces against prev and delta in place, with no
// allocation. It says yes only when encoding/json (SnapshotText) would give exactly that text; on
// anything else — a different text, a shape it does not model exactly (escaped or case-folded
// keys, duplicate keys, wrong types, invalid UTF-8, lone surrogates) — it says no and the caller
// decodes the snapshot as before. So every delta is still checked against its snapshot: the rule's
// outcome is the same as decoding every snapshot, only cheaper when the snapshot agrees.
//
// Why not skip the check by the per-run seq (decode only after a gap)? On the real Gateway the
// chat seq is the agent event seq: consecutive deltas jump whenever tool, usage or lifecycle
// events interleave (11-chat-send-stream: seq 11 → 16 for the last delta of a run, flushed after
// the lifecycle end), and coalesced deltas keep the latest seq. A seq rule would decode often on
// real runs and, worse, would let a divergent snapshot with a consecutive seq go unnoticed until
// final. The exact check costs about as much as one scan of the snapshot.

// SnapshotIs reports whether raw, a chat event's message snapshot, has the visible text prev+delta
// exactly as SnapshotText would decode it (SnapshotText(raw) == (prev+delta, true)). false means
// "not proven" (different text, absent, or a shape outside the exactly modelled subset). raw must
// be valid JSON or empty, as a json.RawMessage field filled by encoding/json is; the scanner checks
// structure only as far as it needs to.
func SnapshotIs(raw []byte, prev, delta string) bool {
	sc := jsonScan{b: raw}
	sc.ws()
	if !sc.eat('{') {
		return false
	}
	// One pass over the top-level object: content's text pieces are compared as they come; "text"
	// (used only when content has no text) is remembered and compared at the end.
	m := matcher{a: prev, b: delta}
	text := span{-1, -1}
	contentSeen, textSeen := false, false
	sc.ws()
	if !sc.eat('}') {
		for {
			sc.ws()
			k, ok := sc.key()
			if !ok {
				return false
			}
			sc.ws()
			switch {
			case string(k) == "content":
				if contentSeen {
					return false
				}
				contentSeen = true
				switch sc.peek() {
				case '"':
					s, ok := sc.str()
					if !ok || !m.feedJSON(raw[s.start:s.end]) {
						return false
					}
				case '[':
					if !blocksText(&sc, &m) {
						return false
					}
				case 'n':
					if !sc.literal("null") { // null content: no text
						return false
					}
				default:
					return false // an object or a scalar: ContentParts gives "", not modelled
				}
			case string(k) == "text":
				if textSeen {
					return false
				}
				textSeen = true
				switch {
				case sc.peek() == '"':
					s, ok := sc.str()
					if !ok {
						return false
					}
					text = s
				case sc.literal("null"):
				default:
					return false // a non-string text fails encoding/json's decoding
				}
			case foldsTo(k, "content", "text"):
				return false // encoding/json matches keys case-insensitively
			default:
				if !sc.skipValue() {
					return false
				}
			}
			sc.ws()
			if sc.eat('}') {
				break
			}
			if !sc.eat(',') {
				return false
			}
		}
	}
	sc.ws()
	if sc.i != len(sc.b) {
		return false
	}
	if m.pos == 0 && text.start >= 0 { // no content text: SnapshotText falls back to "text"
		if !m.feedJSON(raw[text.start:text.end]) {
			return false
		}
	}
	return m.done()
}

// UnmarshalChatEvent decodes a chat event payload exactly as json.Unmarshal into ChatEvent would, except
// that encoding/json does not scan the message snapshot (the bulk of a delta): the payload is
// split at the top-level "message" value, the rest is decoded with encoding/json, and Message is
// the value's bytes in payload (not copied: p must not outlive payload's use). payload must be
// valid JSON, as the Gateway client's event payloads are (json.RawMessage from its frame decoding);
// routing fields (runId, sessionKey) always come from encoding/json. Payloads with an escaped,
// case-folded or repeated "message" key are decoded by json.Unmarshal as a whole.
func UnmarshalChatEvent(payload []byte, p *ChatEvent) error {
	start, end, ok := messageSpan(payload)
	if !ok || end-start < 64 { // small or irregular: not worth splitting
		return json.Unmarshal(payload, p)
	}
	rest := make([]byte, 0, len(payload)-(end-start)+4)
	rest = append(rest, payload[:start]...)
	rest = append(rest, "null"...)
	rest = append(rest, payload[end:]...)
	err := json.Unmarshal(rest, p)
	p.Message = payload[start:end]
	return err
}

// messageSpan finds the value of the one top-level "message" key of a JSON object.
func messageSpan(b []byte) (start, end int, ok bool) {
	sc := jsonScan{b: b}
	sc.ws()
	if !sc.eat('{') {
		return 0, 0, false
	}
	start = -1
	sc.ws()
	if sc.eat('}') {
		return 0, 0, false
	}
	for {
		sc.ws()
		k, ok := sc.key()
		if !ok {
			return 0, 0, false
		}
		sc.ws()
		vs := sc.i
		if !sc.skipValue() {
			return 0, 0, false
		}
		switch {
		case string(k) == "message":
			if start >= 0 {
				return 0, 0, false
			}
			start, end = vs, sc.i
		case foldsTo(k, "message"):
			return 0, 0, false
		}
		sc.ws()
		if sc.eat('}') {
			break
		}
		if !sc.eat(',') {
			return 0, 0, false
		}
	}
	sc.ws()
	if sc.i != len(sc.b) || start < 0 {
		return 0, 0, false
	}
	return start, end, true
}

// blocksText feeds the text of the "text" blocks of a content array to m, in order. It returns
// false on a mismatch or on anything that would make encoding/json's []ContentBlock decoding fail or
// differ (wrong field types, escaped, case-folded or duplicate keys).
func blocksText(c *jsonScan, m *matcher) bool {
	if !c.eat('[') {
		return false
	}
	c.ws()
	if c.eat(']') {
		return true
	}
	for {
		c.ws()
		switch {
		case c.literal("null"): // a null element decodes to a zero block
		case c.peek() == '{':
			c.i++
			typ, text := span{-1, -1}, span{-1, -1}
			typNull, textNull := false, false
			c.ws()
			if !c.eat('}') {
				for {
					c.ws()
					k, ok := c.key()
					if !ok {
						return false
					}
					c.ws()
					switch {
					case string(k) == "type" || string(k) == "text" || string(k) == "thinking" || string(k) == "id" || string(k) == "name":
						var s span
						null := false
						if c.peek() == '"' {
							if s, ok = c.str(); !ok {
								return false
							}
						} else if c.literal("null") {
							null = true
						} else {
							return false // a non-string fails the whole []ContentBlock decoding
						}
						switch string(k) {
						case "type":
							if typ.start >= 0 || typNull {
								return false
							}
							typ, typNull = s, null
						case "text":
							if text.start >= 0 || textNull {
								return false
							}
							text, textNull = s, null
						}
					case string(k) == "arguments" || string(k) == "input": // json.RawMessage: any value
						if !c.skipValue() {
							return false
						}
					case foldsTo(k, "type", "text", "thinking", "id", "name", "arguments", "input"):
						return false
					default:
						if !c.skipValue() {
							return false
						}
					}
					c.ws()
					if c.eat('}') {
						break
					}
					if !c.eat(',') {
						return false
					}
				}
			}
			if typ.start >= 0 {
				t := c.b[typ.start:typ.end]
				if bytes.IndexByte(t, '\\') >= 0 {
					return false // an escaped type could still spell "text"
				}
				if string(t) == "text" && text.start >= 0 && !m.feedJSON(c.b[text.start:text.end]) {
					return false
				}
			}
		default:
			return false // a non-object element fails the whole []ContentBlock decoding
		}
		c.ws()
		if c.eat(']') {
			return true
		}
		if !c.eat(',') {
			return false
		}
	}
}

// foldsTo reports whether key matches one of names case-insensitively (the way encoding/json
// matches struct fields) without being equal to it, or could do so through non-ASCII folding.
func foldsTo(key []byte, names ...string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return true // e.g. the Kelvin sign folds to k; not worth modelling
		}
	}
	for _, n := range names {
		if strings.EqualFold(string(key), n) {
			return true
		}
	}
	return false
}

// span is a byte range of the scanned JSON; for strings, the raw (escaped) bytes between quotes.
type span struct{ start, end int }

// jsonScan is a minimal forward scanner over one JSON value. It never panics on malformed input;
// it reports failure instead.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScan) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jsonScan) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// str scans a string at s.i and returns the span of its raw contents. It finds the closing
// quote with bytes.IndexByte (the input is valid JSON, so a quote preceded by an even number of
// backslashes ends the string).
func (s *jsonScan) str() (span, bool) {
	if !s.eat('"') {
		return span{}, false
	}
	start := s.i
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			return span{}, false
		}
		end := s.i + j
		k := end
		for k > start && s.b[k-1] == '\\' {
			k--
		}
		s.i = end + 1
		if (end-k)%2 == 0 {
			return span{start, end}, true
		}
	}
}

// key scans an object key and the colon after it. A key with an escape fails: it may spell a
// field name, which this scanner does not model.
func (s *jsonScan) key() ([]byte, bool) {
	sp, ok := s.str()
	if !ok {
		return nil, false
	}
	k := s.b[sp.start:sp.end]
	if bytes.IndexByte(k, '\\') >= 0 {
		return nil, false // an escaped key may spell a field name; not modelled
	}
	s.ws()
	if !s.eat(':') {
		return nil, false
	}
	return k, true
}

// skipValue skips one JSON value of any kind.
func (s *jsonScan) skipValue() bool {
	switch s.peek() {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	case 0:
		return false
	default: // number, true, false, null
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.i > start
			}
			s.i++
		}
		return s.i > start
	}
}

// matcher compares a stream of decoded bytes against a+b without building a+b.
type matcher struct {
	a, b string
	pos  int
	bad  bool
}

func (m *matcher) feed(p []byte) bool {
	for len(p) > 0 && !m.bad {
		var rest string
		if m.pos < len(m.a) {
			rest = m.a[m.pos:]
		} else if off := m.pos - len(m.a); off < len(m.b) {
			rest = m.b[off:]
		} else {
			m.bad = true
			break
		}
		n := min(len(p), len(rest))
		if string(p[:n]) != rest[:n] {
			m.bad = true
			break
		}
		m.pos += n
		p = p[n:]
	}
	return !m.bad
}

func (m *matcher) done() bool { return !m.bad && m.pos == len(m.a)+len(m.b) }

// feedJSON decodes the raw contents of a JSON string the way encoding/json does and feeds them to
// m. It fails (returns false) on a mismatch and on what encoding/json would replace with U+FFFD
// (invalid UTF-8, unpaired surrogates), which it does not model.
func (m *matcher) feedJSON(raw []byte) bool {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\\')
		if i < 0 {
			i = len(raw)
		}
		if i > 0 {
			if !utf8.Valid(raw[:i]) {
				return false
			}
			if !m.feed(raw[:i]) {
				return false
			}
			raw = raw[i:]
			continue
		}
		// An escape.
		if len(raw) < 2 {
			return false
		}
		var c byte
		switch raw[1] {
		case '"', '\\', '/':
			c = raw[1]
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'u':
			r, ok := hex4(raw[2:])
			if !ok {
				return false
			}
			raw = raw[6:]
			if utf16.IsSurrogate(r) {
				if len(raw) < 6 || raw[0] != '\\' || raw[1] != 'u' {
					return false
				}
				r2, ok := hex4(raw[2:])
				if !ok {
					return false
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return false
				}
				raw = raw[6:]
			}
			var buf [utf8.UTFMax]byte
			if !m.feed(buf[:utf8.EncodeRune(buf[:], r)]) {
				return false
			}
			continue
		default:
			return false
		}
		if !m.feed([]byte{c}) {
			return false
		}
		raw = raw[2:]
	}
	return true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
