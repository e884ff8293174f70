package metrics

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Middleware records every request's status class and latency under its route pattern. Wrap it
// around the http.ServeMux: the mux stores the matched pattern in r.Pattern, which is read after
// the handler returns. Hijacked (WebSocket) and streaming (text/event-stream) requests are
// counted but kept out of the latency histogram. The wrapped ResponseWriter keeps Flush, Hijack
// and Unwrap working.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		stream := strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream")
		if sw.hijacked && !stream { // an SSE stream is hijacked after its 200 head
			status = http.StatusSwitchingProtocols
		}
		if sw.hijacked || stream {
			d = -1
		}
		m.ObserveHTTP(r.Pattern, status, d)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Guard lets a request through to next only when its client address is loopback or inside one
// of allow (CLAWCHAT_METRICS_ALLOW); everything else gets 404, so the endpoint's existence is
// not advertised. clientIP gives the client address (the trusted-proxy aware one from websec);
// nil means the TCP peer. A request that carries forwarding headers (Forwarded, X-Forwarded-For,
// X-Real-IP) but still resolves to loopback came through a local reverse proxy whose hops are not
// trusted: it is not treated as loopback, since that would publish the metrics to the internet.
func Guard(next http.Handler, allow []netip.Prefix, clientIP func(*http.Request) netip.Addr) http.Handler {
	if clientIP == nil {
		clientIP = peerAddr
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r).Unmap()
		ok := false
		if ip.IsValid() {
			if ip.IsLoopback() && !forwarded(r) {
				ok = true
			}
			for _, p := range allow {
				if p.Contains(ip) {
					ok = true
					break
				}
			}
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func forwarded(r *http.Request) bool {
	return r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("X-Real-IP") != ""
}

func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, _ := netip.ParseAddr(r.RemoteAddr)
		return a
	}
	return ap.Addr()
}

// ParseAllow parses a CLAWCHAT_METRICS_ALLOW value: CIDRs or single addresses separated by
// commas or spaces ("10.0.0.0/8, 192.168.1.5"). Empty input gives no prefixes.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
