// Command clawchat serves a private, multi-user web chat in front of an OpenClaw Gateway.
// See README.md, or run `clawchat help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clawchat/clawchat/internal/app"
	"github.com/clawchat/clawchat/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], app.IO{
		Env:    config.Env{Getenv: os.Getenv, ReadFile: os.ReadFile},
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	stop()
	if err != nil {
		var u *app.UsageError
		if !errors.As(err, &u) {
			fmt.Fprintln(os.Stderr, "clawchat:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "clawchat:", err)
		os.Exit(2)
	}
}
