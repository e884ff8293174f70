package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func indexHTML(t *testing.T) string {
	t.Helper()
	b, err := fs.ReadFile(dist, "dist/index.html")
	if err != nil {
		t.Fatalf("dist/index.html missing (run make web): %v", err)
	}
	return string(b)
}

var refRe = regexp.MustCompile(`(?:src|href)="(/[^"]*)"`)

func TestDistIsPresentAndIndexReferencesExistingAssets(t *testing.T) {
	html := indexHTML(t)
	refs := refRe.FindAllStringSubmatch(html, -1)
	if len(refs) < 4 {
		t.Fatalf("index.html references only %d assets", len(refs))
	}
	var js, css bool
	for _, m := range refs {
		p := strings.TrimPrefix(m[1], "/")
		if _, err := fs.Stat(dist, "dist/"+p); err != nil {
			t.Errorf("index.html references %s, which is not in dist: %v", m[1], err)
		}
		js = js || regexp.MustCompile(`^app-[^.]+\.js$`).MatchString(p)
		css = css || regexp.MustCompile(`^app-[^.]+\.css$`).MatchString(p)
	}
	if !js || !css {
		t.Errorf("index.html lacks the hashed app bundle (js=%v css=%v)", js, css)
	}
	for _, f := range []string{"sw.js", "manifest.webmanifest", "icon-192.png", "icon-512.png", "icon-maskable-512.png", "apple-touch-icon.png", "icon.svg"} {
		if _, err := fs.Stat(dist, "dist/"+f); err != nil {
			t.Errorf("dist/%s missing", f)
		}
	}
}

// The CSP has no 'unsafe-inline': the shell must not contain inline script, style or handlers.
func TestIndexHasNoInlineScriptOrStyle(t *testing.T) {
	html := indexHTML(t)
	for _, m := range regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(html, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script in index.html: %q", m[0])
		}
	}
	if regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=|javascript:`).MatchString(html) {
		t.Error("index.html contains inline style, an event handler attribute or a javascript: URL")
	}
}

func TestBuildID(t *testing.T) {
	id := BuildID()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) {
		t.Fatalf("BuildID() = %q", id)
	}
	if !strings.Contains(indexHTML(t), `<meta name="clawchat-build" content="`+id+`">`) {
		t.Error("index.html does not carry the build id")
	}
	sw, _ := fs.ReadFile(dist, "dist/sw.js")
	if !bytes.Contains(sw, []byte(id)) {
		t.Error("sw.js is not keyed to the build id")
	}
}

func TestCachingAndContentTypes(t *testing.T) {
	h := Handler()
	var js, css string
	for _, m := range refRe.FindAllStringSubmatch(indexHTML(t), -1) {
		switch {
		case strings.HasPrefix(m[1], "/app-") && strings.HasSuffix(m[1], ".js"):
			js = m[1]
		case strings.HasPrefix(m[1], "/app-") && strings.HasSuffix(m[1], ".css"):
			css = m[1]
		}
	}
	cases := []struct{ path, ctype, cache string }{
		{js, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{css, "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/", "text/html; charset=utf-8", "no-cache"},
		{"/index.html", "text/html; charset=utf-8", "no-cache"},
		{"/sw.js", "text/javascript; charset=utf-8", "no-cache"},
		{"/manifest.webmanifest", "application/manifest+json", "no-cache"},
		{"/build.json", "application/json", "no-cache"},
		{"/icon-192.png", "image/png", "public, max-age=86400"},
		{"/icon.svg", "image/svg+xml", "public, max-age=86400"},
	}
	for _, c := range cases {
		res := get(t, h, c.path, nil)
		if res.StatusCode != 200 {
			t.Errorf("%s: status %d", c.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != c.cache {
			t.Errorf("%s: Cache-Control %q, want %q", c.path, got, c.cache)
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("%s: no ETag", c.path)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", c.path)
		}
	}
}

func TestIndexRevalidatesWithETag(t *testing.T) {
	h := Handler()
	res := get(t, h, "/", nil)
	tag := res.Header.Get("ETag")
	res2 := get(t, h, "/", map[string]string{"If-None-Match": tag})
	if res2.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match with current ETag: status %d, want 304", res2.StatusCode)
	}
	res3 := get(t, h, "/", map[string]string{"If-None-Match": `"stale"`})
	if res3.StatusCode != 200 {
		t.Fatalf("stale ETag: status %d", res3.StatusCode)
	}
}

func TestSPAFallbackButNotForServerRoutes(t *testing.T) {
	h := Handler()
	index := indexHTML(t)
	for _, p := range []string{"/c/default", "/settings", "/some/deep/route"} {
		res := get(t, h, p, nil)
		if res.StatusCode != 200 || body(t, res) != index {
			t.Errorf("%s: want index.html, got status %d", p, res.StatusCode)
		}
	}
	for _, p := range []string{"/api/sessions", "/api/", "/api", "/ws", "/auth/oidc/login", "/auth", "/app-deadbeef.js", "/missing.css", "/favicon.ico", "/index.html.gz"} {
		res := get(t, h, p, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, res.StatusCode)
		}
		if strings.Contains(body(t, res), "<!doctype html>") {
			t.Errorf("%s: served the app shell", p)
		}
	}
}

func TestGzipNegotiation(t *testing.T) {
	h := Handler()
	plain := get(t, h, "/sw.js", nil)
	want := body(t, plain)
	if plain.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip sent without Accept-Encoding")
	}
	gz := get(t, h, "/sw.js", map[string]string{"Accept-Encoding": "br, gzip"})
	if gz.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(gz.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("headers %v", gz.Header)
	}
	if gz.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Error("gzip and identity variants share an ETag")
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if string(got) != want {
		t.Error("gzip body differs from identity body")
	}
	if r := get(t, h, "/sw.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); r.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent although q=0")
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	h := Handler()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(m, "/", nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", m, w.Code)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/", nil))
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
}

func TestPathTraversalStaysInDist(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/../web.go", "/..%2fweb.go", "/dist/index.html"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.Path = p
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if strings.Contains(w.Body.String(), "package web") {
			t.Errorf("%s served Go source", p)
		}
	}
}

// The initial signed-in load (index.html, the app bundle and its stylesheet, as served gzipped)
// stays within the web app's budget of 80 KB (issue 11); `node web/build.mjs` prints the same sum.
func TestInitialLoadBudget(t *testing.T) {
	const budget = 80_000
	total := 0
	for _, f := range []string{"dist/index.html", "dist/" + jsOf(t), "dist/" + cssOf(t)} {
		b, err := fs.ReadFile(dist, f+".gz")
		if err != nil {
			t.Fatalf("%s.gz: %v", f, err)
		}
		total += len(b)
	}
	t.Logf("initial load: %d bytes gzip (budget %d)", total, budget)
	if total > budget {
		t.Errorf("initial load is %d bytes gzip, over the budget of %d", total, budget)
	}
}

func jsOf(t *testing.T) string  { return assetOf(t, `^app-[^.]+\.js$`) }
func cssOf(t *testing.T) string { return assetOf(t, `^app-[^.]+\.css$`) }

// assetOf is the asset index.html references whose name matches the pattern.
func assetOf(t *testing.T, pattern string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	for _, m := range refRe.FindAllStringSubmatch(indexHTML(t), -1) {
		if p := strings.TrimPrefix(m[1], "/"); re.MatchString(p) {
			return p
		}
	}
	t.Fatalf("index.html references no asset like %s", pattern)
	return ""
}
