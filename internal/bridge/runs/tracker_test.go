package runs_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/owners"
	"github.com/clawchat/clawchat/internal/bridge/runs"
	"github.com/clawchat/clawchat/internal/bridge/upstream"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

// everyoneAlice says that every session is alice's conversation "default", so that any event the
// tracker does not know is adopted as a new turn.
type everyoneAlice struct{}

func (everyoneAlice) Resolve(string) (string, []string) { return "default", []string{"alice"} }
func (everyoneAlice) Known(string) (owners.Ref, bool) {
	return owners.Ref{ConvID: "default", UserID: "alice"}, true
}
func (everyoneAlice) WatchersOf(string) []string      { return nil }
func (everyoneAlice) Fresh([]string) bool             { return true }
func (everyoneAlice) Deliverable(string, string) bool { return true }

// A run's end and its record as ended are one step under the tracker's lock: Gateway events of
// the run that race with its final reach the run or are dropped, and are never adopted as a new
// turn of the conversation.
func TestTrailingEventsRacingTheEndAreNeverAdopted(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	rec := bridgetest.NewRecorder()
	log := slog.New(slog.DiscardHandler)
	mapper := upstream.Mapper{Log: log}
	tr := runs.New(runs.Config{
		Publisher: rec, Owners: everyoneAlice{}, Gateway: mapper.API(bridgetest.NewUpstream()),
		Send: func(context.Context, string, string, string, *runs.Message) (*gateway.ChatSendResult, error) {
			return &gateway.ChatSendResult{Status: "started"}, nil
		},
		MapError: mapper.Map, Go: func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() },
		Base: context.Background(), Logger: log, Now: time.Now, MaxConcurrentRuns: 3, MaxQueued: 10,
		StaleRunAfter: time.Minute, HistoryTimeout: time.Second, SendTimeout: time.Second,
	})
	target := runs.Target{Key: aliceKey, UserID: "alice", ConvID: "default"}
	for i := range 200 {
		id := fmt.Sprintf("run-%d", i)
		if st, err := tr.Submit(context.Background(), target, runs.Message{RunID: id, MessageID: id, Text: "hi"}); err != nil || st != runs.StatusStarted {
			t.Fatalf("submit %s = %q %v", id, st, err)
		}
		r := tr.Route(id, aliceKey, false)
		if r == nil {
			t.Fatalf("%s not routed", id)
		}
		var routed sync.WaitGroup
		routed.Add(1)
		go func() {
			defer routed.Done()
			for range 50 {
				if got := tr.Route(id, aliceKey, false); got != nil && got != r {
					t.Errorf("%s: a trailing event was adopted as a new turn", id)
					return
				}
			}
		}()
		tr.Finish(r, chat.RunFinal{Text: "done"})
		routed.Wait()
		if a := tr.Active(aliceKey); a != "" {
			t.Fatalf("after the end of %s the conversation runs %q", id, a)
		}
	}
}
