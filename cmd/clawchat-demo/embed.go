package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/clawchat/clawchat/examples/docs-host/host"
)

// startEmbedHost runs the example host app (examples/docs-host) on addr and configures clawchat
// (env) to be embedded in it as host app "compose" (make demo-embed; docs/embed.md).
func startEmbedHost(ctx context.Context, addr, listen, dataDir string, env map[string]string) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	keyPath := filepath.Join(dataDir, "docs-host.key")
	key, err := host.LoadOrCreateKey(keyPath)
	if err != nil {
		return fmt.Errorf("docs-host key: %w", err)
	}
	clawchat := "http://" + listen
	origin := "http://" + addr
	env["CLAWCHAT_PUBLIC_URL"] = clawchat
	env["CLAWCHAT_EMBED_APPS"] = "compose"
	env["CLAWCHAT_EMBED_COMPOSE_ORIGINS"] = origin
	env["CLAWCHAT_EMBED_COMPOSE_KEY_FILE"] = keyPath + ".pub"
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("docs-host: %w", err)
	}
	srv := &http.Server{Handler: host.New(host.Config{ClawchatURL: clawchat, App: "compose", Key: key, Users: host.DefaultUsers(), Docs: host.DefaultDocs()}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "docs-host:", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "\n  docs-host: %s   (example host app: sign in as Alice or Bob; try selecting text and \"fix this [suggest]\")\n", origin)
	return nil
}
