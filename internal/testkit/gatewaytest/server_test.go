package gatewaytest_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/gatewaytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type collector struct {
	mu    sync.Mutex
	chat  []*gateway.ChatEvent
	agent []*gateway.AgentEvent
	ready chan struct{}
	final chan struct{}
	once  sync.Once
	fonce sync.Once
}

func (c *collector) HandleEvent(e gateway.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Name {
	case "chat":
		ce, err := gateway.DecodeChatEvent(e.Payload)
		if err == nil {
			c.chat = append(c.chat, ce)
			if ce.Terminal() {
				c.fonce.Do(func() { close(c.final) })
			}
		}
	case "agent":
		ae, err := gateway.DecodeAgentEvent(e.Payload)
		if err == nil {
			c.agent = append(c.agent, ae)
		}
	}
}

func (c *collector) HandleStatus(s gateway.Status) {
	if s.State == gateway.StateConnected {
		c.once.Do(func() { close(c.ready) })
	}
}

func TestEchoChatStreamsLikeTheGateway(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: "tok"})
	srv.HandleEchoChat()
	col := &collector{ready: make(chan struct{}), final: make(chan struct{})}
	cl, err := gateway.New(gateway.Config{URL: srv.URL(), Token: "tok", StateDir: t.TempDir(), Handler: col, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cl.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if err := srv.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	<-col.ready

	ack, err := cl.ChatSend(ctx, gateway.ChatSendParams{SessionKey: "Bridge:U1:C1", Message: "hello there world", IdempotencyKey: "run-1"})
	if err != nil || ack.RunID != "run-1" || ack.Status != "started" {
		t.Fatalf("ack %+v %v", ack, err)
	}
	select {
	case <-col.final:
	case <-ctx.Done():
		t.Fatal("no final event")
	}
	ack, err = cl.ChatSend(ctx, gateway.ChatSendParams{SessionKey: "Bridge:U1:C1", Message: "hello there world", IdempotencyKey: "run-1"})
	if err != nil || ack.Status != "in_flight" {
		t.Fatalf("duplicate ack %+v %v", ack, err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	var text string
	var deltas int
	for _, e := range col.chat {
		if e.SessionKey != "agent:main:bridge:u1:c1" || e.RunID != "run-1" {
			t.Errorf("event key/run %q %q", e.SessionKey, e.RunID)
		}
		if e.State == gateway.ChatStateDelta {
			deltas++
			text += e.Delta()
			if snap, ok := e.MessageText(); !ok || snap != text {
				t.Errorf("snapshot %q vs accumulated %q", snap, text)
			}
		}
	}
	last := col.chat[len(col.chat)-1]
	final, _ := last.MessageText()
	if last.State != gateway.ChatStateFinal || final != "Echo: hello there world" || text != final || deltas != 4 {
		t.Errorf("final %q state %s accumulated %q deltas %d", final, last.State, text, deltas)
	}
	if prev := col.chat[len(col.chat)-2]; prev.Seq != last.Seq {
		t.Errorf("last delta seq %d != final seq %d", prev.Seq, last.Seq)
	}
	if len(col.agent) == 0 || col.agent[len(col.agent)-1].Phase() != "end" {
		t.Errorf("agent events: %d", len(col.agent))
	}
	for i, a := range col.agent {
		if a.Seq <= 0 || (i > 0 && a.Seq != col.agent[i-1].Seq+1) {
			t.Errorf("agent seq %d at %d", a.Seq, i)
		}
	}
	calls := srv.Calls("chat.send")
	var p map[string]any
	_ = json.Unmarshal(calls[0].Params, &p)
	if p["message"] != "hello there world" {
		t.Errorf("recorded params %v", p)
	}
}
