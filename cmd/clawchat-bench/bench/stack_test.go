package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/httpapi"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

// stack is clawchat's delivery path in this process: the real gateway client connected to the
// FakeGateway, the bridge (in-memory store), the hub and the HTTP API, behind an httptest server.
// Sign-in is a stub (cookie = user id). It lets the tests check the benchmark clients end to end
// and lets Go benchmarks profile the server's hot path with -cpuprofile.
type stack struct {
	gw     *FakeGateway
	hub    *hub.Hub
	srv    *httptest.Server
	target Target
	cancel context.CancelFunc
	done   chan struct{}
}

func newStack(tb testing.TB) *stack {
	tb.Helper()
	gw, err := NewFakeGateway("bench-token", nil)
	if err != nil {
		tb.Fatal(err)
	}
	h := hub.New(hub.Config{})
	up := &lateUpstream{}
	br, err := bridge.New(bridge.Config{Upstream: up, Store: bridgetest.NewStore(), Publisher: h,
		MaxConcurrentRuns: 10000, SendRate: 1e6, SendBurst: 1e6, MaxConversations: 10000})
	if err != nil {
		tb.Fatal(err)
	}
	cli, err := gateway.New(gateway.Config{URL: gw.URL(), Token: "bench-token", StateDir: tb.TempDir(), Handler: br})
	if err != nil {
		tb.Fatal(err)
	}
	up.c = cli
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Username string }
		if json.NewDecoder(r.Body).Decode(&p) != nil || p.Username == "" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "clawchat_session", Value: p.Username, Path: "/"})
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	api := httpapi.New(httpapi.Deps{Bridge: br, Hub: h, Login: login,
		Authenticate: func(r *http.Request) (chat.User, bool) {
			c, err := r.Cookie("clawchat_session")
			if err != nil || c.Value == "" {
				return chat.User{}, false
			}
			return chat.User{ID: c.Value, Name: c.Value, Role: chat.RoleMember}, true
		},
		Ready: func() (bool, string) { return br.GatewayState() == bridge.StateConnected, "gateway" },
	})
	srv := httptest.NewServer(api)
	ctx, cancel := context.WithCancel(context.Background())
	s := &stack{gw: gw, hub: h, srv: srv, cancel: cancel, done: make(chan struct{}),
		target: Target{Base: srv.URL, Client: newHTTPClient()}}
	go func() {
		defer close(s.done)
		go func() { _ = br.Run(ctx) }()
		_ = cli.Run(ctx)
	}()
	tb.Cleanup(s.close)
	if err := waitFor(ctx, 10*time.Second, func() bool { return br.GatewayState() == bridge.StateConnected }); err != nil {
		tb.Fatalf("gateway client never connected to the fake: %v", err)
	}
	return s
}

func (s *stack) close() {
	s.cancel()
	<-s.done
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.target.Client.CloseIdleConnections()
	s.gw.Close()
}

// lateUpstream breaks the construction cycle bridge → upstream (gateway client) → handler (bridge).
type lateUpstream struct{ c *gateway.Client }

func (u *lateUpstream) Request(ctx context.Context, method string, params, result any) error {
	return u.c.Request(ctx, method, params, result)
}

// streamingSetup signs in users, sends one message per run and connects clients (every sseEvery-th
// over SSE). It returns the fleet, the runs and the sinks.
func streamingSetup(tb testing.TB, s *stack, users, runsN, clients, sseEvery int) (*Fleet, []GatewayRun, *Sink, *Sink) {
	tb.Helper()
	ctx := context.Background()
	cookies := make([]string, users)
	for i := range users {
		c, err := s.target.Login(ctx, userName(i), "x")
		if err != nil {
			tb.Fatal(err)
		}
		cookies[i] = c
	}
	for k := range runsN {
		if _, err := s.target.Send(ctx, cookies[k%users], "c"+strconv.Itoa(k/users), "m"+strconv.Itoa(k), "hello"); err != nil {
			tb.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	runs, err := s.gw.WaitRuns(wctx, runsN)
	if err != nil {
		tb.Fatal(err)
	}
	fleet := NewFleet(ctx)
	tb.Cleanup(fleet.Close)
	ws, sse := &Sink{}, &Sink{}
	err = dialMany(ctx, clients, 32, func(ctx context.Context, i int) error {
		if sseEvery > 0 && i%sseEvery == sseEvery-1 {
			return fleet.DialSSE(ctx, s.target, cookies[i%users], sse)
		}
		return fleet.DialWS(ctx, s.target, cookies[i%users], ws)
	})
	if err != nil {
		tb.Fatal(err)
	}
	// SSE subscriptions are registered by the handler before it flushes the headers; WS ones
	// before the subscribe answer. Both are done once dialMany returns, but the hub may still
	// be registering the last SSE handler: wait until every user has its connections.
	for u := range users {
		want := clients / users
		if u < clients%users {
			want++
		}
		if err := waitFor(ctx, 5*time.Second, func() bool { return s.hub.Connections(userName(u)) >= want }); err != nil {
			tb.Fatalf("user %d: %d of %d connections registered", u, s.hub.Connections(userName(u)), want)
		}
	}
	return fleet, runs, ws, sse
}
