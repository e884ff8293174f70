//go:build !linux

package wsconn

import (
	"errors"
	"log/slog"
)

var errWouldBlock = errors.New("wsconn: would block")

// poller is unavailable here: every connection reads with its own goroutine.
type poller struct{}

func newPoller(*slog.Logger) *poller { return nil }

func (p *poller) add(*Conn) error           { return errors.New("wsconn: no epoll on this system") }
func (p *poller) rearm(*Conn) bool          { return false }
func (p *poller) remove(*Conn)              {}
func (c *Conn) rawRead([]byte) (int, error) { return 0, errWouldBlock }
