package delivery

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/chat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeHub struct {
	mu        sync.Mutex
	published []string
	connected map[string]int
}

func (h *fakeHub) Publish(userID string, ev chat.Event) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.published = append(h.published, userID+" "+ev.Name)
	return uint64(len(h.published))
}
func (h *fakeHub) PublishAll(ev chat.Event) { h.Publish("*", ev) }
func (h *fakeHub) Connections(userID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.connected[userID]
}

type fakeRelay struct{ forwarded []string }

func (r *fakeRelay) Forward(userID string, ev chat.Event) {
	r.forwarded = append(r.forwarded, userID+" "+ev.Name)
}

type fakeMetrics struct{ started, final, aborted, failed int }

func (m *fakeMetrics) RunStarted() { m.started++ }
func (m *fakeMetrics) RunFinished(outcome string, _ time.Duration) {
	switch outcome {
	case "final":
		m.final++
	case "aborted":
		m.aborted++
	case "error":
		m.failed++
	}
}

type fakePush struct {
	mu      sync.Mutex
	sent    []string
	release chan struct{}
}

func (p *fakePush) NotifyReplyFinished(_ context.Context, userID, conv, runID, title, text string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, "reply "+userID+" "+title)
	return nil
}
func (p *fakePush) NotifyApproval(_ context.Context, ownerID, id, requester, command string) error {
	if p.release != nil {
		<-p.release
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, "approval "+ownerID+" "+id)
	return nil
}

func TestPublishDeliversCountsAndNotifies(t *testing.T) {
	h := &fakeHub{connected: map[string]int{"online": 1}}
	r, m, p := &fakeRelay{}, &fakeMetrics{}, &fakePush{}
	pub := New(Config{Hub: h, Metrics: m, Relay: r, Push: p, IncludeText: true,
		Title: func(context.Context, string, string) (string, error) { return "Trip", nil }})
	pub.Publish("alice", chat.NewRunStarted("c", "r1", "m1", time.Now(), nil).Event())
	pub.Publish("alice", chat.RunFinal{Conversation: "c", RunID: "r1", Text: "done"}.Event())
	pub.Publish("online", chat.RunFinal{Conversation: "c", RunID: "r2", Text: "done"}.Event())
	pub.Publish("alice", chat.RunAborted{Conversation: "c", RunID: "r3"}.Event())
	pub.Publish("alice", chat.RunError{Conversation: "c", RunID: "r4", Message: "x"}.Event())
	pub.Publish("olga", chat.ApprovalRequested{Approval: chat.Approval{ID: "a1", Command: "ls"}}.Event())
	pub.Drain()
	if len(h.published) != 6 || len(r.forwarded) != 6 {
		t.Fatalf("hub %v, relay %v", h.published, r.forwarded)
	}
	if m.started != 1 || m.final != 2 || m.aborted != 1 || m.failed != 1 {
		t.Fatalf("metrics %+v", m)
	}
	// No push for a user with a device online; the title only with IncludeText.
	if len(p.sent) != 2 || p.sent[0] != "reply alice Trip" && p.sent[1] != "reply alice Trip" {
		t.Fatalf("pushes %v", p.sent)
	}
}

func TestDrainWaitsForPushesAndRefusesNewOnes(t *testing.T) {
	p := &fakePush{release: make(chan struct{})}
	pub := New(Config{Hub: &fakeHub{}, Metrics: &fakeMetrics{}, Push: p})
	pub.Publish("olga", chat.ApprovalRequested{Approval: chat.Approval{ID: "a1"}}.Event())
	drained := make(chan struct{})
	go func() { pub.Drain(); close(drained) }()
	select {
	case <-drained:
		t.Fatal("Drain returned while a push was in flight")
	case <-time.After(50 * time.Millisecond): // a negative check
	}
	close(p.release)
	<-drained
	if pub.jobs.Go(func(context.Context) {}) {
		t.Fatal("a push job started after Drain")
	}
	if len(p.sent) != 1 {
		t.Fatalf("pushes %v", p.sent)
	}
}
