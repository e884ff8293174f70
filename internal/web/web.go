// Package web serves the embedded web app (the PWA built from web/ into dist/).
//
// dist/ is committed, so `go build` needs no Node; `make web` regenerates it. Hashed assets
// (app-<hash>.js, app-<hash>.css) are served as immutable; index.html, sw.js, the manifest and
// build.json are served with `Cache-Control: no-cache` and an ETag so a deploy is picked up at
// once. Compressible files have precompressed .gz siblings that are sent to clients accepting
// gzip. Unknown extension-less paths fall back to index.html (the app routes); /api/, /ws and
// /auth/ never do.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

var hashedName = regexp.MustCompile(`^(app|embed)-[A-Za-z0-9_-]+\.(js|css)$`)

// asset is one servable file; immutable after Handler builds it.
type asset struct {
	body, gz    []byte
	etag, gzTag string
	ctype       string
	cache       string
}

type handler struct {
	files map[string]*asset // by URL path, e.g. "/index.html"
	index *asset
}

// Handler returns an http.Handler serving the embedded app at the site root. It is safe for
// concurrent use. It answers only GET and HEAD (405 otherwise) and sets no security headers
// beyond X-Content-Type-Options; the CSP and friends come from the middleware in front of it.
// It panics if the embedded dist/ is unusable, which the package tests rule out.
func Handler() http.Handler {
	h, err := newHandler(dist)
	if err != nil {
		panic("web: " + err.Error())
	}
	return h
}

// BuildID returns the id of the embedded build (a hash of the shell's assets), the same value
// index.html carries in <meta name="clawchat-build">. Clients compare it with the `build` field
// of GET /api/config to offer a reload after a deploy. It returns "" if dist/ has no build.json.
func BuildID() string {
	b, err := dist.ReadFile("dist/build.json")
	if err != nil {
		return ""
	}
	var v struct {
		Build string `json:"build"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.Build
}

func newHandler(fsys fs.FS) (*handler, error) {
	sub, err := fs.Sub(fsys, "dist")
	if err != nil {
		return nil, fmt.Errorf("dist: %w", err)
	}
	h := &handler{files: map[string]*asset{}}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".gz") {
			return nil
		}
		body, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		a := &asset{body: body, etag: etag(body, ""), ctype: contentType(p), cache: cachePolicy(p)}
		if gz, err := fs.ReadFile(sub, p+".gz"); err == nil && len(gz) < len(body) {
			a.gz, a.gzTag = gz, etag(body, "-gz")
		}
		h.files["/"+p] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dist: %w", err)
	}
	h.index = h.files["/index.html"]
	if h.index == nil {
		return nil, fmt.Errorf("dist has no index.html (run make web)")
	}
	return h, nil
}

func etag(b []byte, suffix string) string {
	s := sha256.Sum256(b)
	return `"` + hex.EncodeToString(s[:12]) + suffix + `"`
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".webmanifest":
		return "application/manifest+json"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func cachePolicy(p string) string {
	switch {
	case hashedName.MatchString(path.Base(p)):
		return "public, max-age=31536000, immutable"
	case strings.HasSuffix(p, ".png"), strings.HasSuffix(p, ".svg"):
		return "public, max-age=86400"
	default: // index.html, sw.js, manifest.webmanifest, build.json
		return "no-cache"
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	a := h.files[p]
	if p == "/" {
		a = h.index
	}
	if a == nil {
		if p == "/api" || p == "/auth" || serverPath(p) || strings.Contains(path.Base(p), ".") {
			http.NotFound(w, r)
			return
		}
		a = h.index
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", a.cache)
	hd.Set("X-Content-Type-Options", "nosniff")
	body, tag := a.body, a.etag
	if a.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) && r.Header.Get("Range") == "" {
			body, tag = a.gz, a.gzTag
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", tag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// serverPath reports whether p belongs to the server (API, WebSocket, sign-in), never to the app.
func serverPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/ws") || strings.HasPrefix(p, "/auth/")
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (q > 0).
func acceptsGzip(h string) bool {
	for part := range strings.SplitSeq(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
