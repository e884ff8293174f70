// Command clawchat-demo runs clawchat for real on this machine: it installs Node 24 and OpenClaw
// from npm into the cache (once), starts an OpenClaw Gateway on loopback backed by clawchat's
// scripted model, and serves clawchat on http://127.0.0.1:8080 with a demo account. It is what
// `make demo` runs. Ctrl-C stops everything.
//
//	clawchat-demo [-listen 127.0.0.1:8080] [-data ./data-demo] [-install-only]
package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/clawchat/clawchat/internal/app"
	"github.com/clawchat/clawchat/internal/config"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "clawchat-demo:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8080", "where clawchat listens")
	data := flag.String("data", "data-demo", "clawchat's data directory (accounts, conversations)")
	installOnly := flag.Bool("install-only", false, "only install Node 24 and OpenClaw into the cache, then exit")
	delay := flag.Duration("word-delay", 60*time.Millisecond, "the scripted model's delay per streamed word")
	embedHost := flag.String("embed-host", "", "also run the example host app (examples/docs-host) here, e.g. 127.0.0.1:8090, and configure clawchat to be embedded in it (make demo-embed)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintln(os.Stderr, "demo: checking Node 24 and OpenClaw in", ochar.DefaultCacheDir())
	inst, err := ochar.EnsureInstalled(ctx, "", os.Stderr)
	if err != nil {
		return err
	}
	if *installOnly {
		fmt.Fprintln(os.Stderr, "demo: installed:", inst.Node, inst.Entry)
		return nil
	}
	abs, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "demo: starting an OpenClaw Gateway on loopback with the scripted model (10-20 s)…")
	// The Gateway's state (its transcripts) lives next to clawchat's, so that a conversation
	// kept in the data directory still has its messages at the next demo run.
	gw, err := ochar.Start(ctx, ochar.Options{Install: &inst, Progress: os.Stderr, WordDelay: *delay, Reasoning: true,
		Dir: filepath.Join(abs, "openclaw")})
	if err != nil {
		return err
	}
	defer gw.Stop()
	fmt.Fprintf(os.Stderr, "demo: gateway ready at %s in %s\n", gw.URL, gw.StartupTime.Round(100*time.Millisecond))
	pw := demoPassword(abs)
	env := map[string]string{
		"OPENCLAW_GATEWAY_URL":   gw.URL,
		"OPENCLAW_GATEWAY_TOKEN": gw.Token,
		"CLAWCHAT_LISTEN":        *listen,
		"CLAWCHAT_DATA_DIR":      abs,
		"CLAWCHAT_LOCAL_USERS":   "demo:" + pw + ",guest:" + pw,
		"CLAWCHAT_OWNERS":        "demo",
		"CLAWCHAT_COOKIE_SECURE": "false", // plain http on loopback
		"CLAWCHAT_LOG_FORMAT":    "text",
	}
	if *embedHost != "" {
		if err := startEmbedHost(ctx, *embedHost, *listen, abs, env); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "\n  clawchat: http://%s\n  sign in:  demo / %s   (owner)\n            guest / %s  (member)\n  try:      \"hello [think]\", \"list files [tool]\", \"count [words=40]\"\n  stop:     Ctrl-C\n\n", *listen, pw, pw)
	return app.Run(ctx, []string{"serve"}, app.IO{
		Env: config.Env{
			Getenv: func(k string) string {
				if v, ok := env[k]; ok {
					return v
				}
				if strings.HasPrefix(k, "CLAWCHAT_") || strings.HasPrefix(k, "OPENCLAW_") {
					return os.Getenv(k)
				}
				return ""
			},
			ReadFile: os.ReadFile,
		},
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	})
}

// demoPassword returns the demo accounts' password, made once and kept in the data directory so
// that it stays the same across demo runs.
func demoPassword(dir string) string {
	path := filepath.Join(dir, "demo-password")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 12 {
		return strings.TrimSpace(string(b))
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	pw := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	_ = os.MkdirAll(dir, 0o700)
	_ = os.WriteFile(path, []byte(pw+"\n"), 0o600)
	return pw
}
