// Package sessionkey is clawchat's session-key namespace on the Gateway and the identifiers the
// bridge accepts. It holds no state.
//
// A clawchat conversation's Gateway session key is agent:<agentId>:clawchat:<userId>:<conversationId>,
// lower-case. An owner's view of a Gateway session outside that namespace is the conversation id
// gw:<key>. Ownership never comes from a key: callers read it from the store.
package sessionkey

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

// ValidAgentID reports whether id is a usable agent id.
func ValidAgentID(id string) bool { return agentIDRe.MatchString(id) }

// ValidUserID reports whether id is a user id the bridge serves (it becomes part of session keys).
func ValidUserID(id string) bool { return userIDRe.MatchString(id) }

// ValidClientID reports whether id is a usable client message id ([A-Za-z0-9._:-]{1,128}).
func ValidClientID(id string) bool { return clientIDRe.MatchString(id) }

// ValidGatewayKey reports whether key is a Gateway session key an owner may name (gw:<key>).
func ValidGatewayKey(key string) bool { return gwKeyRe.MatchString(key) }

// SessionKey returns the canonical Gateway session key of a user's conversation.
func SessionKey(agentID, userID, convID string) string {
	return "agent:" + agentID + ":" + Namespace + ":" + userID + ":" + convID
}

// IsOwnNamespace reports whether key is in clawchat's namespace (for any agent).
func IsOwnNamespace(key string) bool {
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

// ParseGatewayID returns the Gateway session key of a gw:<key> conversation id, lower-cased as
// the Gateway stores it, or false when id is not one or names a key in clawchat's own namespace
// (in any letter case).
func ParseGatewayID(id string) (string, bool) {
	key, ok := strings.CutPrefix(id, GatewayPrefix)
	if !ok || !gwKeyRe.MatchString(key) || IsOwnNamespace(key) {
		return "", false
	}
	return strings.ToLower(key), true
}

// IsGatewayID reports whether a conversation id names a Gateway session (gw:…).
func IsGatewayID(id string) bool { return strings.HasPrefix(id, GatewayPrefix) }

// AgentOf is the agent id of a session key agent:<id>:….
func AgentOf(key string) string {
	rest, _ := strings.CutPrefix(key, "agent:")
	id, _, _ := strings.Cut(rest, ":")
	return id
}

// NewConversationID returns c-<random>.
func NewConversationID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "c-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// IdempotencyKey derives the Gateway idempotency key (= runId) of a client message. The Gateway's
// dedupe cache is global, so the key includes the user and the conversation; hashing keeps it short
// and free of user-controlled characters.
func IdempotencyKey(userID, convKey, clientID string) string {
	h := sha256.Sum256([]byte(userID + "\x00" + convKey + "\x00" + clientID))
	return "cc-" + hex.EncodeToString(h[:16])
}

// zwsp is what clawchat before 2026-12 put in front of members' text that the Gateway would
// have read as a command. Members' messages are now sent with suppressCommandInterpretation and
// kept as typed (bridge/policy); older transcripts still hold the prefix, which display strips.
const zwsp = "\u200b"

// DisplayUserText strips the zero-width space older clawchat versions put before members'
// commands.
func DisplayUserText(s string) string { return strings.TrimPrefix(s, zwsp) }
