package sessionkey

import "testing"

func TestNamespace(t *testing.T) {
	k := SessionKey("main", "alice", "c-1")
	if k != "agent:main:clawchat:alice:c-1" || !IsOwnNamespace(k) || !IsOwnNamespace("AGENT:main:CLAWCHAT:x:y") {
		t.Fatalf("own namespace: %q", k)
	}
	for _, id := range []string{"gw:agent:main:clawchat:alice:c-1", "gw:AGENT:main:ClawChat:a:b", "gw:main", "gw:agent:main: x", "c-1"} {
		if _, ok := ParseGatewayID(id); ok {
			t.Errorf("ParseGatewayID(%q) accepted", id)
		}
	}
	if key, ok := ParseGatewayID("gw:agent:main:Telegram:42"); !ok || key != "agent:main:telegram:42" {
		t.Errorf("ParseGatewayID: %q %v", key, ok)
	}
	if AgentOf("agent:ops:clawchat:a:b") != "ops" {
		t.Error("AgentOf")
	}
	a, b := IdempotencyKey("u", "k", "1"), IdempotencyKey("u", "k", "2")
	if a == b || a != IdempotencyKey("u", "k", "1") || len(a) != 35 {
		t.Errorf("IdempotencyKey: %q %q", a, b)
	}
	if DisplayUserText("\u200b/help") != "/help" {
		t.Error("DisplayUserText")
	}
}
