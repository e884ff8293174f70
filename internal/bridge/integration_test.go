package bridge_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/testkit/gatewaytest"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

// TestWithGatewayAndSQLite runs the bridge against the real Gateway client (talking to the fake
// Gateway), the real SQLite store and the real hub: a send streams to the owner; a final lost
// while the connection is down is delivered from history after the reconnect.
func TestWithGatewayAndSQLite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: "tok"})
	var mu sync.Mutex
	finalText := map[string]string{} // runId → reply kept in "history"
	srv.Handle("chat.send", func(c *gatewaytest.Call) (any, error) {
		var p struct {
			SessionKey, Message, IdempotencyKey string
		}
		if err := c.Decode(&p); err != nil {
			return nil, err
		}
		mu.Lock()
		finalText[p.IdempotencyKey] = "Echo: " + p.Message
		mu.Unlock()
		go srv.Broadcast("chat", map[string]any{"runId": p.IdempotencyKey, "sessionKey": p.SessionKey, "seq": 1, "state": "delta", "deltaText": "Echo:"})
		return map[string]any{"runId": p.IdempotencyKey, "status": "started"}, nil
	})
	srv.Handle("chat.history", func(c *gatewaytest.Call) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		var rows []any
		for id, text := range finalText {
			rows = append(rows,
				map[string]any{"role": "user", "content": "x", "idempotencyKey": id + ":user"},
				map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text}}})
		}
		return map[string]any{"messages": rows, "sessionInfo": map[string]any{"hasActiveRun": false, "activeRunIds": []any{}}}, nil
	})

	h := hub.New(hub.Config{})
	db := storetest.SQLite(t)
	var svc *bridge.Service
	handler := gateway.HandlerFuncs{Event: func(ev gateway.Event) { svc.HandleEvent(ev) }, Status: func(st gateway.Status) { svc.HandleStatus(st) }}
	cl, err := gateway.New(gateway.Config{URL: srv.URL(), Token: "tok", StateDir: t.TempDir(), Handler: handler, ReconnectMinDelay: 10 * time.Millisecond, ReconnectMaxDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc, err = bridge.New(bridge.Config{Upstream: cl, Store: db, Publisher: h, GatewayLimits: bridge.LimitsFromStatus(cl.Status)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = cl.Run(runCtx) }()
	defer func() { stop(); <-done; svc.Wait() }()
	if err := srv.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return svc.GatewayState() == bridge.StateConnected })

	wake := make(chan struct{}, 1)
	sub, _ := h.Subscribe("alice", hub.Cursor{Epoch: h.Epoch()}, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	defer sub.Close()
	bobSub, _ := h.Subscribe("bob", hub.Cursor{Epoch: h.Epoch()}, func() {})
	defer bobSub.Close()

	res, err := svc.Send(ctx, alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil || res.Status != bridge.StatusStarted {
		t.Fatalf("send = %+v %v", res, err)
	}
	var got []chat.Event
	next := func(name string) map[string]any {
		t.Helper()
		for {
			for _, e := range got {
				if e.Name == name {
					var m map[string]any
					_ = json.Unmarshal(e.Payload, &m)
					return m
				}
			}
			select {
			case <-wake:
			case <-ctx.Done():
				t.Fatalf("no %s; got %v", name, got)
			}
			for { // drain until empty, as the hub contract requires
				fs, err := sub.Take(nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(fs) == 0 {
					break
				}
				for _, f := range fs {
					got = append(got, f.Event)
				}
			}
		}
	}
	if d := next("run.delta"); d["text"] != "Echo:" {
		t.Fatalf("delta %v", d)
	}
	// The connection drops; the final is never broadcast. After the reconnect it comes from history.
	srv.DropAll()
	if f := next("run.final"); f["text"] != "Echo: hi" || f["runId"] != res.RunID {
		t.Fatalf("final %v", f)
	}
	if fs, _ := bobSub.Take(nil); len(fs) > 0 {
		for _, f := range fs {
			if f.Event.Name != "gateway.status" {
				t.Fatalf("bob got %s", f.Event.Name)
			}
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
