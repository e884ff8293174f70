package fakemodel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a running model on a loopback listener. Create it with Start; Close stops it.
// Its fields are read-only after Start.
type Server struct {
	// Addr is the listen address, "127.0.0.1:PORT".
	Addr string
	// URL is the OpenAI-compatible base URL, "http://127.0.0.1:PORT/v1".
	URL string

	srv  *http.Server
	done chan error
}

// Start listens on addr (loopback only; "127.0.0.1:0" picks a free port) and serves the
// model in a goroutine until Close.
func Start(addr string, opts Options) (*Server, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fakemodel: listen: %w", err)
	}
	return Serve(ln, opts), nil
}

// Serve serves the model on ln (which the caller has checked) until Close.
func Serve(ln net.Listener, opts Options) *Server {
	s := &Server{
		Addr: ln.Addr().String(),
		srv:  &http.Server{Handler: New(opts), ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	s.URL = "http://" + s.Addr + "/v1"
	go func() { s.done <- s.srv.Serve(ln) }()
	return s
}

// Close stops the server at once, cutting open streams, and waits for its goroutine.
func (s *Server) Close() error {
	err := s.srv.Close()
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// Shutdown stops accepting and waits for open requests until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
