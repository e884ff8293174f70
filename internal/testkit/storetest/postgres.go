package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// EnvDatabaseURL names the environment variable that points the tests at an existing PostgreSQL
// server instead of starting one.
const EnvDatabaseURL = "CLAWCHAT_TEST_DATABASE_URL"

// EnvPGBinDir overrides where initdb and postgres are looked for (default: the newest
// /usr/lib/postgresql/*/bin, then $PATH).
const EnvPGBinDir = "CLAWCHAT_TEST_PG_BINDIR"

// shared is the one PostgreSQL server of this test binary. It is package state by necessity: the
// point is to start one server per binary, not one per test.
var shared pgServer

type pgServer struct {
	once    sync.Once
	err     error
	base    *url.URL // URL of the maintenance database; Path is replaced per test database
	admin   *sql.DB  // connection pool to the maintenance database
	adminMu sync.Mutex

	cmd  *exec.Cmd     // nil when using CLAWCHAT_TEST_DATABASE_URL
	done chan struct{} // closed when cmd has exited
	dir  string
}

// Main wraps m so that running it stops this package's PostgreSQL server (if one was started)
// after the tests, before a leak check. Use it in TestMain:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.Main(m)) }
//	func TestMain(m *testing.M) { os.Exit(storetest.Main(m).Run()) }
func Main(m interface{ Run() int }) interface{ Run() int } { return mainWrapper{m} }

type mainWrapper struct{ m interface{ Run() int } }

func (w mainWrapper) Run() int {
	code := w.m.Run()
	if err := shared.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// PostgresURL returns the URL of a new, empty database on the shared PostgreSQL server (starting
// the server on first use). The database is dropped when t ends. Two stores opened on the URL
// share its data, as two clawchat instances sharing one database do.
func PostgresURL(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.err = shared.start() })
	if shared.err != nil {
		t.Fatalf("storetest: PostgreSQL unavailable: %v", shared.err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "clawchat_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shared.adminMu.Lock()
	_, err := shared.admin.ExecContext(ctx, "CREATE DATABASE "+name)
	shared.adminMu.Unlock()
	if err != nil {
		t.Fatalf("storetest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.adminMu.Lock()
		defer shared.adminMu.Unlock()
		if _, err := shared.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop database: %v", err)
		}
	})
	u := *shared.base
	u.Path = "/" + name
	return u.String()
}

func (s *pgServer) start() error {
	if env := os.Getenv(EnvDatabaseURL); env != "" {
		u, err := url.Parse(env)
		if err != nil {
			return fmt.Errorf("%s is not a URL", EnvDatabaseURL)
		}
		s.base = u
		return s.openAdmin()
	}
	bin, err := pgBinDir()
	if err != nil {
		return err
	}
	removeStaleDirs()
	s.dir, err = os.MkdirTemp("", "clawchat-pg-")
	if err != nil {
		return err
	}
	cred, err := postgresCredential(s.dir)
	if err != nil {
		return s.cleanupAfter(err)
	}
	data := filepath.Join(s.dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = s.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return s.cleanupAfter(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	for attempt := 0; ; attempt++ {
		err := s.startServer(bin, data, cred)
		if err == nil {
			return nil
		}
		if attempt == 2 || !errors.Is(err, errPortInUse) {
			return s.cleanupAfter(err)
		}
	}
}

var errPortInUse = errors.New("port in use")

func (s *pgServer) startServer(bin, data string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	if cred != nil {
		_ = logFile.Chown(int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "log_min_messages=warning")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: if the test binary dies without running Main's cleanup, the server shuts down
	// immediately instead of outliving it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	s.base = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			s.cmd, s.done = nil, nil
			log, _ := os.ReadFile(logPath)
			if bytes.Contains(log, []byte("Address already in use")) {
				return errPortInUse
			}
			return fmt.Errorf("postgres exited during start:\n%s", tail(log))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.base.String())
		if err == nil {
			_ = c.Close(ctx)
			cancel()
			return s.openAdmin()
		}
		cancel()
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			_ = s.stop()
			return fmt.Errorf("postgres did not accept connections within 60s: %v\n%s", err, tail(log))
		}
		time.Sleep(50 * time.Millisecond) // polling an external process's readiness
	}
}

func (s *pgServer) openAdmin() error {
	cfg, err := pgx.ParseConfig(s.base.String())
	if err != nil {
		return errors.New("invalid database URL")
	}
	s.admin = stdlib.OpenDB(*cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.admin.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to %s: %w", s.base.Redacted(), err)
	}
	return nil
}

// stop shuts the server down (fast shutdown, SIGINT, by PID; SIGKILL after 20s) and removes its
// directory. It is a no-op when no server was started.
func (s *pgServer) stop() error {
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
		s.admin = nil
	}
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			errs = append(errs, errors.New("postgres did not stop within 20s; killed"))
		}
		s.cmd, s.done = nil, nil
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
		s.dir = ""
	}
	return errors.Join(errs...)
}

func (s *pgServer) cleanupAfter(err error) error {
	return errors.Join(err, s.stop())
}

// postgresCredential returns the credential to run initdb/postgres with (the postgres OS user when
// we are root, since PostgreSQL refuses to run as root) and hands dir to that user.
func postgresCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres OS user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func pgBinDir() (string, error) {
	if d := os.Getenv(EnvPGBinDir); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(matches, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("initdb not found: install the postgresql package (or set " + EnvDatabaseURL + ")")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) []byte {
	const n = 4000
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// removeStaleDirs deletes the directories of servers whose test binary was killed before it could
// clean up (the server itself died with it, through Pdeathsig): older than an hour and without a
// live postmaster.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "clawchat-pg-*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if pidFile, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(pidFile), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && alive(pid) {
				continue // still running
			}
		}
		_ = os.RemoveAll(dir)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
