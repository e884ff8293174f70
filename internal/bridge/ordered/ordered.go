// Package ordered keeps store reads off the Gateway client's dispatch goroutine (issue 14) while
// keeping each session's events in order.
//
// Routing a Gateway event reads the store only for a session the bridge has not seen yet (whose
// conversation is it?) or, for a Gateway session, when the owner list is stale. Such an event,
// and every later event of the same key until the backlog is empty, runs on a worker of that key:
// one slow read delays only the session it is about, in order, while every other session's events
// keep flowing on the dispatch goroutine.
//
// A Queue has its own lock. It calls Config.Routable with that lock held, so Routable must not
// call back into the Queue.
package ordered

import "sync"

// Config configures a Queue.
type Config struct {
	// Routable reports whether handling an event of key (run runID) needs no store read; false
	// sends it to key's worker. Required.
	Routable func(key, runID string) bool
	// Go runs a worker in the background, tracked by the caller (which waits for it at
	// shutdown). Required.
	Go func(f func())
}

// Queue runs each key's events in order, on the caller's goroutine when it can.
type Queue struct {
	cfg Config

	mu   sync.Mutex
	slow map[string][]func() // keys with a worker: their waiting events
	wg   sync.WaitGroup
}

// New returns a Queue.
func New(cfg Config) *Queue { return &Queue{cfg: cfg, slow: map[string][]func(){}} }

// Do runs fn, the handling of one event of key (run runID): at once when Routable says it needs
// no store read and nothing of key is waiting, else on key's worker after the events of key
// already waiting. detach (may be nil) runs first when fn is deferred, on the caller's goroutine,
// to copy what fn must not share with the caller. Do is called from one goroutine only (the
// Gateway client's dispatch goroutine), which is what orders the events of a key.
func (q *Queue) Do(key, runID string, fn, detach func()) {
	q.mu.Lock()
	if waiting, busy := q.slow[key]; busy {
		if detach != nil {
			detach()
		}
		q.slow[key] = append(waiting, fn)
		q.mu.Unlock()
		return
	}
	if q.cfg.Routable(key, runID) {
		q.mu.Unlock()
		fn()
		return
	}
	if detach != nil {
		detach()
	}
	q.slow[key] = []func(){fn}
	q.mu.Unlock()
	q.wg.Add(1)
	q.cfg.Go(func() {
		defer q.wg.Done()
		q.drain(key)
	})
}

// drain runs the waiting events of key in order until none is left.
func (q *Queue) drain(key string) {
	for {
		q.mu.Lock()
		waiting := q.slow[key]
		if len(waiting) == 0 {
			delete(q.slow, key)
			q.mu.Unlock()
			return
		}
		q.slow[key] = nil // still busy: later events queue behind these
		q.mu.Unlock()
		for _, fn := range waiting {
			fn()
		}
	}
}

// Wait waits until every deferred event has been handled.
func (q *Queue) Wait() { q.wg.Wait() }
