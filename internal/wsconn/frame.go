package wsconn

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	// opFail is not on the wire: the parser emits it (payload: a close frame's payload) for a
	// violation that leaves the byte stream in sync (1003, 1007, 1009), then keeps parsing and
	// discards data frames, so that the peer's close frame is still seen.
	opFail = 0x100
)

// StatusCode is a WebSocket close status code (RFC 6455 §7.4).
type StatusCode uint16

// Close codes used by this package and its callers.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002
	StatusUnsupportedData StatusCode = 1003
	StatusNoStatus        StatusCode = 1005 // never sent: "the close frame had no code"
	StatusInvalidPayload  StatusCode = 1007
	StatusPolicyViolation StatusCode = 1008
	StatusMessageTooBig   StatusCode = 1009
	StatusInternalError   StatusCode = 1011
	StatusServiceRestart  StatusCode = 1012
)

// CloseError is a close handshake: the code and reason a peer sent, or the code and reason this
// side closed with after a protocol violation.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("wsconn: close %d %q", e.Code, e.Reason)
}

func protocolError(reason string) *CloseError {
	return &CloseError{Code: StatusProtocolError, Reason: reason}
}

// validReceivedCode reports whether a peer may send code in a close frame (RFC 6455 §7.4).
func validReceivedCode(code StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// parser is the server side of the RFC 6455 framing layer as a streaming state machine: feed it
// the bytes read from the socket in chunks of any size and it emits complete messages and
// control frames. It never allocates more than what was received (a length in a header is
// checked against the limit but never used to size a buffer), and it holds no buffer between
// messages, so an idle connection's parser is a few dozen bytes.
//
// It is not safe for concurrent use; a connection feeds it from one goroutine at a time.
type parser struct {
	limit int64 // maximum message size (sum of its fragments)

	hdr  [14]byte // the frame header being gathered
	hdrN uint8    // bytes of hdr gathered so far

	inFrame  bool   // a header was parsed; payload bytes follow
	fin      bool   // of the current frame
	op       byte   // of the current frame
	remain   uint64 // payload bytes of the current frame still to come
	whole    bool   // the current frame's payload has not been split across chunks (so far)
	key      [4]byte
	keyPos   uint8
	msgOp    byte   // opcode of the fragmented message in progress (0: none)
	msg      []byte // the data message being assembled (nil while none)
	ctrl     []byte // a control payload split across chunks
	failed   *CloseError
	closeGot bool // a close frame was received; nothing after it is parsed
	// drain: a violation that keeps the stream in sync was reported (opFail); data frames are
	// now skipped unread (no limit, order or UTF-8 checks), control frames still parsed.
	drain bool
}

// emitFunc receives a complete text message (op = opText), a control frame (opClose, opPing,
// opPong), or opFail with the close payload of a violation after which the stream is still in
// sync. payload is valid only during the call. A non-nil error stops parsing and is returned
// by feed.
type emitFunc func(op int, payload []byte) error

// feed parses b (which it unmasks in place). It returns the first violation that loses the
// frame boundaries (1002, or any violation inside a close frame) as a *CloseError, or an error
// from emit. Violations that keep the stream in sync (1003, 1007, 1009 in data frames) are
// emitted as opFail once; parsing goes on in drain mode.
func (p *parser) feed(b []byte, emit emitFunc) error {
	if p.failed != nil {
		return p.failed
	}
	for len(b) > 0 && !p.closeGot {
		if !p.inFrame {
			var err error
			if b, err = p.header(b); err != nil {
				if err := p.violation(err, emit); err != nil {
					return err
				}
				continue
			}
			if !p.inFrame {
				return nil // need more header bytes
			}
			if p.remain > 0 {
				continue
			}
			// An empty payload completes at once.
			if err := p.complete(nil, emit); err != nil {
				if err := p.violation(err, emit); err != nil {
					return err
				}
			}
			continue
		}
		n := uint64(len(b))
		if n > p.remain {
			n = p.remain
		}
		chunk := b[:n]
		b = b[n:]
		if p.drain && p.op < opClose {
			// Skipped unread: only the frame boundaries matter now.
			p.remain -= n
			p.inFrame = p.remain > 0
			continue
		}
		p.unmask(chunk)
		p.remain -= n
		if p.remain > 0 {
			// Split across chunks: keep what came so far.
			p.whole = false
			if p.op >= opClose {
				p.ctrl = append(p.ctrl, chunk...)
			} else {
				p.msg = append(p.msg, chunk...)
			}
			continue
		}
		if err := p.complete(chunk, emit); err != nil {
			if err := p.violation(err, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// violation handles a violation found by header or complete. One that leaves the stream in
// sync (a *CloseError other than 1002, outside a close frame) is emitted as opFail the first
// time and turns on drain mode; the current frame, if any, is then skipped. Anything else is
// returned, and the parser fails for good.
func (p *parser) violation(err error, emit emitFunc) error {
	ce, ok := err.(*CloseError)
	if !ok || p.closeGot || ce.Code == StatusProtocolError {
		return p.fail(err)
	}
	p.msg, p.msgOp, p.ctrl = nil, 0, nil
	if p.drain {
		return nil
	}
	p.drain = true
	return emit(opFail, closePayload(ce.Code, ce.Reason))
}

func (p *parser) fail(err error) error {
	if ce, ok := err.(*CloseError); ok {
		p.failed = ce
	}
	p.msg, p.ctrl = nil, nil
	return err
}

// header gathers and validates a frame header from b, returning the rest of b.
func (p *parser) header(b []byte) ([]byte, error) {
	if p.hdrN < 2 {
		n := copy(p.hdr[p.hdrN:2], b)
		p.hdrN += uint8(n)
		b = b[n:]
		if p.hdrN < 2 {
			return b, nil
		}
		b0, b1 := p.hdr[0], p.hdr[1]
		if b0&0x70 != 0 {
			return b, protocolError("reserved bits set")
		}
		if b1&0x80 == 0 {
			return b, protocolError("client frames must be masked")
		}
		op := b0 & 0x0F
		switch op {
		case opContinuation:
			if p.msgOp == 0 && !p.drain {
				return b, protocolError("continuation without a message")
			}
		case opText, opBinary:
			if p.msgOp != 0 && !p.drain {
				return b, protocolError("new message inside a fragmented one")
			}
		case opClose, opPing, opPong:
			if b0&0x80 == 0 {
				return b, protocolError("fragmented control frame")
			}
			if b1&0x7F > 125 {
				return b, protocolError("control frame too long")
			}
		default:
			return b, protocolError("unknown opcode")
		}
	}
	total := uint8(2 + 4)
	switch p.hdr[1] & 0x7F {
	case 126:
		total += 2
	case 127:
		total += 8
	}
	n := copy(p.hdr[p.hdrN:total], b)
	p.hdrN += uint8(n)
	b = b[n:]
	if p.hdrN < total {
		return b, nil
	}
	var length uint64
	switch l := p.hdr[1] & 0x7F; l {
	case 126:
		length = uint64(binary.BigEndian.Uint16(p.hdr[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(p.hdr[2:10])
		if length>>63 != 0 {
			return b, protocolError("invalid payload length")
		}
	default:
		length = uint64(l)
	}
	p.fin = p.hdr[0]&0x80 != 0
	p.op = p.hdr[0] & 0x0F
	tooBig := !p.drain && p.op < opClose && length > uint64(p.limit)-uint64(len(p.msg))
	copy(p.key[:], p.hdr[total-4:total])
	p.keyPos = 0
	p.remain = length
	p.whole = true
	p.inFrame = true
	p.hdrN = 0
	if tooBig {
		// The frame is set up so that its payload can be skipped (drain mode).
		return b, &CloseError{Code: StatusMessageTooBig, Reason: "message too big"}
	}
	return b, nil
}

func (p *parser) unmask(b []byte) {
	k := p.keyPos
	i := 0
	// Unmask byte-wise until aligned to the key, then 8 bytes at a time.
	for ; i < len(b) && k != 0; i++ {
		b[i] ^= p.key[k]
		k = (k + 1) & 3
	}
	if len(b)-i >= 8 {
		k32 := binary.LittleEndian.Uint32(p.key[:])
		k64 := uint64(k32) | uint64(k32)<<32
		for ; len(b)-i >= 8; i += 8 {
			v := binary.LittleEndian.Uint64(b[i:])
			binary.LittleEndian.PutUint64(b[i:], v^k64)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= p.key[k]
		k = (k + 1) & 3
	}
	p.keyPos = k
}

// complete finishes the current frame; last is its final piece (unmasked).
func (p *parser) complete(last []byte, emit emitFunc) error {
	p.inFrame = false
	if p.op >= opClose {
		payload := last
		if !p.whole {
			payload = append(p.ctrl, last...)
		}
		p.ctrl = nil
		if p.op == opClose {
			p.closeGot = true
			if len(payload) == 1 {
				return protocolError("invalid close payload")
			}
			if len(payload) >= 2 {
				code := StatusCode(binary.BigEndian.Uint16(payload))
				if !validReceivedCode(code) {
					return protocolError("invalid close code")
				}
				if !utf8.Valid(payload[2:]) {
					return &CloseError{Code: StatusInvalidPayload, Reason: "invalid close reason"}
				}
			}
		}
		return emit(int(p.op), payload)
	}
	if p.op != opContinuation {
		p.msgOp = p.op
	}
	var msg []byte
	switch {
	case p.fin && p.whole && len(p.msg) == 0:
		msg = last // the whole message is in this chunk: no copy
	default:
		p.msg = append(p.msg, last...)
		msg = p.msg
	}
	if !p.fin {
		return nil
	}
	op := p.msgOp
	p.msgOp = 0
	p.msg = nil
	if op != opText {
		return &CloseError{Code: StatusUnsupportedData, Reason: "text frames only"}
	}
	if !utf8.Valid(msg) {
		return &CloseError{Code: StatusInvalidPayload, Reason: "invalid UTF-8"}
	}
	return emit(opText, msg)
}

// appendFrame appends a final, unmasked server frame with the given opcode and payload.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = appendHeader(dst, op, len(payload))
	return append(dst, payload...)
}

// appendHeader appends the header of a final, unmasked server frame.
func appendHeader(dst []byte, op byte, n int) []byte {
	b0 := 0x80 | op
	switch {
	case n <= 125:
		return append(dst, b0, byte(n))
	case n <= 0xFFFF:
		return append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// closePayload is the payload of a close frame with code and reason (truncated to fit 125 bytes
// on a UTF-8 boundary).
func closePayload(code StatusCode, reason string) []byte {
	if code == 0 || code == StatusNoStatus {
		return nil
	}
	for len(reason) > 123 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return append(b, reason...)
}
