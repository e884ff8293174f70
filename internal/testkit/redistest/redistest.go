// Package redistest starts a real redis-server (the Debian redis-server package) for tests: one
// server per call, on a free loopback port, with persistence off, stopped by PID when the test
// ends. When CLAWCHAT_TEST_REDIS_URL is set (redis://[:password@]host:port[/db]), that server is
// used instead and nothing is started; tests sharing it should use unique key prefixes.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvRedisURL names the environment variable that points tests at an existing Redis server.
const EnvRedisURL = "CLAWCHAT_TEST_REDIS_URL"

// Start returns the address (host:port) of a running Redis server for t. It fails t (never skips)
// when redis-server cannot be started.
func Start(t testing.TB) (addr string) {
	t.Helper()
	u, err := url.Parse(StartURL(t))
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return u.Host
}

// StartURL is Start returning a redis:// URL (what go-redis's ParseURL takes). With
// CLAWCHAT_TEST_REDIS_URL set it returns that URL.
func StartURL(t testing.TB) string {
	t.Helper()
	if env := os.Getenv(EnvRedisURL); env != "" {
		u, err := url.Parse(env)
		if err != nil || u.Host == "" {
			t.Fatalf("redistest: %s is not a redis:// URL", EnvRedisURL)
		}
		return env
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server not found (install the redis-server package or set %s): %v", EnvRedisURL, err)
	}
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		addr, err := start(t, bin, dir)
		if err == nil {
			return "redis://" + addr + "/0"
		}
		if attempt == 3 || !errors.Is(err, errPortInUse) {
			t.Fatalf("redistest: %v", err)
		}
	}
}

var errPortInUse = errors.New("port in use")

func start(t testing.TB, bin, dir string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			if strings.Contains(string(log), "Address already in use") {
				return "", errPortInUse
			}
			return "", fmt.Errorf("redis-server exited during start:\n%s", log)
		default:
		}
		if ping(addr) == nil {
			t.Cleanup(stop)
			return addr, nil
		}
		if time.Now().After(deadline) {
			stop()
			log, _ := os.ReadFile(logPath)
			return "", fmt.Errorf("redis-server did not answer PING within 20s:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond) // polling an external process's readiness
	}
}

// ping sends PING over RESP and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
