package bridge

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"regexp"
	"strings"
)

// Namespace is the session-key segment that marks clawchat's own conversations:
// agent:<agentId>:clawchat:<userId>:<conversationId>.
const Namespace = "clawchat"

// GatewayPrefix marks an owner's view of a Gateway session in conversation ids: gw:<key>.
const GatewayPrefix = "gw:"

var (
	agentIDRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	userIDRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,127}$`)
	clientIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	// gwKeyRe bounds what an owner may name as a Gateway session: agent-qualified, lower-case,
	// printable, no whitespace, ≤ 512 chars.
	gwKeyRe = regexp.MustCompile(`^agent:[a-z0-9][a-z0-9_-]{0,63}:[^\s:][^\s]{0,440}$`)
)

// SessionKey returns the canonical Gateway session key of a user's conversation.
func SessionKey(agentID, userID, convID string) string {
	return "agent:" + agentID + ":" + Namespace + ":" + userID + ":" + convID
}

// isOwnNamespace reports whether key is in clawchat's namespace (for any agent).
func isOwnNamespace(key string) bool {
	// The Gateway lowercases session keys, so AGENT:x:CLAWCHAT:… names the same session as
	// agent:x:clawchat:… (issue 16): compare case-insensitively.
	key = strings.ToLower(key)
	rest, ok := strings.CutPrefix(key, "agent:")
	if !ok {
		return false
	}
	_, rest, ok = strings.Cut(rest, ":")
	return ok && strings.HasPrefix(rest, Namespace+":")
}

// parseGatewayID returns the Gateway session key of a gw:<key> conversation id, lower-cased as
// the Gateway stores it, or false when id is not one or names a key in clawchat's own namespace
// (in any letter case).
func parseGatewayID(id string) (string, bool) {
	key, ok := strings.CutPrefix(id, GatewayPrefix)
	if !ok || !gwKeyRe.MatchString(key) || isOwnNamespace(key) {
		return "", false
	}
	return strings.ToLower(key), true
}

// newConversationID returns c-<random>.
func newConversationID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "c-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// idempotencyKey derives the Gateway idempotency key (= runId) of a client message. The Gateway's
// dedupe cache is global, so the key includes the user and the conversation; hashing keeps it short
// and free of user-controlled characters.
func idempotencyKey(userID, convKey, clientID string) string {
	h := sha256.Sum256([]byte(userID + "\x00" + convKey + "\x00" + clientID))
	return "cc-" + hex.EncodeToString(h[:16])
}

// zwsp is what clawchat before 2026-12 put in front of members' text that the Gateway would
// have read as a command. Members' messages are now sent with suppressCommandInterpretation and
// kept as typed (policy.go); older transcripts still hold the prefix, which display strips.
const zwsp = "\u200b"

// displayUserText strips the zero-width space older clawchat versions put before members'
// commands.
func displayUserText(s string) string { return strings.TrimPrefix(s, zwsp) }
