// Package websec holds clawchat's browser-facing HTTP hardening: security headers (a strict CSP,
// HSTS, framing and sniffing protections), cross-origin protection for state-changing requests
// (CSRF) and for the WebSocket upgrade (CSWSH), and the client IP behind trusted reverse proxies.
//
// Everything here is stateless after construction and safe for concurrent use.
package websec

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clawchat/clawchat/internal/httpjson"
)

// DefaultCSP is the Content-Security-Policy sent with every response. The web app is a bundled
// script with external style sheets, so neither 'unsafe-inline' nor 'unsafe-eval' is needed.
const DefaultCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'; manifest-src 'self'; worker-src 'self'"

// DefaultPermissionsPolicy turns off powerful browser features the chat app does not use; the
// microphone is the app's own (same origin only), for dictation (Web Speech API) and voice memos.
const DefaultPermissionsPolicy = "camera=(), microphone=(self), geolocation=(), payment=(), usb=(), " +
	"serial=(), bluetooth=(), midi=(), magnetometer=(), gyroscope=(), accelerometer=(), browsing-topics=()"

// DefaultHSTSMaxAge is the Strict-Transport-Security max-age used when HeaderOptions.HSTSMaxAge is 0.
const DefaultHSTSMaxAge = 365 * 24 * time.Hour

// HeaderOptions configures Headers. The zero value gives the defaults.
type HeaderOptions struct {
	// TrustedProxies are the reverse proxies whose X-Forwarded-Proto is believed when deciding
	// whether a request arrived over HTTPS (for HSTS).
	TrustedProxies []netip.Prefix
	// HSTSMaxAge is the HSTS max-age (default one year). Negative disables HSTS.
	HSTSMaxAge time.Duration
	// HSTSIncludeSubdomains adds includeSubDomains to HSTS (off by default: it affects every
	// other site under the same domain).
	HSTSIncludeSubdomains bool
	// CSP overrides DefaultCSP. Leave empty unless you know why.
	CSP string
	// PermissionsPolicy overrides DefaultPermissionsPolicy.
	PermissionsPolicy string
}

// Headers wraps next so that every response carries clawchat's security headers: a strict CSP,
// X-Content-Type-Options, Referrer-Policy, Permissions-Policy, Cross-Origin-Opener-Policy,
// Cross-Origin-Resource-Policy and X-Frame-Options, plus HSTS when the request came in over
// HTTPS (directly, or through a trusted proxy that says so in X-Forwarded-Proto). Handlers may
// still override a header after the middleware has run (for example a stricter CSP on one route).
func Headers(next http.Handler, opts HeaderOptions) http.Handler {
	csp := opts.CSP
	if csp == "" {
		csp = DefaultCSP
	}
	pp := opts.PermissionsPolicy
	if pp == "" {
		pp = DefaultPermissionsPolicy
	}
	hsts := ""
	if opts.HSTSMaxAge >= 0 {
		age := opts.HSTSMaxAge
		if age == 0 {
			age = DefaultHSTSMaxAge
		}
		hsts = "max-age=" + strconv.FormatInt(int64(age/time.Second), 10)
		if opts.HSTSIncludeSubdomains {
			hsts += "; includeSubDomains"
		}
	}
	proxies := append([]netip.Prefix(nil), opts.TrustedProxies...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", pp)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if hsts != "" && IsHTTPS(r, proxies) {
			h.Set("Strict-Transport-Security", hsts)
		}
		next.ServeHTTP(w, r)
	})
}

// IsHTTPS reports whether r reached the client-facing edge over HTTPS: either this server
// terminated TLS itself, or the TCP peer is a trusted proxy whose (last) X-Forwarded-Proto is https.
func IsHTTPS(r *http.Request, trustedProxies []netip.Prefix) bool {
	if r.TLS != nil {
		return true
	}
	if !inPrefixes(peerAddr(r), trustedProxies) {
		return false
	}
	vals := r.Header.Values("X-Forwarded-Proto")
	if len(vals) == 0 {
		return false
	}
	parts := strings.Split(vals[len(vals)-1], ",")
	return strings.EqualFold(strings.TrimSpace(parts[len(parts)-1]), "https")
}

// CrossOrigin returns middleware built on http.CrossOriginProtection: state-changing requests
// (anything but GET, HEAD, OPTIONS) from a cross-site browser context are answered 403 with a
// JSON error; requests without Origin and Sec-Fetch-Site (curl, scripts) pass. trustedOrigins are
// extra origins ("https://app.example.com", scheme://host[:port], no path) allowed to make such
// requests. It fails on a malformed origin.
func CrossOrigin(trustedOrigins []string) (func(http.Handler) http.Handler, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range trustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("websec: trusted origin %q: %w", o, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusForbidden, "forbidden", "cross-origin request refused")
	}))
	return cop.Handler, nil
}

// WriteError writes clawchat's JSON error shape {"error":{"code":…,"message":…}} through
// internal/httpjson. code and message must be constant, safe strings.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	httpjson.Fail(w, status, code, message)
}

// OriginAllowed reports whether a WebSocket upgrade (or any request) may proceed under the
// same-origin rule: allowed when the request carries no Origin (not a browser), when
// Sec-Fetch-Site is same-origin or none, when the Origin's host equals the request's Host, or when
// the Origin is one of trusted (exact scheme://host[:port], case-insensitive). "null" and
// malformed origins are refused. Like http.CrossOriginProtection it trusts Sec-Fetch-Site when the
// browser sends it, and otherwise compares the Origin's host with Host, so a reverse proxy must
// pass the original Host through. Callers answer 403 when it returns false.
func OriginAllowed(r *http.Request, trusted []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		switch r.Header.Get("Sec-Fetch-Site") {
		case "", "same-origin", "none":
			return true
		default:
			return false
		}
	}
	for _, t := range trusted {
		if strings.EqualFold(strings.TrimRight(t, "/"), origin) {
			return true
		}
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return true
	case "":
	default: // cross-site, same-site, none with an Origin, or anything unknown
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.User != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// ClientIP returns the address of the client that made r. The TCP peer is used unless it is one of
// trustedProxies; then X-Forwarded-For is read from the right, skipping trusted proxies, and the
// right-most address that is not a trusted proxy is the client. Entries a client could have
// forged (anything left of that) are never used. A malformed entry stops the walk and the last
// good hop is returned. IPv4-mapped IPv6 addresses are unmapped. It returns the zero Addr only
// when RemoteAddr itself is unparseable.
func ClientIP(r *http.Request, trustedProxies []netip.Prefix) netip.Addr {
	peer := peerAddr(r)
	if !peer.IsValid() || !inPrefixes(peer, trustedProxies) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return client
		}
		client = a
		if !inPrefixes(a, trustedProxies) {
			return a
		}
	}
	return client
}

func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// PeerAddr returns the TCP peer address of r (RemoteAddr without the port), unmapped; the zero
// Addr when RemoteAddr is not an IP (for example a Unix socket).
func PeerAddr(r *http.Request) netip.Addr { return peerAddr(r) }

func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// InPrefixes reports whether a is inside one of ps.
func InPrefixes(a netip.Addr, ps []netip.Prefix) bool { return inPrefixes(a, ps) }

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParsePrefixes parses a comma- or space-separated list of CIDRs or bare IPs (a bare IP becomes a
// /32 or /128), as used for CLAWCHAT_TRUSTED_PROXIES. It fails on the first bad entry.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("websec: bad CIDR %q: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("websec: bad IP %q: %w", f, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
