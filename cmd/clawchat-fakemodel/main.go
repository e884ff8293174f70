// Command clawchat-fakemodel runs the scripted OpenAI-compatible model (internal/testkit/fakemodel) as
// a process, for a test Gateway that runs where an in-process server cannot be reached (inside
// a network namespace). It listens on loopback only and stops on SIGINT or SIGTERM.
//
//	clawchat-fakemodel -addr 127.0.0.1:18790 -delay 100ms
//
// Once listening it prints "listening <addr>" on stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clawchat/clawchat/internal/testkit/fakemodel"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "clawchat-fakemodel:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:18790", "listen address (loopback only)")
	delay := flag.Duration("delay", 100*time.Millisecond, "default delay before each streamed word")
	model := flag.String("model", "echo", "model id")
	verbose := flag.Bool("v", false, "log every request to stderr")
	flag.Parse()

	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := fakemodel.Start(*addr, fakemodel.Options{Delay: *delay, Model: *model, Logger: logger})
	if err != nil {
		return err
	}
	fmt.Println("listening", srv.Addr)
	<-ctx.Done()
	return srv.Close()
}
