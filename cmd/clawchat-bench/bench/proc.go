package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on every Linux
// architecture Go supports).
const clockTicks = 100

// ProcStat is one sample of a process's resource use from /proc.
type ProcStat struct {
	RSS int64         // resident set size, bytes (VmRSS)
	CPU time.Duration // user + system CPU time
}

// ReadProcStat samples pid's RSS and CPU time from /proc/PID/status and /proc/PID/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	var st ProcStat
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("procstat: %w", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				st.RSS = kb << 10
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, fmt.Errorf("procstat: %w", err)
	}
	// The command name is in parentheses and may hold spaces; fields follow the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return st, errors.New("procstat: malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return st, errors.New("procstat: short stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	st.CPU = time.Duration(ut+stt) * time.Second / clockTicks
	return st, nil
}

// FindModuleRoot walks up from dir to the directory holding clawchat's go.mod.
func FindModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/clawchat/clawchat\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root: go.mod of github.com/clawchat/clawchat not found above the working directory")
		}
		dir = parent
	}
}

// BuildClawchat builds ./cmd/clawchat of the module at root into dir and returns the binary path.
func BuildClawchat(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "clawchat")
	// The same flags as `make build` and the Dockerfile: measure what is shipped.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/clawchat")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build clawchat: %w: %s", err, bytes.TrimSpace(b))
	}
	return out, nil
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Server is a clawchat process started by the benchmark.
type Server struct {
	Base  string // http://127.0.0.1:port
	Start time.Time
	cmd   *exec.Cmd
	done  chan struct{}
	err   error // exit error, valid after done
	log   *tailBuffer
}

// StartServer starts bin serve with env (on top of a minimal environment) listening on
// 127.0.0.1:port. It does not wait for readiness.
func StartServer(bin string, port int, env []string) (*Server, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"CLAWCHAT_LISTEN=127.0.0.1:" + strconv.Itoa(port)}, env...)
	tb := &tailBuffer{max: 16 << 10}
	cmd.Stdout = tb
	cmd.Stderr = tb
	s := &Server{Base: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan struct{}), log: tb}
	s.Start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start clawchat: %w", err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// PID returns the process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Output returns the tail of the process's stdout and stderr.
func (s *Server) Output() string { return s.log.String() }

// WaitStatus polls path until it answers 200 and returns the time since Start. It fails when the
// process exits or ctx ends first.
func (s *Server) WaitStatus(ctx context.Context, client *http.Client, path string) (time.Duration, error) {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+path, nil)
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(s.Start), nil
			}
		}
		select {
		case <-s.done:
			return 0, fmt.Errorf("clawchat exited before %s answered 200 (%v): %s", path, s.err, lastLines(s.Output(), 6))
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %s: %w (last: %v): %s", path, ctx.Err(), err, lastLines(s.Output(), 6))
		case <-time.After(time.Millisecond):
		}
	}
}

// Stop sends SIGTERM and waits up to grace before killing the process.
func (s *Server) Stop(grace time.Duration) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft limit.
// Child processes inherit it.
func RaiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	// Always call Setrlimit: Go raises the soft limit itself at start but restores the original
	// one in exec'd children unless the program set it explicitly.
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return l.Cur, nil
}
