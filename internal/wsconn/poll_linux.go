//go:build linux

package wsconn

import (
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"
)

var errWouldBlock error = unix.EAGAIN

// poller is one epoll instance and the goroutine that waits on it. Both exist only while at least
// one connection is registered: the first add creates them, the last remove stops them, so an
// idle process (or a test) has no poll goroutine.
//
// Sockets are registered level-triggered and one-shot (EPOLLIN|EPOLLRDHUP|EPOLLONESHOT): a
// reported socket is disabled until its reader re-arms it, so one goroutine at a time reads a
// connection, and a socket re-armed with bytes still unread is reported again at once. The event
// data is a registration id, not the descriptor, so a stale event can never reach a connection
// that reused a closed descriptor's number.
type poller struct {
	log *slog.Logger

	mu    sync.Mutex
	epfd  int // -1 while stopped
	evfd  int // eventfd that stops the current loop
	conns map[uint32]*Conn
	next  uint32
}

const stopID = 0 // event data of the stop eventfd

func newPoller(log *slog.Logger) *poller {
	return &poller{log: log, epfd: -1, evfd: -1, conns: map[uint32]*Conn{}}
}

// start creates the epoll instance and its goroutine; p.mu is held.
func (p *poller) start() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("wsconn: epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return fmt.Errorf("wsconn: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: stopID}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return fmt.Errorf("wsconn: epoll_ctl eventfd: %w", err)
	}
	p.epfd, p.evfd = epfd, evfd
	go p.loop(epfd, evfd)
	return nil
}

// stop tells the current loop to close its descriptors and exit; p.mu is held.
func (p *poller) stop() {
	var one [8]byte
	one[0] = 1 // little-endian 1; any non-zero value makes the eventfd readable
	if _, err := unix.Write(p.evfd, one[:]); err != nil {
		p.log.Error("wsconn: stop poll loop", "err", err)
	}
	p.epfd, p.evfd = -1, -1
}

func (p *poller) loop(epfd, evfd int) {
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// Cannot happen with valid arguments; stop rather than spin.
			p.log.Error("wsconn: epoll_wait", "err", err)
			return
		}
		for i := range n {
			id := uint32(events[i].Fd)
			if id == stopID {
				unix.Close(epfd)
				unix.Close(evfd)
				return
			}
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c != nil {
				go c.readReady()
			}
		}
	}
}

// add registers c (which must not be dead); ErrClosed if it died meanwhile.
func (p *poller) add(c *Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if dead {
		return ErrClosed
	}
	if p.epfd < 0 {
		if err := p.start(); err != nil {
			return err
		}
	}
	for {
		p.next++
		if p.next != stopID && p.conns[p.next] == nil {
			break
		}
	}
	id := p.next
	var ctlErr error
	err := c.rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(id)}
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil && ctlErr != nil {
		err = fmt.Errorf("wsconn: epoll_ctl add: %w", ctlErr)
	} else if err != nil {
		err = fmt.Errorf("wsconn: register: %w: %w", ErrClosed, err)
	}
	if err != nil {
		if len(p.conns) == 0 {
			p.stop()
		}
		return err
	}
	c.id = id
	p.conns[id] = c
	return nil
}

// rearm enables the next readiness report for c; false if c is no longer registered.
func (p *poller) rearm(c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.id == 0 || p.conns[c.id] != c {
		return false
	}
	var ctlErr error
	err := c.rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(c.id)}
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	})
	return err == nil && ctlErr == nil
}

// remove unregisters c (idempotent) before its descriptor is closed; the last one stops the loop.
func (p *poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.id == 0 || p.conns[c.id] != c {
		return
	}
	_ = c.rc.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	delete(p.conns, c.id)
	c.id = 0
	if len(p.conns) == 0 {
		p.stop()
	}
}

// rawRead reads what the socket holds without waiting; errWouldBlock when it holds nothing.
func (c *Conn) rawRead(b []byte) (int, error) {
	var n int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), b)
			if rerr != unix.EINTR {
				return true
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	return n, rerr
}
