package ochar

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// How a Netns gateway is laid out (needs root):
//
//	test process (host namespace)          client namespace           gateway namespace
//	clawchat client ──ws──▶ 127.0.0.1:P ─▶ proxy dials from 10.213.0.2 ─veth─▶ 10.213.0.1:18789
//	                                                                      OpenClaw (bind lan)
//	                                                                      fake model 127.0.0.1:18790
//
// The Gateway runs under `ip netns exec <gw>`; the fake model is served in-process from a
// listener opened inside the gateway namespace; the proxy's outgoing sockets are opened
// inside the client namespace. Both use a locked OS thread that enters the namespace with
// setns(2) only to create the socket and then returns to the original namespace: a socket
// stays in the namespace it was created in. So the Gateway sees a non-loopback peer
// (10.213.0.2) while the Go test dials plain loopback and needs no knob in its client.
const (
	gwIP = "10.213.0.1"
	clIP = "10.213.0.2"
)

// netnsPair is two namespaces joined by a veth pair. Names include the test's PID and a
// random suffix, so parallel test binaries do not collide.
type netnsPair struct {
	gw, cl       string // namespace names
	vethGw, veCl string // interface names (15 chars max)
}

// NetnsAvailable reports whether this process can create network namespaces (root and
// `ip` present), with the reason when not.
func NetnsAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("iproute2 `ip` not found: %w", err)
	}
	return nil
}

func newNetnsPair(ctx context.Context) (*netnsPair, error) {
	if err := NetnsAvailable(); err != nil {
		return nil, fmt.Errorf("ochar: %w", err)
	}
	var b [3]byte
	rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	base := fmt.Sprintf("clawchat-%d-%s", os.Getpid(), suffix)
	n := &netnsPair{gw: base + "-gw", cl: base + "-cl", vethGw: "cc" + suffix + "g", veCl: "cc" + suffix + "c"}
	steps := [][]string{
		{"netns", "add", n.gw},
		{"netns", "add", n.cl},
		{"link", "add", n.vethGw, "type", "veth", "peer", "name", n.veCl},
		{"link", "set", n.vethGw, "netns", n.gw},
		{"link", "set", n.veCl, "netns", n.cl},
		{"-n", n.gw, "addr", "add", gwIP + "/30", "dev", n.vethGw},
		{"-n", n.cl, "addr", "add", clIP + "/30", "dev", n.veCl},
		{"-n", n.gw, "link", "set", "lo", "up"},
		{"-n", n.gw, "link", "set", n.vethGw, "up"},
		{"-n", n.cl, "link", "set", "lo", "up"},
		{"-n", n.cl, "link", "set", n.veCl, "up"},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, "ip", s...).CombinedOutput(); err != nil {
			n.close()
			return nil, fmt.Errorf("ochar: ip %s: %w: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return n, nil
}

// close deletes both namespaces (which deletes the veth pair) and, should the pair still
// exist in the host namespace (a failed setup), the link.
func (n *netnsPair) close() error {
	var errs []error
	for _, ns := range []string{n.gw, n.cl} {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ochar: ip netns del %s: %w: %s", ns, err, strings.TrimSpace(string(out))))
		}
	}
	if _, err := net.InterfaceByName(n.vethGw); err == nil {
		exec.Command("ip", "link", "del", n.vethGw).Run()
	}
	return errors.Join(errs...)
}

// inNamespace runs fn on a locked OS thread that has entered namespace ns. fn should only
// create sockets. It runs on its own goroutine: if the thread cannot return to the original
// namespace, the goroutine exits still locked and the runtime discards the thread.
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("ochar: open own netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("ochar: open netns %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("ochar: setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		} // else: keep the thread locked; it dies with this goroutine.
		errc <- ferr
	}()
	return <-errc
}

func (n *netnsPair) inGateway(fn func() error) error { return inNamespace(n.gw, fn) }

// dialIn dials addr from namespace ns. The connect itself completes on the netpoller; only
// the socket creation needs the namespace.
func dialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNamespace(ns, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// dialGateway dials addr (normally 127.0.0.1:port) inside the gateway namespace.
func (n *netnsPair) dialGateway(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialIn(ctx, n.gw, network, addr)
}

// proxy accepts on a host loopback port and forwards every connection to target, dialled
// from the client namespace.
type proxy struct {
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
}

func startProxy(n *netnsPair, target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ochar: proxy listen: %w", err)
	}
	p := &proxy{addr: ln.Addr().String(), ln: ln, conn: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(n, c, target)
			}()
		}
	}()
	return p, nil
}

func (p *proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.conn == nil {
			return false
		}
		p.conn[c] = struct{}{}
	} else if p.conn != nil {
		delete(p.conn, c)
	}
	return true
}

func (p *proxy) forward(n *netnsPair, c net.Conn, target string) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	up, err := dialIn(ctx, n.cl, "tcp", target)
	cancel()
	if err != nil {
		return
	}
	defer up.Close()
	if !p.track(c, true) || !p.track(up, true) {
		return
	}
	defer p.track(c, false)
	defer p.track(up, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	// One direction ended: close both so the other copy ends too.
	c.Close()
	up.Close()
	<-done
}

// close stops accepting, cuts every forwarded connection and waits for the goroutines.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conn {
		c.Close()
	}
	p.conn = nil
	p.mu.Unlock()
	p.wg.Wait()
}
