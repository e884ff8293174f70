package oidctest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// Version is the npm oidc-provider release the harness installs (v9: ESM, runs on Node 24).
const Version = "9.13.3"

// Install locates an installed oidc-provider and the Node.js 24 that runs it.
type Install struct {
	// Node is the node binary (ochar's Node 24).
	Node string
	// ModuleDir is the node_modules directory that holds oidc-provider and its dependencies.
	ModuleDir string
}

// Dir returns where oidc-provider Version lives in cacheDir, without checking anything.
func Dir(cacheDir string) string { return filepath.Join(cacheDir, "oidc-provider-"+Version) }

// EnsureInstalled makes sure Node.js 24 (through ochar.EnsureInstalled, which also installs
// OpenClaw when missing) and oidc-provider Version are installed in cacheDir ("" means
// ochar.DefaultCacheDir) and returns their paths. oidc-provider is installed once with the
// system npm (npm's own registry client, no install scripts) into a temporary directory that
// is then renamed into place, so an interrupted install never looks complete; concurrent
// callers (several test binaries) serialise on a file lock in cacheDir. Nothing but the npm
// package is downloaded. Progress lines go to progress (nil: discarded).
func EnsureInstalled(ctx context.Context, cacheDir string, progress io.Writer) (Install, error) {
	if cacheDir == "" {
		cacheDir = ochar.DefaultCacheDir()
	}
	if progress == nil {
		progress = io.Discard
	}
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return Install{}, fmt.Errorf("oidctest: cache dir: %w", err)
	}
	in := Install{Node: ochar.Paths(cacheDir).Node, ModuleDir: filepath.Join(Dir(cacheDir), "node_modules")}
	if _, err := os.Stat(in.Node); err != nil {
		if _, err := ochar.EnsureInstalled(ctx, cacheDir, progress); err != nil {
			return Install{}, fmt.Errorf("oidctest: node 24: %w", err)
		}
	}
	if providerOK(in.ModuleDir) == nil {
		return in, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return Install{}, fmt.Errorf("oidctest: cache dir: %w", err)
	}
	unlock, err := ochar.LockFile(ctx, filepath.Join(cacheDir, ".oidc-provider.lock"))
	if err != nil {
		return Install{}, err
	}
	defer unlock()
	if err := providerOK(in.ModuleDir); err == nil {
		return in, nil // another process installed it while we waited
	} else {
		fmt.Fprintf(progress, "oidctest: installing oidc-provider@%s into %s (%v)\n", Version, Dir(cacheDir), err)
	}
	start := time.Now()
	if err := ochar.NPMInstall(ctx, "npm", Dir(cacheDir), "oidc-provider@"+Version, "", progress); err != nil {
		return Install{}, err
	}
	if err := providerOK(in.ModuleDir); err != nil {
		return Install{}, fmt.Errorf("oidctest: after installing oidc-provider: %w", err)
	}
	fmt.Fprintf(progress, "oidctest: oidc-provider installed in %s\n", time.Since(start).Round(time.Second))
	return in, nil
}

// providerOK checks the installed oidc-provider's version.
func providerOK(moduleDir string) error {
	b, err := os.ReadFile(filepath.Join(moduleDir, "oidc-provider", "package.json"))
	if err != nil {
		return fmt.Errorf("oidc-provider missing: %w", err)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return fmt.Errorf("oidc-provider package.json: %w", err)
	}
	if pkg.Version != Version {
		return fmt.Errorf("oidc-provider is %q, want %s", pkg.Version, Version)
	}
	return nil
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
