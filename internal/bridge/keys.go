package bridge

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"regexp"
	"strings"
	"unicode"
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

// zwsp is prefixed to member text that the Gateway would otherwise interpret as a command. It is
// invisible, the model reads the text unchanged, and it survives the Gateway's JavaScript trim()
// and \s normalisation (U+200B is not white space), so neither the slash-command parser nor the
// abort-phrase matcher sees a command. History rendering strips it again.
const zwsp = "\u200b"

// abortTriggers mirrors the Gateway's bare abort phrases (abort-trigger-text, OpenClaw 2026.9).
var abortTriggers = map[string]bool{
	"stop": true, "esc": true, "abort": true, "exit": true, "interrupt": true, "detente": true,
	"deten": true, "detén": true, "arrete": true, "arrête": true, "停止": true, "停下来": true,
	"暂停": true, "やめて": true, "止めて": true, "रुको": true, "توقف": true, "стоп": true,
	"остановись": true, "останови": true, "остановить": true, "прекрати": true, "halt": true,
	"anhalten": true, "aufhören": true, "hoer auf": true, "stopp": true, "pare": true,
	"stop openclaw": true, "openclaw stop": true, "stop action": true, "stop current action": true,
	"stop run": true, "stop current run": true, "stop agent": true, "stop the agent": true,
	"stop don't do anything": true, "stop dont do anything": true, "stop do not do anything": true,
	"stop doing anything": true, "do not do that": true, "please stop": true, "stop please": true,
}

const trailingAbortPunct = ".!?！？…,，。;；:：'\"’”)]}"

func isAbortTrigger(text string) bool {
	t := strings.ToLower(text)
	t = strings.NewReplacer("’", "'", "`", "'").Replace(t)
	t = strings.Join(strings.Fields(t), " ")
	t = strings.TrimRight(t, trailingAbortPunct)
	t = strings.TrimSpace(t)
	return abortTriggers[t]
}

// applyCommandPolicy returns the text to send to the Gateway. Commands (/…, !…) and bare abort
// phrases are neutralised unless pass is true or the command is on the allowlist.
func applyCommandPolicy(text string, pass bool, allow []string) string {
	if pass {
		return text
	}
	trimmed := strings.TrimLeftFunc(text, unicode.IsSpace)
	if strings.HasPrefix(trimmed, "/") || strings.HasPrefix(trimmed, "!") {
		cmd := strings.ToLower(strings.Fields(trimmed)[0])
		for _, a := range allow {
			if strings.EqualFold(a, cmd) {
				return text
			}
		}
		return zwsp + text
	}
	if isAbortTrigger(text) {
		return zwsp + text
	}
	return text
}

// displayUserText undoes applyCommandPolicy for display.
func displayUserText(s string) string { return strings.TrimPrefix(s, zwsp) }
