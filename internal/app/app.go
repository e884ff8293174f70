// Package app is clawchat's composition root: it parses the command line, loads the
// configuration, builds every service in order (logger → store → gateway client → chat core →
// HTTP server) and owns their lifecycle and shutdown order. It is the only package that imports
// everything; nothing imports it but cmd/clawchat.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/clawchat/clawchat/internal/config"
	"github.com/clawchat/clawchat/internal/version"
)

// IO is the process's environment as Run sees it. Tests pass their own.
type IO struct {
	Env    config.Env
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// IsTerminal reports whether w is an interactive terminal (text logs, password prompts).
	// Nil means "never".
	IsTerminal func(any) bool
}

// UsageError is a command-line mistake; main exits with status 2 for it.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg + " (see: clawchat help)" }

const usage = `clawchat — a private, multi-user web chat for your OpenClaw assistant.

Usage:
  clawchat [serve]                 run the server (the default)
  clawchat version                 print the version
  clawchat config                  print the effective configuration, secrets redacted
  clawchat gateway status          connect to the Gateway once and report state, scopes and pairing
  clawchat user add NAME [--role owner|member]
                                   create a local account (password read from stdin)
  clawchat user passwd NAME        set a password (from stdin); signs the user out everywhere
  clawchat user role NAME ROLE     make NAME an owner or a member
  clawchat user del NAME           delete an account and its conversations
  clawchat user list               list accounts
  clawchat push keys               generate a VAPID key pair for Web Push
  clawchat healthcheck             exit 0 when the server on CLAWCHAT_LISTEN is alive (container checks)
  clawchat smoke --url URL --user NAME --password-stdin
                                   post-deploy check: health, sign in, send, wait for the reply
  clawchat help                    this text

Configuration comes from environment variables (secrets also as NAME_FILE):
  OPENCLAW_GATEWAY_URL      Gateway WebSocket URL (default ws://127.0.0.1:18789)
  OPENCLAW_GATEWAY_TOKEN    Gateway token (or OPENCLAW_GATEWAY_PASSWORD)
  CLAWCHAT_LISTEN           listen address (default :8080)
  CLAWCHAT_DATA_DIR         state directory: database, device identity (default ./data)
  CLAWCHAT_LOCAL_USERS      bootstrap accounts, user:pass,user2:pass2
  CLAWCHAT_PUBLIC_URL       the URL people open, e.g. https://chat.example.com
The full table is in README.md.
`

// Run runs one clawchat command. It returns when the command is done or, for serve, when ctx is
// cancelled and shutdown has completed.
func Run(ctx context.Context, args []string, io IO) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, io)
	case "version", "--version", "-v":
		fmt.Fprintln(io.Stdout, "clawchat", version.String())
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(io.Stdout, usage)
		return nil
	case "config":
		cfg, err := config.Load(io.Env)
		if err != nil {
			return err
		}
		fmt.Fprintln(io.Stdout, strings.Join(cfg.Redacted(), "\n"))
		for _, n := range cfg.Notices { // miso-chat variables (docs/migrate-from-miso.md)
			fmt.Fprintln(io.Stderr, "clawchat: "+n)
		}
		return nil
	case "healthcheck":
		return healthcheck(ctx, io)
	case "gateway":
		if len(args) != 1 || args[0] != "status" {
			return &UsageError{Msg: "usage: clawchat gateway status"}
		}
		return gatewayStatus(ctx, io)
	case "user":
		return userCommand(ctx, args, io)
	case "push":
		if len(args) != 1 || args[0] != "keys" {
			return &UsageError{Msg: "usage: clawchat push keys"}
		}
		return pushKeys(io)
	case "smoke":
		return smoke(ctx, args, io)
	}
	return &UsageError{Msg: fmt.Sprintf("unknown command %q", cmd)}
}

// newLogger builds the process logger: JSON by default, text on a terminal (format auto).
func newLogger(cfg config.Log, io IO) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	format := cfg.Format
	if format == "auto" {
		format = "json"
		if io.IsTerminal != nil && io.IsTerminal(io.Stderr) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(io.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(io.Stderr, opts))
}

// dataDir makes sure the data directory exists with private permissions.
func dataDir(cfg config.Config) (string, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("CLAWCHAT_DATA_DIR %q: %w (create it, or point CLAWCHAT_DATA_DIR at a writable volume)", cfg.DataDir, err)
	}
	return cfg.DataDir, nil
}
