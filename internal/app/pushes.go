package app

import (
	"context"
	"sync"
	"time"
)

// pushTimeout bounds one push notification (a store lookup and the push service's answer).
const pushTimeout = 30 * time.Second

// pushJobs tracks the push notifications in flight, so that shutdown waits for them before the
// store they read closes (issue 14): a reply that finished just before shutdown still notifies.
type pushJobs struct {
	mu     sync.Mutex
	wg     sync.WaitGroup
	closed bool
}

// Go runs job on its own goroutine with a pushTimeout context, unless drain has begun (then job
// is dropped and Go reports false).
func (p *pushJobs) Go(job func(ctx context.Context)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
		defer cancel()
		job(ctx)
	})
	return true
}

// drain refuses new jobs and waits for the running ones (each ends within pushTimeout).
func (p *pushJobs) drain() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
}
