package websec

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func ok() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
}

func TestHeadersEverySet(t *testing.T) {
	h := Headers(ok(), HeaderOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	want := map[string]string{
		"Content-Security-Policy":      DefaultCSP,
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"Permissions-Policy":           DefaultPermissionsPolicy,
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"X-Frame-Options":              "DENY",
	}
	cases := []struct {
		name   string
		remote string
		proto  string
		tls    bool
		hsts   bool
	}{
		{"plain http", "192.0.2.1:1234", "", false, false},
		{"untrusted proxy claims https", "192.0.2.1:1234", "https", false, false},
		{"trusted proxy https", "10.1.2.3:1234", "https", false, true},
		{"trusted proxy http", "10.1.2.3:1234", "http", false, false},
		{"direct tls", "192.0.2.1:1234", "", true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if c.tls {
				r = httptest.NewRequest("GET", "https://example.com/", nil)
				r.RemoteAddr = c.remote
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			for k, v := range want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			hsts := rec.Header().Get("Strict-Transport-Security")
			if c.hsts != (hsts == "max-age=31536000") {
				t.Errorf("HSTS = %q, want present=%v", hsts, c.hsts)
			}
		})
	}
}

func TestCSPStrict(t *testing.T) {
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", " ws:", " wss:", "*"} {
		if strings.Contains(DefaultCSP, bad) {
			t.Errorf("CSP contains %q", bad)
		}
	}
	for _, need := range []string{"frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "connect-src 'self'"} {
		if !strings.Contains(DefaultCSP, need) {
			t.Errorf("CSP lacks %q", need)
		}
	}
}

func TestCrossOrigin(t *testing.T) {
	mw, err := CrossOrigin([]string{"https://trusted.example"})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(ok())
	cases := []struct {
		name, method string
		hdr          map[string]string
		want         int
	}{
		{"cross-site POST (fetch metadata)", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"cross-site POST (origin only)", "POST", map[string]string{"Origin": "https://evil.example"}, 403},
		{"same-site subdomain POST", "POST", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://a.chat.example"}, 403},
		{"null origin POST", "POST", map[string]string{"Origin": "null"}, 403},
		{"same-origin POST", "POST", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://chat.example"}, 200},
		{"same host POST origin only", "POST", map[string]string{"Origin": "https://chat.example"}, 200},
		{"trusted origin POST", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://trusted.example"}, 200},
		{"curl POST", "POST", nil, 200},
		{"cross-site GET", "GET", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
		{"cross-site DELETE", "DELETE", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "https://chat.example/api/sessions", nil)
			for k, v := range c.hdr {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != c.want {
				t.Fatalf("status %d, want %d", rec.Code, c.want)
			}
			if c.want == 403 {
				if !strings.Contains(rec.Body.String(), `"code":"forbidden"`) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
					t.Errorf("body %q ct %q", rec.Body.String(), rec.Header().Get("Content-Type"))
				}
			}
		})
	}
	if _, err := CrossOrigin([]string{"https://x.example/path"}); err == nil {
		t.Error("origin with a path accepted")
	}
}

func TestOriginAllowedWS(t *testing.T) {
	trusted := []string{"https://app.example"}
	cases := []struct {
		name string
		hdr  map[string]string
		want bool
	}{
		{"no origin (script)", nil, true},
		{"same origin", map[string]string{"Origin": "https://chat.example"}, true},
		{"same origin upper case", map[string]string{"Origin": "https://CHAT.example"}, true},
		{"same origin fetch metadata", map[string]string{"Origin": "https://chat.example", "Sec-Fetch-Site": "same-origin"}, true},
		{"cross site", map[string]string{"Origin": "https://evil.example"}, false},
		{"cross site with fetch metadata", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, false},
		{"lying host suffix", map[string]string{"Origin": "https://chat.example.evil.example"}, false},
		{"different port", map[string]string{"Origin": "https://chat.example:8443"}, false},
		{"null", map[string]string{"Origin": "null"}, false},
		{"file scheme", map[string]string{"Origin": "file://chat.example"}, false},
		{"trusted", map[string]string{"Origin": "https://app.example", "Sec-Fetch-Site": "cross-site"}, true},
		{"cross-site metadata without origin", map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://chat.example/ws", nil)
			for k, v := range c.hdr {
				r.Header.Set(k, v)
			}
			if got := OriginAllowed(r, trusted); got != c.want {
				t.Fatalf("OriginAllowed = %v, want %v", got, c.want)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	proxies, err := ParsePrefixes("10.0.0.0/8, 127.0.0.1 ::1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"untrusted peer ignores xff", "203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted peer one hop", "10.0.0.2:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoofed left entries ignored", "10.0.0.2:5000", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "127.0.0.1:5000", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"multiple header lines", "10.0.0.2:5000", []string{"6.6.6.6", "198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{"garbage stops walk", "10.0.0.2:5000", []string{"198.51.100.7, junk, 10.1.1.1"}, "10.1.1.1"},
		{"all trusted", "10.0.0.2:5000", []string{"10.3.3.3"}, "10.3.3.3"},
		{"no xff from proxy", "10.0.0.2:5000", nil, "10.0.0.2"},
		{"ipv6 peer", "[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped v4", "[::ffff:10.0.0.2]:5000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientIP(r, proxies); got.String() != c.want {
				t.Fatalf("ClientIP = %v, want %s", got, c.want)
			}
		})
	}
	if _, err := ParsePrefixes("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
}
