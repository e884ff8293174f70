// Package hub fans a user's events out to every connection (tab, device) of that user.
//
// Each user has a sequence-numbered replay log (a bounded ring buffer) within the process's
// epoch. A connection subscribes with the last (epoch, seq) it saw and first receives exactly the
// events it missed, then every new event, in order, with no gap and no duplicate; when that is no
// longer possible (other epoch, events already dropped from the ring) the subscription reports that
// a resync is needed.
//
// Delivery never blocks a publisher: each subscription has a bounded queue; a subscription whose
// queue overflows is evicted (the HTTP layer closes it with 1008) and resumes on reconnect. The
// hub starts no goroutines: a subscription's owner is told through a wake callback that frames are
// waiting and drains them with Take, so an idle connection costs a small struct and nothing else.
package hub

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"

	"github.com/clawchat/clawchat/internal/chat"
)

// Defaults for Config.
const (
	DefaultRingSize  = 2048
	DefaultRingBytes = 4 << 20
	DefaultQueueSize = 256
)

// Errors returned by Subscription.Take.
var (
	// ErrEvicted means the subscription's queue overflowed; the client should reconnect and
	// resume from the last seq it received.
	ErrEvicted = errors.New("hub: slow consumer evicted")
	// ErrClosed means the subscription was closed by its owner or the hub was closed.
	ErrClosed = errors.New("hub: subscription closed")
)

// Config sets the hub's bounds. Zero values take the defaults.
type Config struct {
	RingSize  int    // events kept per user for resume (default 2048)
	RingBytes int    // payload bytes kept per user for resume (default 4 MiB); the newest event is always kept
	QueueSize int    // frames a connection may have pending before it is evicted (default 256)
	Epoch     string // process epoch; random when empty
}

// Frame is one event, encoded once for every transport. Frames are shared read-only by all
// connections that deliver them; never modify the byte slices.
type Frame struct {
	Event chat.Event
	// WS is the WebSocket text frame: {"type":"event","event":…,"seq":…,"payload":…}.
	WS []byte
	// SSE is the server-sent-events record: "id: <epoch>-<seq>\nevent: …\ndata: …\n\n".
	SSE []byte
}

// Hub is the per-user fan-out. All methods are safe for concurrent use. The zero value is not
// usable; call New.
type Hub struct {
	cfg   Config
	epoch string

	mu    sync.RWMutex
	users map[string]*userLog
}

type userLog struct {
	mu    sync.Mutex
	seq   uint64
	ring  []*Frame // circular buffer, len grows to cfg.RingSize
	start int      // index of the oldest frame in ring
	n     int      // frames in ring
	bytes int
	subs  map[*Subscription]struct{}
}

// New returns a hub with cfg's bounds.
func New(cfg Config) *Hub {
	if cfg.RingSize <= 0 {
		cfg.RingSize = DefaultRingSize
	}
	if cfg.RingBytes <= 0 {
		cfg.RingBytes = DefaultRingBytes
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Epoch == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.Epoch = hex.EncodeToString(b[:])
	}
	return &Hub{cfg: cfg, epoch: cfg.Epoch, users: make(map[string]*userLog)}
}

// Epoch returns this process's epoch, the namespace of every seq the hub hands out.
func (h *Hub) Epoch() string { return h.epoch }

func (h *Hub) log(userID string, create bool) *userLog {
	h.mu.RLock()
	ul := h.users[userID]
	h.mu.RUnlock()
	if ul != nil || !create {
		return ul
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ul = h.users[userID]; ul == nil {
		ul = &userLog{subs: make(map[*Subscription]struct{})}
		h.users[userID] = ul
	}
	return ul
}

// Latest returns the seq of userID's newest event (0 when none).
func (h *Hub) Latest(userID string) uint64 {
	ul := h.log(userID, false)
	if ul == nil {
		return 0
	}
	ul.mu.Lock()
	defer ul.mu.Unlock()
	return ul.seq
}

// Publish assigns ev the next seq of userID, stores it in the user's replay log and queues it on
// every connection of that user without blocking. It returns the assigned seq. ev.Payload must not
// be modified afterwards.
func (h *Hub) Publish(userID string, ev chat.Event) uint64 {
	ul := h.log(userID, true)
	ul.mu.Lock()
	defer ul.mu.Unlock()
	ul.seq++
	ev.Seq = ul.seq
	f := h.encode(ev)
	ul.push(f, h.cfg.RingSize, h.cfg.RingBytes)
	for s := range ul.subs {
		s.deliver(f)
	}
	return ev.Seq
}

// PublishAll publishes ev to every user the hub knows (every user who has connected or received
// an event since the start), each with their own seq. Used for deployment-wide events such as
// gateway.status.
func (h *Hub) PublishAll(ev chat.Event) {
	h.mu.RLock()
	ids := make([]string, 0, len(h.users))
	for id := range h.users {
		ids = append(ids, id)
	}
	h.mu.RUnlock()
	for _, id := range ids {
		h.Publish(id, ev)
	}
}

// Unsequenced encodes ev as a frame that is not part of any replay log (hello, resync, snapshots):
// its WebSocket frame carries no seq and its SSE record carries id <epoch>-<at>, so that an SSE
// client that reconnects resumes after at.
func (h *Hub) Unsequenced(ev chat.Event, at uint64) *Frame {
	ev.Seq = 0
	ws := make([]byte, 0, len(ev.Payload)+len(ev.Name)+48)
	ws = append(ws, `{"type":"event","event":`...)
	ws = strconv.AppendQuote(ws, ev.Name)
	ws = append(ws, `,"payload":`...)
	ws = append(ws, payloadOrNull(ev.Payload)...)
	ws = append(ws, '}')
	return &Frame{Event: ev, WS: ws, SSE: h.sse(ev, at)}
}

func (h *Hub) encode(ev chat.Event) *Frame {
	ws := make([]byte, 0, len(ev.Payload)+len(ev.Name)+64)
	ws = append(ws, `{"type":"event","event":`...)
	ws = strconv.AppendQuote(ws, ev.Name)
	ws = append(ws, `,"seq":`...)
	ws = strconv.AppendUint(ws, ev.Seq, 10)
	ws = append(ws, `,"payload":`...)
	ws = append(ws, payloadOrNull(ev.Payload)...)
	ws = append(ws, '}')
	return &Frame{Event: ev, WS: ws, SSE: h.sse(ev, ev.Seq)}
}

func (h *Hub) sse(ev chat.Event, id uint64) []byte {
	b := make([]byte, 0, len(ev.Payload)+len(ev.Name)+len(h.epoch)+40)
	b = append(b, "id: "...)
	b = append(b, h.epoch...)
	b = append(b, '-')
	b = strconv.AppendUint(b, id, 10)
	b = append(b, "\nevent: "...)
	b = append(b, ev.Name...)
	b = append(b, "\ndata: "...)
	b = append(b, payloadOrNull(ev.Payload)...)
	b = append(b, "\n\n"...)
	return b
}

func payloadOrNull(p []byte) []byte {
	if len(p) == 0 {
		return []byte("null")
	}
	return p
}

func (ul *userLog) push(f *Frame, size, budget int) {
	if ul.ring == nil {
		ul.ring = make([]*Frame, min(16, size))
	}
	if ul.n == len(ul.ring) {
		if len(ul.ring) < size {
			grown := make([]*Frame, min(len(ul.ring)*2, size))
			for i := range ul.n {
				grown[i] = ul.ring[(ul.start+i)%len(ul.ring)]
			}
			ul.ring, ul.start = grown, 0
		} else {
			ul.dropOldest()
		}
	}
	ul.ring[(ul.start+ul.n)%len(ul.ring)] = f
	ul.n++
	ul.bytes += len(f.Event.Payload)
	for ul.bytes > budget && ul.n > 1 {
		ul.dropOldest()
	}
}

func (ul *userLog) dropOldest() {
	old := ul.ring[ul.start]
	ul.ring[ul.start] = nil
	ul.start = (ul.start + 1) % len(ul.ring)
	ul.n--
	ul.bytes -= len(old.Event.Payload)
}

// Cursor is what a client last saw. The zero Cursor means "nothing, start now".
type Cursor struct {
	Epoch string
	Seq   uint64
}

// Resume says how a subscription started.
type Resume struct {
	Seq      uint64 // the user's latest seq when the subscription started
	Replayed int    // missed events queued first
	Resync   bool   // the missed events could not be replayed; the client must reload
}

// Subscription is one connection's view of a user's events. Its methods are safe for concurrent
// use.
type Subscription struct {
	hub  *Hub
	user string
	ul   *userLog
	wake func()

	mu      sync.Mutex
	q       []*Frame
	limit   int
	writing bool // a Take loop is (or has been told to be) running
	err     error
}

// Subscribe registers a connection of userID. When since is set (non-empty epoch), the frames after
// since.Seq are queued first if the hub still holds them all; otherwise Resume.Resync is true and
// only new events follow. wake is called whenever frames become available (or the subscription is
// evicted) while no Take loop is running; it is called with hub locks held, so it must not block
// and must not call into the hub (typically it starts a writer goroutine or signals a channel).
// After wake, the owner calls Take until it returns no frames.
func (h *Hub) Subscribe(userID string, since Cursor, wake func()) (*Subscription, Resume) {
	ul := h.log(userID, true)
	s := &Subscription{hub: h, user: userID, ul: ul, wake: wake, limit: h.cfg.QueueSize}
	ul.mu.Lock()
	defer ul.mu.Unlock()
	res := Resume{Seq: ul.seq}
	if since.Epoch != "" {
		oldest := ul.seq + 1 - uint64(ul.n) // seq of the oldest frame held
		switch {
		case since.Epoch != h.epoch, since.Seq > ul.seq, since.Seq+1 < oldest:
			res.Resync = true
		case since.Seq < ul.seq:
			missing := int(ul.seq - since.Seq)
			s.q = make([]*Frame, 0, missing)
			for i := ul.n - missing; i < ul.n; i++ {
				s.q = append(s.q, ul.ring[(ul.start+i)%len(ul.ring)])
			}
			s.limit += missing
			res.Replayed = missing
		}
	}
	ul.subs[s] = struct{}{}
	if len(s.q) > 0 {
		s.writing = true
		if wake != nil {
			wake()
		}
	}
	return s, res
}

// deliver queues f; called with ul.mu held.
func (s *Subscription) deliver(f *Frame) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	if len(s.q) >= s.limit {
		s.err = ErrEvicted
		s.q = nil
		delete(s.ul.subs, s)
	} else {
		s.q = append(s.q, f)
	}
	wake := !s.writing
	s.writing = true
	s.mu.Unlock()
	if wake && s.wake != nil {
		s.wake()
	}
}

// Take moves the pending frames into dst (which it returns, possibly grown) and returns them. When
// none are pending it returns dst empty and a nil error, and the next new frame calls wake again.
// After eviction or Close it returns ErrEvicted or ErrClosed.
func (s *Subscription) Take(dst []*Frame) ([]*Frame, error) {
	dst = dst[:0]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		s.writing = true // never wake again
		return dst, s.err
	}
	if len(s.q) == 0 {
		s.writing = false
		if s.limit > s.hub.cfg.QueueSize {
			s.limit = s.hub.cfg.QueueSize
		}
		return dst, nil
	}
	dst = append(dst, s.q...)
	clear(s.q)
	s.q = s.q[:0]
	return dst, nil
}

// Pending returns how many frames wait to be taken.
func (s *Subscription) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q)
}

// Err returns ErrEvicted or ErrClosed once the subscription has ended, else nil.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close unregisters the subscription. It is idempotent.
func (s *Subscription) Close() {
	s.ul.mu.Lock()
	delete(s.ul.subs, s)
	s.ul.mu.Unlock()
	s.mu.Lock()
	if s.err == nil {
		s.err = ErrClosed
	}
	s.q = nil
	s.mu.Unlock()
}

// Reset forgets userID's replay log and evicts every subscription of theirs (Take returns
// ErrEvicted; the HTTP layer closes the connection with 1008). The seq counter goes on, so a
// client that resumes from any earlier seq is told to resync: nothing published before Reset is
// ever replayed. Used when the user lost access to a conversation (issue 13): events of it that
// they were sent must not come back from the replay buffer, and a stream in progress stops.
func (h *Hub) Reset(userID string) {
	ul := h.log(userID, false)
	if ul == nil {
		return
	}
	ul.mu.Lock()
	defer ul.mu.Unlock()
	clear(ul.ring)
	ul.start, ul.n, ul.bytes = 0, 0, 0
	for s := range ul.subs {
		s.mu.Lock()
		if s.err == nil {
			s.err = ErrEvicted
			s.q = nil
		}
		wake := !s.writing
		s.writing = true
		s.mu.Unlock()
		delete(ul.subs, s)
		if wake && s.wake != nil {
			s.wake()
		}
	}
}

// Connections returns the number of live subscriptions of userID.
func (h *Hub) Connections(userID string) int {
	ul := h.log(userID, false)
	if ul == nil {
		return 0
	}
	ul.mu.Lock()
	defer ul.mu.Unlock()
	return len(ul.subs)
}
