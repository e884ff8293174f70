package hub

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/chat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ev(i int) chat.Event { return chat.NewEvent("run.delta", map[string]int{"i": i}) }

// collector drains a subscription synchronously, as a test stand-in for a connection writer.
type collector struct {
	sub  *Subscription
	got  []uint64
	buf  []*Frame
	woke int
}

func (c *collector) drain(t *testing.T) error {
	t.Helper()
	for {
		var err error
		c.buf, err = c.sub.Take(c.buf)
		if err != nil {
			return err
		}
		if len(c.buf) == 0 {
			return nil
		}
		for _, f := range c.buf {
			c.got = append(c.got, f.Event.Seq)
		}
	}
}

func TestFramesEncodedOnce(t *testing.T) {
	h := New(Config{Epoch: "ep"})
	var c collector
	c.sub, _ = h.Subscribe("u", Cursor{}, func() { c.woke++ })
	h.Publish("u", chat.NewEvent("run.delta", map[string]string{"text": "hi"}))
	frames, err := c.sub.Take(nil)
	if err != nil || len(frames) != 1 {
		t.Fatalf("Take = %d frames, %v", len(frames), err)
	}
	f := frames[0]
	var ws struct {
		Type, Event string
		Seq         uint64
		Payload     map[string]string
	}
	if err := json.Unmarshal(f.WS, &ws); err != nil {
		t.Fatal(err)
	}
	if ws.Type != "event" || ws.Event != "run.delta" || ws.Seq != 1 || ws.Payload["text"] != "hi" {
		t.Fatalf("ws frame = %s", f.WS)
	}
	if want := "id: ep-1\nevent: run.delta\ndata: {\"text\":\"hi\"}\n\n"; string(f.SSE) != want {
		t.Fatalf("sse = %q, want %q", f.SSE, want)
	}
	if c.woke != 1 {
		t.Fatalf("woke %d times, want 1", c.woke)
	}
	u := h.Unsequenced(chat.NewEvent("resync", map[string]string{"reason": "x"}), 1)
	if strings.Contains(string(u.WS), `"seq"`) || !strings.HasPrefix(string(u.SSE), "id: ep-1\n") {
		t.Fatalf("unsequenced = %s / %q", u.WS, u.SSE)
	}
	c.sub.Close()
	c.sub.Close()
}

func TestWakeOnlyWhenIdle(t *testing.T) {
	h := New(Config{})
	woke := 0
	s, _ := h.Subscribe("u", Cursor{}, func() { woke++ })
	h.Publish("u", ev(1))
	h.Publish("u", ev(2))
	if woke != 1 {
		t.Fatalf("woke = %d, want 1 while a writer is pending", woke)
	}
	fs, _ := s.Take(nil)
	if len(fs) != 2 {
		t.Fatalf("took %d", len(fs))
	}
	fs, _ = s.Take(fs) // empty: writer goes idle
	if len(fs) != 0 {
		t.Fatal("expected empty")
	}
	h.Publish("u", ev(3))
	if woke != 2 {
		t.Fatalf("woke = %d, want 2 after idle", woke)
	}
	s.Close()
}

func TestResumeDecisions(t *testing.T) {
	h := New(Config{RingSize: 4, Epoch: "e1"})
	for i := range 6 {
		h.Publish("u", ev(i))
	}
	// ring holds 3..6
	cases := []struct {
		name     string
		cur      Cursor
		resync   bool
		replayed int
	}{
		{"fresh", Cursor{}, false, 0},
		{"current", Cursor{"e1", 6}, false, 0},
		{"inside", Cursor{"e1", 3}, false, 3},
		{"oldest-1", Cursor{"e1", 2}, false, 4},
		{"dropped", Cursor{"e1", 1}, true, 0},
		{"future", Cursor{"e1", 7}, true, 0},
		{"other epoch", Cursor{"e0", 6}, true, 0},
	}
	for _, tc := range cases {
		c := collector{}
		var res Resume
		c.sub, res = h.Subscribe("u", tc.cur, func() {})
		if res.Resync != tc.resync || res.Replayed != tc.replayed || res.Seq != 6 {
			t.Errorf("%s: resume = %+v", tc.name, res)
		}
		if err := c.drain(t); err != nil {
			t.Fatal(err)
		}
		for i, s := range c.got {
			if want := tc.cur.Seq + 1 + uint64(i); s != want {
				t.Errorf("%s: got seq %d at %d, want %d", tc.name, s, i, want)
			}
		}
		c.sub.Close()
	}
}

func TestRingByteBudget(t *testing.T) {
	h := New(Config{RingSize: 100, RingBytes: 30, Epoch: "e"})
	for i := range 10 {
		h.Publish("u", ev(i)) // {"i":N} = 7 bytes
	}
	_, res := h.Subscribe("u", Cursor{"e", 5}, nil)
	if !res.Resync {
		t.Fatalf("expected resync when bytes budget dropped events, got %+v", res)
	}
	s, res := h.Subscribe("u", Cursor{"e", 7}, nil)
	if res.Resync || res.Replayed != 3 {
		t.Fatalf("resume = %+v", res)
	}
	s.Close()
}

func TestSlowConsumerEvicted(t *testing.T) {
	h := New(Config{QueueSize: 8})
	wakes := 0
	slow, _ := h.Subscribe("u", Cursor{}, func() { wakes++ })
	fast := collector{}
	fast.sub, _ = h.Subscribe("u", Cursor{}, func() {})
	for i := range 20 {
		h.Publish("u", ev(i))
		if err := fast.drain(t); err != nil {
			t.Fatalf("fast consumer: %v", err)
		}
	}
	if _, err := slow.Take(nil); err != ErrEvicted {
		t.Fatalf("slow Take err = %v, want ErrEvicted", err)
	}
	if wakes < 1 {
		t.Fatal("slow consumer was never woken")
	}
	if len(fast.got) != 20 {
		t.Fatalf("fast got %d, want 20", len(fast.got))
	}
	if n := h.Connections("u"); n != 1 {
		t.Fatalf("connections = %d, want 1 (evicted one removed)", n)
	}
	// The evicted client resumes from what it last saw: nothing is lost.
	c := collector{}
	c.sub, _ = h.Subscribe("u", Cursor{h.Epoch(), 0}, func() {})
	if err := c.drain(t); err != nil || len(c.got) != 20 {
		t.Fatalf("resume after eviction got %d, %v", len(c.got), err)
	}
	c.sub.Close()
	slow.Close()
	fast.sub.Close()
}

func TestUsersIsolated(t *testing.T) {
	h := New(Config{})
	a := collector{}
	a.sub, _ = h.Subscribe("alice", Cursor{}, func() {})
	b := collector{}
	b.sub, _ = h.Subscribe("bob", Cursor{}, func() {})
	h.Publish("alice", ev(1))
	h.Publish("alice", ev(2))
	h.Publish("bob", ev(3))
	_ = a.drain(t)
	_ = b.drain(t)
	if len(a.got) != 2 || len(b.got) != 1 || b.got[0] != 1 {
		t.Fatalf("alice %v bob %v", a.got, b.got)
	}
	h.PublishAll(chat.NewEvent("gateway.status", map[string]string{"state": "down"}))
	_ = a.drain(t)
	_ = b.drain(t)
	if len(a.got) != 3 || len(b.got) != 2 {
		t.Fatalf("after PublishAll alice %v bob %v", a.got, b.got)
	}
	a.sub.Close()
	b.sub.Close()
}

// TestResumeProperty: a client that disconnects at random points (sometimes evicted for being
// slow) and resumes from its last seen seq always sees 1..N exactly once, in order, unless the hub
// says resync, in which case it starts over from the latest seq.
func TestResumeProperty(t *testing.T) {
	for seed := range uint64(200) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			h := New(Config{RingSize: 4 + r.IntN(60), QueueSize: 1 + r.IntN(10), Epoch: "e"})
			var last uint64
			var c *collector
			seen := map[uint64]bool{}
			connect := func() {
				c = &collector{}
				var res Resume
				c.sub, res = h.Subscribe("u", Cursor{"e", last}, func() {})
				if res.Resync {
					last = res.Seq // client reloads state
				}
			}
			connect()
			total := 0
			for step := 0; step < 500; step++ {
				switch k := r.IntN(10); {
				case k < 6:
					total++
					h.Publish("u", ev(total))
				case k < 8:
					err := c.drain(t)
					for _, s := range c.got {
						if s != last+1 {
							t.Fatalf("step %d: gap or dup: got %d after %d", step, s, last)
						}
						if seen[s] {
							t.Fatalf("duplicate %d", s)
						}
						seen[s] = true
						last = s
					}
					c.got = c.got[:0]
					if err == ErrEvicted {
						c.sub.Close()
						connect()
					}
				default:
					// Disconnect without draining, then resume.
					c.sub.Close()
					connect()
				}
			}
			c.sub.Close()
		})
	}
}

func TestManyUsersConcurrent(t *testing.T) {
	h := New(Config{QueueSize: 64})
	const users, conns, events = 20, 3, 300
	var wg sync.WaitGroup
	for u := range users {
		uid := fmt.Sprint("u", u)
		for range conns {
			ready := make(chan struct{}, 1)
			s, _ := h.Subscribe(uid, Cursor{h.Epoch(), 0}, func() {
				select {
				case ready <- struct{}{}:
				default:
				}
			})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.Close()
				var buf []*Frame
				var last uint64
				for last < events {
					<-ready
					for {
						var err error
						buf, err = s.Take(buf)
						if err != nil {
							// Evicted: resume from last, as a browser would.
							s.Close()
							var res Resume
							s, res = h.Subscribe(uid, Cursor{h.Epoch(), last}, func() {
								select {
								case ready <- struct{}{}:
								default:
								}
							})
							if res.Resync {
								t.Errorf("unexpected resync")
								return
							}
							continue
						}
						if len(buf) == 0 {
							break
						}
						for _, f := range buf {
							if f.Event.Seq != last+1 {
								t.Errorf("%s: seq %d after %d", uid, f.Event.Seq, last)
								return
							}
							last = f.Event.Seq
						}
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range events {
				h.Publish(uid, ev(i))
			}
		}()
	}
	wg.Wait()
}

func BenchmarkPublish(b *testing.B) {
	h := New(Config{})
	subs := make([]*Subscription, 100)
	for i := range subs {
		subs[i], _ = h.Subscribe("u", Cursor{}, func() {})
	}
	e := ev(1)
	var buf []*Frame
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Publish("u", e)
		if i%64 == 0 {
			for _, s := range subs {
				buf, _ = s.Take(buf)
				buf, _ = s.Take(buf)
			}
		}
	}
}

// TestResetCutsReplayAndStreams: after Reset (a user lost access to a conversation) nothing
// published before it is replayed from any cursor, live subscriptions are evicted, other users
// are untouched, and new events flow to new subscriptions.
func TestResetCutsReplayAndStreams(t *testing.T) {
	h := New(Config{Epoch: "ep"})
	var bob, alice collector
	bob.sub, _ = h.Subscribe("bob", Cursor{}, func() { bob.woke++ })
	alice.sub, _ = h.Subscribe("alice", Cursor{}, func() { alice.woke++ })
	for i := range 5 {
		h.Publish("bob", ev(i))
		h.Publish("alice", ev(i))
	}
	if err := bob.drain(t); err != nil { // bob's writer took the frames and is idle
		t.Fatal(err)
	}
	woke := bob.woke
	h.Reset("bob")
	if _, err := bob.sub.Take(nil); err != ErrEvicted {
		t.Fatalf("bob's live subscription: %v, want ErrEvicted", err)
	}
	if bob.woke != woke+1 {
		t.Errorf("bob's writer was not woken to see the eviction")
	}
	if h.Connections("bob") != 0 {
		t.Errorf("bob still has %d connections", h.Connections("bob"))
	}
	for seq := range uint64(6) {
		s, res := h.Subscribe("bob", Cursor{Epoch: "ep", Seq: seq}, nil)
		if seq < 5 && (!res.Resync || res.Replayed != 0) {
			t.Errorf("resume from %d: %+v, want a resync and nothing replayed", seq, res)
		}
		if s.Pending() != 0 {
			t.Errorf("resume from %d replays %d frames", seq, s.Pending())
		}
		s.Close()
	}
	if seq := h.Publish("bob", ev(9)); seq != 6 {
		t.Errorf("seq after reset %d, want 6 (the counter goes on)", seq)
	}
	s, res := h.Subscribe("bob", Cursor{Epoch: "ep", Seq: 5}, nil)
	if res.Resync || s.Pending() != 1 {
		t.Errorf("resume from the reset point: %+v pending %d", res, s.Pending())
	}
	s.Close()
	if err := alice.drain(t); err != nil || len(alice.got) != 5 {
		t.Errorf("alice: %v %v", alice.got, err)
	}
	h.Reset("nobody") // unknown users are fine
}
