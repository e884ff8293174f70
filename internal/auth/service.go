// Package auth signs people in and keeps them signed in: local accounts with argon2id passwords,
// OpenID Connect (authorization code + PKCE), trusted-proxy headers, server-side sessions (memory,
// SQL or Redis) behind an opaque cookie, sign-in throttling, and the RequireUser middleware that
// puts the chat.User into the request context. Secrets (passwords, hashes, session tokens, the
// OIDC client secret, ID tokens) never appear in logs, errors or responses.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/websec"
)

// Deps are the Service's collaborators.
type Deps struct {
	// Store holds accounts, the audit log and sessions (see Combine). Required.
	Store Store
	// Logger receives audit lines and warnings (slog.Default() when nil).
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// HTTPClient is used for OIDC discovery, JWKS and the token endpoint (a client with a 15 s
	// timeout when nil).
	HTTPClient *http.Client
	// Pending keeps OIDC login state between /auth/oidc/login and the callback (in memory when
	// nil; use RedisPending when several instances sit behind a non-sticky load balancer).
	Pending PendingStore

	hasher *Hasher // tests inject a cheaper one
}

// Service implements sign-in, sign-out and request authentication. Its methods are safe for
// concurrent use.
type Service struct {
	cfg      Config
	store    Store
	log      *slog.Logger
	now      func() time.Time
	hasher   *Hasher
	sameSite http.SameSite
	acctThr  *throttle
	ipThr    *throttle
	oidc     *oidcClient
}

// New validates cfg and returns a Service. When OIDC is configured it runs discovery now (with
// ctx) and fails with an error naming CLAWCHAT_OIDC_ISSUER when the issuer is unreachable or
// inconsistent, so misconfiguration stops the start instead of the first sign-in.
func New(ctx context.Context, cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil {
		return nil, errors.New("auth: no store")
	}
	cfg = cfg.withDefaults()
	ss, _ := parseSameSite(cfg.CookieSameSite)
	s := &Service{
		cfg:      cfg,
		store:    d.Store,
		log:      d.Logger,
		now:      d.Now,
		hasher:   d.hasher,
		sameSite: ss,
		acctThr:  newThrottle(cfg.Throttle.AccountFailures, cfg.Throttle.Window, cfg.Throttle.MaxLockout),
		ipThr:    newThrottle(cfg.Throttle.IPFailures, cfg.Throttle.Window, cfg.Throttle.MaxLockout),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.hasher == nil {
		h, err := NewHasher(nil, cfg.HashConcurrency)
		if err != nil {
			return nil, err
		}
		s.hasher = h
	}
	if cfg.OIDC.Enabled() {
		hc := d.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: 15 * time.Second}
		}
		pending := d.Pending
		if pending == nil {
			pending = NewMemoryPending(s.now)
		}
		o, err := newOIDCClient(ctx, cfg.OIDC, hc, pending, s.now)
		if err != nil {
			return nil, err
		}
		s.oidc = o
		if len(cfg.OIDC.AllowedSubjects)+len(cfg.OIDC.AllowedEmails)+len(cfg.OIDC.AllowedGroups) == 0 {
			s.log.Warn("auth: OIDC is enabled but no allowlist is set, so nobody can sign in with it; set CLAWCHAT_OIDC_ALLOWED_SUBJECTS, _EMAILS or _GROUPS")
		}
		if len(cfg.Owners) > 0 {
			// Before issue 16 CLAWCHAT_OWNERS also matched OIDC preferred_username; say loudly
			// that it no longer does, so nobody silently loses (or keeps relying on) it.
			s.log.Warn("auth: CLAWCHAT_OWNERS names local and trusted-proxy accounts only; it does not make OIDC users owners (preferred_username is not trustworthy). Use CLAWCHAT_OIDC_OWNER_SUBJECTS, CLAWCHAT_OIDC_OWNER_EMAILS or CLAWCHAT_OIDC_OWNER_GROUPS, and check `clawchat user list` for OIDC accounts that are owners by mistake",
				"owners", cfg.Owners)
		}
	}
	return s, nil
}

// Hasher returns the Service's password hasher (for Bootstrap, FirstRun and UserCommand in the
// same process).
func (s *Service) Hasher() *Hasher { return s.hasher }

// PublicConfig is the auth part of GET /api/config.
type PublicConfig struct {
	Local bool           `json:"local"`
	OIDC  PublicOIDCInfo `json:"oidc"`
}

// PublicOIDCInfo tells the sign-in page whether to show the single sign-on button.
type PublicOIDCInfo struct {
	Enabled bool   `json:"enabled"`
	Label   string `json:"label,omitempty"`
	URL     string `json:"url,omitempty"`
}

// PublicConfig returns what the sign-in page needs to know (no secrets).
func (s *Service) PublicConfig() PublicConfig {
	pc := PublicConfig{Local: !s.cfg.DisableLocal}
	if s.oidc != nil {
		pc.OIDC = PublicOIDCInfo{Enabled: true, Label: s.cfg.OIDC.Label, URL: "/auth/oidc/login"}
	}
	return pc
}

// ---- sessions ----

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// startSession creates a new session for acc and sets its cookie. Any session named by the
// request's existing cookie is deleted first (rotation on sign-in: no fixation).
func (s *Service) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, acc chat.Account, idToken string) error {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if err := s.store.DeleteSession(ctx, hashToken(c.Value)); err != nil {
			s.log.Warn("auth: discard previous session", "err", err)
		}
	}
	now := s.now().UTC()
	token := randomToken()
	sess := chat.Session{
		ID: hashToken(token), UserID: acc.ID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.cfg.SessionAbsolute), IDTokenHint: idToken,
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return fmt.Errorf("auth: create session: %w", err)
	}
	http.SetCookie(w, s.cookie(token, sess.ExpiresAt))
	return nil
}

func (s *Service) cookie(token string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: !s.cfg.CookieInsecure, SameSite: s.sameSite,
	}
	if token == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// session returns the valid session named by r's cookie and its account. It enforces the
// absolute and idle timeouts and disabled accounts, deletes dead sessions, and touches the
// session at most once per minute.
func (s *Service) session(r *http.Request) (chat.Session, chat.Account, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return chat.Session{}, chat.Account{}, false
	}
	return s.sessionByID(r.Context(), hashToken(c.Value))
}

// sessionByID is session for a session id (the hash of the cookie token).
func (s *Service) sessionByID(ctx context.Context, id string) (chat.Session, chat.Account, bool) {
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		if !errors.Is(err, chat.ErrNotFound) {
			s.log.Error("auth: load session", "err", err)
		}
		return chat.Session{}, chat.Account{}, false
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > s.cfg.SessionIdle {
		_ = s.store.DeleteSession(ctx, id)
		return chat.Session{}, chat.Account{}, false
	}
	acc, err := s.store.Account(ctx, sess.UserID)
	if err != nil || acc.Disabled {
		if err != nil && !errors.Is(err, chat.ErrNotFound) {
			s.log.Error("auth: load account", "err", err)
			return chat.Session{}, chat.Account{}, false
		}
		_ = s.store.DeleteSession(ctx, id)
		return chat.Session{}, chat.Account{}, false
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.store.TouchSession(ctx, id, now.UTC()); err != nil {
			s.log.Warn("auth: touch session", "err", err)
		}
	}
	return sess, acc, true
}

// Credential names what authenticated r, for Revalidate: "s:" and the session id (never the
// cookie token itself) for a session cookie, "p:" and the account id for a trusted-proxy user,
// "" when r is not signed in. Long-lived connections keep it instead of the user and role they
// had at upgrade.
func (s *Service) Credential(r *http.Request) string {
	if sess, _, ok := s.session(r); ok {
		return "s:" + sess.ID
	}
	if acc, ok := s.proxyUser(r); ok {
		return "p:" + acc.ID
	}
	return ""
}

// Revalidate returns the current user behind a Credential: false once the session ended (signed
// out, revoked, expired) or the account is disabled or deleted; the role and name are read now,
// so a role change shows. It costs what authenticating a request costs (a session and an account
// read).
func (s *Service) Revalidate(ctx context.Context, cred string) (chat.User, bool) {
	switch {
	case strings.HasPrefix(cred, "s:"):
		if _, acc, ok := s.sessionByID(ctx, cred[2:]); ok {
			return acc.User(), true
		}
	case strings.HasPrefix(cred, "p:") && s.cfg.ProxyAuth.Enabled():
		acc, err := s.store.Account(ctx, cred[2:])
		if err == nil && !acc.Disabled {
			return acc.User(), true
		}
	}
	return chat.User{}, false
}

// Authenticate returns the user of r from its session cookie, or from trusted-proxy headers when
// configured, without writing a response. Use it for the WebSocket upgrade.
func (s *Service) Authenticate(r *http.Request) (chat.User, bool) {
	if _, acc, ok := s.session(r); ok {
		return acc.User(), true
	}
	if acc, ok := s.proxyUser(r); ok {
		return acc.User(), true
	}
	return chat.User{}, false
}

// RequireUser wraps next so that it only runs for signed-in users, with the chat.User in the
// request context (chat.WithUser). Everyone else gets 401 JSON
// {"error":{"code":"unauthorized","message":"sign in required"}}, never a redirect.
func (s *Service) RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.Authenticate(r)
		if !ok {
			websec.WriteError(w, http.StatusUnauthorized, "unauthorized", "sign in required")
			return
		}
		next.ServeHTTP(w, r.WithContext(chat.WithUser(r.Context(), u)))
	})
}

// RevokeUser ends every session of userID (for example after a role change or deletion by an
// owner through the API).
func (s *Service) RevokeUser(ctx context.Context, userID string) error {
	if err := s.store.DeleteUserSessions(ctx, userID); err != nil {
		return fmt.Errorf("auth: revoke sessions: %w", err)
	}
	return nil
}

// Cleanup deletes expired sessions from the store; the lead calls it periodically (hourly is
// plenty). Redis needs no cleanup (keys carry TTLs).
func (s *Service) Cleanup(ctx context.Context) (int, error) {
	n, err := s.store.DeleteExpiredSessions(ctx, s.now().UTC(), s.cfg.SessionIdle)
	if err != nil {
		return n, fmt.Errorf("auth: delete expired sessions: %w", err)
	}
	return n, nil
}

// ---- handlers ----

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Next     string `json:"next"`
	// ReturnTo is miso-chat's name for Next (used when Next is empty).
	ReturnTo string `json:"return_to"`
}

// Login handles POST /login: a form or JSON body {"username","password","next"?}. Success → 200
// {"ok":true,"user":{…}} with a fresh session cookie, or for a form post 302 (as miso-chat
// answers) to the same-site next (from the body or the query; miso-chat's return_to is accepted
// as an alias, and like next passes SafeNext). Wrong password and unknown user get the same 401
// body after the same amount of work; too many failures per account or client IP → 429 with
// Retry-After.
func (s *Service) Login(w http.ResponseWriter, r *http.Request) {
	if s.cfg.DisableLocal {
		websec.WriteError(w, http.StatusNotFound, "not_found", "password sign-in is disabled")
		return
	}
	req, form, err := parseLogin(w, r)
	if err != nil {
		websec.WriteError(w, http.StatusBadRequest, "bad_request", "username and password required")
		return
	}
	for _, alt := range []string{req.ReturnTo, r.URL.Query().Get("next"), r.URL.Query().Get("return_to")} {
		if req.Next == "" {
			req.Next = alt
		}
	}
	ctx := r.Context()
	ip := websec.ClientIP(r, s.cfg.TrustedProxies)
	ipKey := ipThrottleKey(ip)
	name := NormalizeUsername(req.Username)
	acctKey := "u:" + name
	// Reserve the attempt on both keys before the queued hash, so parallel guesses cannot all
	// pass a check that only counts settled failures.
	now := s.now()
	d, ok := s.ipThr.reserve(ipKey, now)
	if ok {
		var da time.Duration
		if da, ok = s.acctThr.reserve(acctKey, now); !ok {
			s.ipThr.release(ipKey)
			d = da
		}
	}
	if !ok {
		s.audit(ctx, chat.AuditEntry{Action: "login.throttled", Target: truncate(name, 64), IP: ip.String()})
		writeRateLimited(w, d)
		return
	}
	acc, ok, err := s.checkPassword(ctx, name, req.Password)
	if err != nil {
		s.ipThr.release(ipKey)
		s.acctThr.release(acctKey)
		s.log.Error("auth: sign-in", "err", err)
		websec.WriteError(w, http.StatusInternalServerError, "internal", "sign-in failed")
		return
	}
	if !ok {
		now = s.now()
		s.acctThr.fail(acctKey, now)
		s.ipThr.fail(ipKey, now)
		s.audit(ctx, chat.AuditEntry{Action: "login.failure", Target: truncate(name, 64), IP: ip.String(), Detail: "local"})
		websec.WriteError(w, http.StatusUnauthorized, "unauthorized", "invalid username or password")
		return
	}
	s.acctThr.succeed(acctKey)
	s.ipThr.release(ipKey)
	if err := s.startSession(ctx, w, r, acc, ""); err != nil {
		s.log.Error("auth: sign-in", "err", err)
		websec.WriteError(w, http.StatusInternalServerError, "internal", "sign-in failed")
		return
	}
	s.audit(ctx, chat.AuditEntry{Action: "login.success", Actor: acc.ID, Target: acc.Username, IP: ip.String(), Detail: "local"})
	if form {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, SafeNext(req.Next), http.StatusFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": acc.User()})
}

// checkPassword verifies name/password. Unknown, disabled and password-less accounts cost one
// dummy hash, exactly like a wrong password.
func (s *Service) checkPassword(ctx context.Context, name, password string) (chat.Account, bool, error) {
	if !ValidUsername(name) || password == "" {
		return chat.Account{}, false, s.hasher.VerifyDummy(ctx, password)
	}
	acc, err := s.store.AccountByUsername(ctx, name)
	if err != nil {
		if !errors.Is(err, chat.ErrNotFound) {
			return chat.Account{}, false, fmt.Errorf("auth: look up account: %w", err)
		}
		return chat.Account{}, false, s.hasher.VerifyDummy(ctx, password)
	}
	if acc.PasswordHash == "" {
		return chat.Account{}, false, s.hasher.VerifyDummy(ctx, password)
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, acc.PasswordHash)
	if err != nil || !ok || acc.Disabled {
		return chat.Account{}, false, err
	}
	if rehash {
		if h, err := s.hasher.Hash(ctx, password); err == nil {
			acc.PasswordHash = h
			acc.UpdatedAt = s.now().UTC()
			if err := s.store.UpdateAccount(ctx, acc); err != nil {
				s.log.Warn("auth: upgrade password hash", "user", acc.ID, "err", err)
			}
		}
	}
	return acc, true, nil
}

func parseLogin(w http.ResponseWriter, r *http.Request) (loginRequest, bool, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var req loginRequest
	switch ct {
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return req, false, err
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(64 << 10); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return req, false, err
		}
		req = loginRequest{Username: r.PostFormValue("username"), Password: r.PostFormValue("password"),
			Next: r.PostFormValue("next"), ReturnTo: r.PostFormValue("return_to")}
	default:
		return req, false, errors.New("unsupported content type")
	}
	if req.Username == "" || req.Password == "" {
		return req, false, errors.New("missing credentials")
	}
	form := ct != "application/json" && !strings.Contains(r.Header.Get("Accept"), "application/json")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		form = true
	}
	return req, form, nil
}

// SafeNext returns next when it is a same-site path ("/…", not "//…" nor "/\…", no scheme, no
// host, no control characters or backslashes anywhere), and "/" otherwise. It is the only way a
// sign-in redirect target is chosen.
func SafeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f || c == '\\' || c == ' ' || c == '\u00a0' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.ContainsRune(u.Path, '\\') {
		return "/"
	}
	return next
}

// Logout handles POST /logout: the session is deleted and the cookie cleared. For OIDC sessions
// whose IdP has an end_session_endpoint the answer carries "redirect", the IdP logout URL (with
// id_token_hint and post_logout_redirect_uri). It always answers 200 {"ok":true,…}.
func (s *Service) Logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	resp := map[string]any{"ok": true}
	if sess, acc, ok := s.session(r); ok {
		if err := s.store.DeleteSession(ctx, sess.ID); err != nil {
			s.log.Error("auth: sign-out", "err", err)
			websec.WriteError(w, http.StatusInternalServerError, "internal", "sign-out failed")
			return
		}
		if s.oidc != nil && sess.IDTokenHint != "" {
			if u := s.oidc.endSessionURL(sess.IDTokenHint); u != "" {
				resp["redirect"] = u
			}
		}
		s.audit(ctx, chat.AuditEntry{Action: "logout", Actor: acc.ID, Target: acc.Username, IP: websec.ClientIP(r, s.cfg.TrustedProxies).String()})
	} else if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		_ = s.store.DeleteSession(ctx, hashToken(c.Value))
	}
	http.SetCookie(w, s.cookie("", time.Time{}))
	writeJSON(w, http.StatusOK, resp)
}

// LogoutAll handles POST /api/account/logout-all ("sign out everywhere"): it ends every session
// of the signed-in user, this browser's included, and clears this browser's cookie. Mount it
// behind authentication (chat.WithUser); without a user it answers 401.
func (s *Service) LogoutAll(w http.ResponseWriter, r *http.Request) {
	u, ok := chat.UserFrom(r.Context())
	if !ok {
		u, ok = s.Authenticate(r)
	}
	if !ok || u.ID == "" {
		websec.WriteError(w, http.StatusUnauthorized, "unauthorized", "sign in required")
		return
	}
	ctx := r.Context()
	if err := s.RevokeUser(ctx, u.ID); err != nil {
		s.log.Error("auth: sign out everywhere", "err", err)
		websec.WriteError(w, http.StatusInternalServerError, "internal", "sign-out failed")
		return
	}
	s.audit(ctx, chat.AuditEntry{Action: "logout.all", Actor: u.ID, Target: u.Name, IP: websec.ClientIP(r, s.cfg.TrustedProxies).String()})
	http.SetCookie(w, s.cookie("", time.Time{}))
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// MinPasswordBytes is the shortest new password ChangePassword accepts.
const MinPasswordBytes = 10

// ChangePassword handles POST /api/account/password {"current","new"} for local accounts. The
// current password is required again (failures count against the account's sign-in throttle);
// on success every session of the user ends, this browser gets a fresh one, and the change is
// audited. 403 on a wrong current password, 409 for accounts without a password (single sign-on,
// trusted proxy) or whose password the configuration sets, 400 for a new password shorter than
// MinPasswordBytes, longer than MaxPasswordBytes or equal to the current one.
func (s *Service) ChangePassword(w http.ResponseWriter, r *http.Request) {
	u, ok := chat.UserFrom(r.Context())
	if !ok || u.ID == "" {
		websec.WriteError(w, http.StatusUnauthorized, "unauthorized", "sign in required")
		return
	}
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil {
		websec.WriteError(w, http.StatusBadRequest, "bad_request", "current and new password required")
		return
	}
	ctx := r.Context()
	acc, err := s.store.Account(ctx, u.ID)
	if err != nil {
		s.log.Error("auth: change password", "err", err)
		websec.WriteError(w, http.StatusInternalServerError, "internal", "password change failed")
		return
	}
	switch {
	case acc.PasswordHash == "" || s.cfg.DisableLocal:
		websec.WriteError(w, http.StatusConflict, "conflict", "this account has no password here (it signs in another way)")
		return
	case slices.Contains(s.cfg.ManagedUsers, acc.Username):
		websec.WriteError(w, http.StatusConflict, "conflict", "this account's password is set in the server configuration")
		return
	}
	ip := websec.ClientIP(r, s.cfg.TrustedProxies)
	acctKey := "u:" + acc.Username
	// The attempt is reserved before the hash, as for sign-in: parallel guesses cannot outrun it.
	if d, ok := s.acctThr.reserve(acctKey, s.now()); !ok {
		writeRateLimited(w, d)
		return
	}
	okPw, _, err := s.hasher.Verify(ctx, req.Current, acc.PasswordHash)
	if err != nil {
		s.acctThr.release(acctKey)
		s.log.Error("auth: change password", "err", err)
		websec.WriteError(w, http.StatusInternalServerError, "internal", "password change failed")
		return
	}
	if !okPw {
		s.acctThr.fail(acctKey, s.now())
		s.audit(ctx, chat.AuditEntry{Action: "password.failure", Actor: acc.ID, Target: acc.Username, IP: ip.String()})
		websec.WriteError(w, http.StatusForbidden, "forbidden", "the current password is wrong")
		return
	}
	s.acctThr.succeed(acctKey)
	switch {
	case len(req.New) < MinPasswordBytes:
		websec.WriteError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("the new password needs at least %d characters", MinPasswordBytes))
		return
	case len(req.New) > MaxPasswordBytes:
		websec.WriteError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("the new password is longer than %d bytes", MaxPasswordBytes))
		return
	case req.New == req.Current:
		websec.WriteError(w, http.StatusBadRequest, "bad_request", "the new password is the current one")
		return
	}
	hash, err := s.hasher.Hash(ctx, req.New)
	if err != nil {
		s.log.Error("auth: change password", "err", err)
		websec.WriteError(w, http.StatusInternalServerError, "internal", "password change failed")
		return
	}
	now := s.now().UTC()
	acc.PasswordHash, acc.PasswordChangedAt, acc.UpdatedAt = hash, now, now
	if err := s.store.UpdateAccount(ctx, acc); err != nil {
		s.log.Error("auth: change password", "err", err)
		websec.WriteError(w, http.StatusInternalServerError, "internal", "password change failed")
		return
	}
	if err := s.RevokeUser(ctx, acc.ID); err != nil {
		s.log.Error("auth: change password", "err", err)
		websec.WriteError(w, http.StatusInternalServerError, "internal", "password changed, but other sessions could not be ended")
		return
	}
	s.audit(ctx, chat.AuditEntry{Action: "user.password", Actor: acc.ID, Target: acc.Username, IP: ip.String(), Detail: "self"})
	if err := s.startSession(ctx, w, r, acc, ""); err != nil {
		s.log.Error("auth: change password", "err", err)
		websec.WriteError(w, http.StatusInternalServerError, "internal", "password changed; sign in again")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// Me handles GET /api/me: {"user":{"id","name","role"},"csrf":false}; 401 when not signed in.
// Mount it with or without RequireUser.
func (s *Service) Me(w http.ResponseWriter, r *http.Request) {
	u, ok := chat.UserFrom(r.Context())
	if !ok {
		u, ok = s.Authenticate(r)
	}
	if !ok {
		websec.WriteError(w, http.StatusUnauthorized, "unauthorized", "sign in required")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u, "csrf": false})
}

// ---- trusted proxy ----

// proxyUser returns the account asserted by a trusted proxy's header, provisioning it as a member
// (or owner when listed in Owners) on first sight. Headers from any other peer are ignored.
func (s *Service) proxyUser(r *http.Request) (chat.Account, bool) {
	pc := s.cfg.ProxyAuth
	if !pc.Enabled() || !websec.InPrefixes(websec.PeerAddr(r), pc.CIDRs) {
		return chat.Account{}, false
	}
	var name string
	for _, h := range pc.Headers {
		if v := strings.TrimSpace(r.Header.Get(h)); v != "" {
			name = NormalizeUsername(v)
			break
		}
	}
	if name == "" || !ValidUsername(name) {
		return chat.Account{}, false
	}
	ctx := r.Context()
	acc, err := s.store.AccountByUsername(ctx, name)
	switch {
	case err == nil:
		if acc.Disabled || acc.OIDCSubject != "" {
			// An account made by single sign-on carries a username its IdP user chose: a proxy
			// asserting the same name is another person (issue 16, sibling of item 1).
			return chat.Account{}, false
		}
		return acc, true
	case !errors.Is(err, chat.ErrNotFound):
		s.log.Error("auth: proxy sign-in", "err", err)
		return chat.Account{}, false
	case pc.NoProvision:
		return chat.Account{}, false
	}
	now := s.now().UTC()
	acc = chat.Account{ID: NewAccountID(), Username: name, Role: s.roleFor(name), CreatedAt: now, UpdatedAt: now}
	if strings.Contains(name, "@") {
		acc.Email = name
	}
	if err := s.store.CreateAccount(ctx, acc); err != nil {
		if errors.Is(err, chat.ErrConflict) { // a concurrent request provisioned it
			if a, err := s.store.AccountByUsername(ctx, name); err == nil && !a.Disabled {
				return a, true
			}
		}
		s.log.Error("auth: provision proxy user", "err", err)
		return chat.Account{}, false
	}
	s.audit(ctx, chat.AuditEntry{Action: "user.provision", Actor: acc.ID, Target: acc.Username,
		IP: websec.ClientIP(r, s.cfg.TrustedProxies).String(), Detail: "trusted-proxy role=" + string(acc.Role)})
	return acc, true
}

func (s *Service) roleFor(name string) chat.Role {
	if slices.Contains(s.cfg.Owners, name) {
		return chat.RoleOwner
	}
	return chat.RoleMember
}

// ---- helpers ----

func (s *Service) audit(ctx context.Context, e chat.AuditEntry) {
	auditTo(ctx, s.store, s.log, s.now, e)
}

func auditTo(ctx context.Context, st AccountStore, log *slog.Logger, now func() time.Time, e chat.AuditEntry) {
	if e.At.IsZero() {
		e.At = now().UTC()
	}
	log.LogAttrs(ctx, slog.LevelInfo, "audit", slog.String("action", e.Action), slog.String("actor", e.Actor),
		slog.String("target", e.Target), slog.String("ip", e.IP), slog.String("detail", e.Detail))
	if err := st.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		log.Warn("auth: write audit entry", "action", e.Action, "err", err)
	}
}

func ipThrottleKey(ip netip.Addr) string {
	if ip.Is6() {
		// One host usually owns a whole /64; count them together.
		p, _ := ip.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip.String()
}

func writeRateLimited(w http.ResponseWriter, d time.Duration) {
	secs := int64((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	websec.WriteError(w, http.StatusTooManyRequests, "rate_limited", "too many failed sign-in attempts; try again later")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
