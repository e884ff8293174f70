// Package host is the example host app of docs/embed.md: a tiny document editor (a textarea)
// with clawchat as its assistant sidebar. It has its own users and its own authorization (who
// may open which document, as editor or viewer), signs clawchat tokens in its backend (EdDSA,
// go-jose), and applies the assistant's suggestions into the textarea. No framework, no
// database: documents live in memory. It doubles as the end-to-end fixture (e2e/embed_test.go).
package host

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// User is one of the host's users and the documents they may open (document id → role).
type User struct {
	ID     string
	Name   string
	Grants map[string]string // "doc:abc123" → "editor" | "viewer"
	// Shared names the granted documents whose assistant conversation is one shared by
	// everyone granted them shared (docs/embed.md "Shared contexts").
	Shared map[string]bool
}

// Config configures the host.
type Config struct {
	// ClawchatURL is clawchat's public URL: where the frame and loader come from, and the aud
	// of the tokens.
	ClawchatURL string
	App         string // the host app id clawchat knows this host by (iss)
	Key         ed25519.PrivateKey
	Users       []User
	// Docs are the documents and their initial text.
	Docs map[string]string
	// TokenLifetime is the tokens' exp (default 5 minutes).
	TokenLifetime time.Duration
}

// DefaultUsers are the example's two users: Alice edits doc:abc123; Bob may open only
// doc:roadmap.
func DefaultUsers() []User {
	return []User{
		{ID: "u-alice", Name: "Alice", Grants: map[string]string{"doc:abc123": "editor", "doc:roadmap": "viewer", "doc:team": "editor"},
			Shared: map[string]bool{"doc:team": true}},
		{ID: "u-bob", Name: "Bob", Grants: map[string]string{"doc:roadmap": "editor", "doc:team": "editor"},
			Shared: map[string]bool{"doc:team": true}},
	}
}

// DefaultDocs are the example's documents.
func DefaultDocs() map[string]string {
	return map[string]string{
		"doc:abc123":  "# Release notes\n\n## Overview\n\nThis release make the editor faster.\n\n## Changes\n\n- Faster start-up\n- Fewer crashes\n",
		"doc:roadmap": "# Roadmap\n\n## Next quarter\n\nShip the assistant sidebar.\n",
		"doc:team":    "# Team notes\n\nAlice and Bob share this document's assistant conversation.\n",
	}
}

// Host is the example host's HTTP handler.
type Host struct {
	cfg   Config
	mux   *http.ServeMux
	mu    sync.Mutex
	sess  map[string]string // host session cookie → user id
	users map[string]User
}

// New returns the host.
func New(cfg Config) *Host {
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 5 * time.Minute
	}
	h := &Host{cfg: cfg, mux: http.NewServeMux(), sess: map[string]string{}, users: map[string]User{}}
	for _, u := range cfg.Users {
		h.users[u.ID] = u
	}
	h.mux.HandleFunc("GET /{$}", h.page)
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.HandleFunc("POST /clawchat-token", h.token)
	return h
}

func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline' "+h.cfg.ClawchatURL+"; frame-src "+h.cfg.ClawchatURL+"; style-src 'unsafe-inline'")
	h.mux.ServeHTTP(w, r)
}

// PublicKeyPEM returns the public key clawchat verifies the tokens with
// (CLAWCHAT_EMBED_<APP>_KEY_FILE).
func PublicKeyPEM(k ed25519.PrivateKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		panic(err) // an ed25519 public key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func (h *Host) user(r *http.Request) (User, bool) {
	c, err := r.Cookie("host_session")
	if err != nil {
		return User{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[h.sess[c.Value]]
	return u, ok
}

func (h *Host) login(w http.ResponseWriter, r *http.Request) {
	u, ok := h.users[r.FormValue("user")]
	if !ok {
		http.Error(w, "no such user", http.StatusBadRequest)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	h.mu.Lock()
	h.sess[id] = u.ID
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "host_session", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/?doc="+r.FormValue("doc"), http.StatusSeeOther)
}

// ContextGrant is one entry of the token's ctx claim.
type ContextGrant struct {
	ID     string `json:"id"`
	Role   string `json:"role"`
	Title  string `json:"title,omitempty"`
	Shared bool   `json:"shared,omitempty"` // one conversation for everyone granted it shared
}

// TokenClaims are the claims the host signs (docs/embed.md "Token format").
type TokenClaims struct {
	jwt.Claims
	Name     string         `json:"name"`
	Email    string         `json:"email,omitempty"`
	Contexts []ContextGrant `json:"ctx"`
}

// Sign returns a token for u (exported for tests, which also forge bad ones).
func (h *Host) Sign(u User, mutate func(*TokenClaims)) (string, error) {
	now := time.Now()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	c := TokenClaims{
		Claims: jwt.Claims{Issuer: h.cfg.App, Subject: u.ID, Audience: jwt.Audience{h.cfg.ClawchatURL},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(h.cfg.TokenLifetime)), ID: hex.EncodeToString(b)},
		Name: u.Name,
	}
	for id, role := range u.Grants {
		c.Contexts = append(c.Contexts, ContextGrant{ID: id, Role: role, Shared: u.Shared[id]})
	}
	if mutate != nil {
		mutate(&c)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: h.cfg.Key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("host: signer: %w", err)
	}
	return jwt.Signed(s).Claims(c).Serialize()
}

// token is POST /clawchat-token: a fresh token for the signed-in user (the loader's getToken).
// A same-origin fetch with the host's own cookie; the token is never put in a URL.
func (h *Host) token(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(r)
	if !ok {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	tok, err := h.Sign(u, nil)
	if err != nil {
		http.Error(w, "cannot sign", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(tok))
}

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

func (h *Host) page(w http.ResponseWriter, r *http.Request) {
	u, signedIn := h.user(r)
	doc := r.URL.Query().Get("doc")
	if doc == "" {
		doc = "doc:abc123"
	}
	text, known := h.cfg.Docs[doc]
	role := u.Grants[doc]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, map[string]any{
		"SignedIn": signedIn, "User": u, "Users": h.cfg.Users, "Doc": doc, "Text": text, "Known": known,
		"Role": role, "Clawchat": h.cfg.ClawchatURL, "App": h.cfg.App,
	})
}

const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Docs host — clawchat embed example</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font:15px/1.5 system-ui,sans-serif;display:flex;height:100vh;height:100dvh}
main{flex:1;min-width:0;display:flex;flex-direction:column;padding:1rem;gap:.5rem}
textarea{flex:1;font:14px/1.5 ui-monospace,monospace;padding:.75rem}
aside{width:380px;border-left:1px solid #ccc;display:flex;flex-direction:column}
#assistant{flex:1}
.bar{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center}
/* A phone: the document above, the assistant below it, each about half the screen. */
@media (max-width:700px){
body{flex-direction:column}
main{flex:0 0 42%;padding:.5rem .75rem;box-sizing:border-box}
textarea{min-height:0;font-size:16px}
aside{width:auto;flex:1;min-height:0;border-left:0;border-top:1px solid #ccc}
}
</style></head><body>
{{if not .SignedIn}}
<main><h1>Docs host</h1><p>An example host app for clawchat. Sign in as:</p>
{{range .Users}}<form method="post" action="/login"><input type="hidden" name="user" value="{{.ID}}"><input type="hidden" name="doc" value="{{$.Doc}}"><button id="login-{{.ID}}">{{.Name}}</button></form>{{end}}
</main>
{{else}}
<main>
<div class="bar"><strong>{{.User.Name}}</strong><span>Document <code>{{.Doc}}</code>{{if .Role}} ({{.Role}}){{else}} (no access){{end}}</span>
<a href="/?doc=doc:abc123">doc:abc123</a><a href="/?doc=doc:roadmap">doc:roadmap</a><a href="/?doc=doc:team">doc:team</a></div>
<textarea id="doc" spellcheck="false" {{if ne .Role "editor"}}readonly{{end}}>{{if .Role}}{{.Text}}{{end}}</textarea>
</main>
<aside><div id="assistant"></div></aside>
<script src="{{.Clawchat}}/clawchat-embed.js"></script>
<script>
const doc = document.getElementById('doc');
const docId = {{.Doc}};
window.hostEvents = [];
const chat = ClawchatEmbed.mount({
  url: {{.Clawchat}}, app: {{.App}}, container: document.getElementById('assistant'),
  getToken: async () => { const r = await fetch('/clawchat-token', { method: 'POST' }); if (!r.ok) throw new Error('token ' + r.status); return r.text(); },
});
// The page context: title, outline (the headings), the section around the caret, the selection.
function pageContext() {
  const t = doc.value, a = doc.selectionStart, b = doc.selectionEnd;
  const lines = t.split('\n');
  const outline = lines.filter((l) => /^#{1,6} /.test(l)).join('\n');
  const start = t.lastIndexOf('\n#', a - 1) + 1, next = t.indexOf('\n#', a);
  return { id: docId, title: (lines.find((l) => l.startsWith('# ')) || '').slice(2), outline,
    section: t.slice(start, next < 0 ? t.length : next), selection: t.slice(a, b), cursor: a };
}
const update = () => chat.setContext(pageContext());
for (const ev of ['select', 'keyup', 'mouseup', 'input']) doc.addEventListener(ev, update);
document.addEventListener('selectionchange', () => { if (document.activeElement === doc) update(); });
update();
for (const name of ['ready', 'unauthorized', 'suggestion']) chat.on(name, (d) => window.hostEvents.push({ name, ...d }));
// Suggestions are applied here, by the host, into its own data (the host decides; clawchat never edits it).
chat.on('suggestion', (s) => {
  if (doc.readOnly) return;
  const t = doc.value;
  const i = s.anchor ? t.indexOf(s.anchor) : doc.selectionStart;
  if (i < 0) { alert('The text to replace is no longer in the document.'); return; }
  doc.value = t.slice(0, i) + s.text + t.slice(i + (s.anchor ? s.anchor.length : 0));
  update();
});
</script>
{{end}}
</body></html>`
