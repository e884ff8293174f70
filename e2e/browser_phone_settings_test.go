package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

type convSettings struct {
	AgentID        string `json:"agentId"`
	Model          string `json:"model"`
	ThinkingLevel  string `json:"thinkingLevel"`
	PermissionMode string `json:"permissionMode"`
	Models         []struct {
		ID             string   `json:"id"`
		ThinkingLevels []string `json:"thinkingLevels"`
	} `json:"models"`
	CanChange bool `json:"canChange"`
}

// Power features: the header shows the conversation's agent, model, thinking level and
// permission mode; an owner picks the thinking level from what the Gateway's model supports
// (sessions.patch thinkingLevel, read back from the Gateway after a reload); a member picks only
// what CLAWCHAT_MEMBER_THINKING_LEVELS / CLAWCHAT_MEMBER_MODELS allow and cannot touch the policy.
func TestBrowserPhoneModelAndThinkingPickers(t *testing.T) {
	g := ownGateway(t, ochar.Options{Reasoning: true, WordDelay: 5 * time.Millisecond})
	srv := startServerWith(t, g, g.URL, "CLAWCHAT_OWNERS=alice", "CLAWCHAT_MEMBER_THINKING_LEVELS=off,low")
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	conv := b.startPhoneChat(t, "which model are you", "Echo: which model are you")
	b.wait(t, "agent, model and permission mode in the header", `(() => { const t = document.querySelector('.topbar .conv-info')?.textContent ?? ''; return t.includes('main') && t.includes('Fake Echo') && t.includes('full'); })()`, 20*time.Second)

	b.do(t, "open the pickers", chromedp.Click(chromedp.CSS(".topbar .conv-info")))
	b.wait(t, "the thinking levels of the model", `[...document.querySelectorAll('.conv-settings select')[1].options].map(o => o.value).join() === 'off,minimal,low,medium,high'`, 10*time.Second)
	b.eval(t, `(() => { const s = document.querySelectorAll('.conv-settings select')[1]; s.value = 'high'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	b.wait(t, "thinking high in the header", `document.querySelector('.topbar .conv-info').textContent.includes('thinking high')`, 10*time.Second)
	b.do(t, "close with Esc", chromedp.KeyEvent("\x1b"))
	b.wait(t, "closed", `!document.querySelector('.conv-settings')`, 5*time.Second)

	alice := signIn(t, srv.URL, "alice", alicePass)
	var st convSettings
	if code := alice.do("GET", "/api/sessions/"+conv+"/settings", nil, &st); code != 200 || st.ThinkingLevel != "high" || st.Model != "fake/echo" {
		t.Fatalf("settings from the Gateway: %d %+v", code, st)
	}
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "still thinking high after a reload", `document.querySelector('.topbar .conv-info')?.textContent.includes('thinking high')`, 30*time.Second)

	// A member: read-only, only the levels the owner allows, the current model only.
	bob := signIn(t, srv.URL, "bob", bobPass)
	bconv := fmt.Sprintf("c%d", time.Now().UnixNano())
	if code := bob.do("POST", "/api/sessions", map[string]string{"id": bconv}, nil); code != 201 {
		t.Fatalf("bob create: %d", code)
	}
	if code := bob.do("GET", "/api/sessions/"+bconv+"/settings", nil, &st); code != 200 || st.PermissionMode != "read-only" ||
		len(st.Models) != 1 || !slices.Equal(st.Models[0].ThinkingLevels, []string{"off", "low"}) || !st.CanChange {
		t.Fatalf("member settings: %d %+v", code, st)
	}
	var e map[string]any
	for _, bad := range []map[string]any{
		{"thinkingLevel": "high"},
		{"model": "fake/other"},
		{"model": "openai/gpt-5"},
	} {
		if code := bob.do("PATCH", "/api/sessions/"+bconv+"/settings", bad, &e); code != 403 {
			t.Errorf("member PATCH %v: %d %v, want 403", bad, code, e)
		}
	}
	if code := bob.do("PATCH", "/api/sessions/"+bconv+"/settings", map[string]any{"permissionMode": "full"}, &e); code != 400 {
		t.Errorf("member PATCH permissionMode: %d %v, want 400", code, e)
	}
	if code := bob.do("PATCH", "/api/sessions/"+bconv+"/settings", map[string]any{"thinkingLevel": "low"}, &st); code != 200 || st.ThinkingLevel != "low" || st.PermissionMode != "read-only" {
		t.Fatalf("member PATCH low: %d %+v", code, st)
	}
	if code := bob.do("GET", "/api/sessions/"+conv+"/settings", nil, &e); code != 404 {
		t.Errorf("bob reading alice's settings: %d, want 404", code)
	}
	if code := bob.do("PATCH", "/api/sessions/"+conv+"/settings", map[string]any{"thinkingLevel": "low"}, &e); code != 404 {
		t.Errorf("bob changing alice's settings: %d, want 404", code)
	}
	// The member's policy is intact: a send still runs under it (every send checks it).
	s := bob.events("")
	_, end, text := reply(t, bob, s, bconv, "still read-only [tool=exec] [args={\"command\":\"id\"}]")
	if end != "run.final" || !strings.Contains(text, "exec denied") {
		t.Fatalf("member send after a thinking change: %s %q", end, text)
	}
	b.noConsoleProblems(t)
}
