package gateway_test

import (
	"encoding/json"
	"testing"

	"github.com/clawchat/clawchat/internal/gateway"
)

func TestValidInboundMedia(t *testing.T) {
	for ref, want := range map[string]bool{
		"media://inbound/red---f508aa92-6c9e-4cc5-9d24-6709f7405aed.png": true,
		"media://inbound/a_b.txt":                      true,
		"media://inbound/":                             false,
		"media://inbound/..":                           false,
		"media://inbound/../etc/passwd":                false,
		"media://inbound/a/b.png":                      false,
		"media://inbound/a%2fb.png":                    false,
		"media://outbound/a.png":                       false,
		"/etc/passwd":                                  false,
		"media://inbound/a b.png":                      false,
		"media://inbound/x.png?x=1":                    false,
		"MEDIA://inbound/a.png":                        false,
		"media://inbound/" + string(make([]byte, 256)): false,
	} {
		if got := gateway.ValidInboundMedia(ref); got != want {
			t.Errorf("ValidInboundMedia(%q) = %v, want %v", ref, got, want)
		}
	}
}

// A user row of chat.history as OpenClaw 2026.9.6 recorded it for a message with an image.
func TestMessageMedia(t *testing.T) {
	row := json.RawMessage(`{"role":"user","content":"look at this","__openclaw":{"media":[
		{"url":"media://inbound/dot---38c132a2-359a-4a04-ab92-de536cc91e7f.png","contentType":"image/png","kind":"image","fileName":"dot.png","sizeBytes":79},
		{"url":"/etc/passwd","contentType":"text/plain","kind":"document","fileName":"x"}],"id":"fd13"}}`)
	got := gateway.MessageMedia(row)
	if len(got) != 1 || got[0].FileName != "dot.png" || got[0].ContentType != "image/png" || got[0].Kind != "image" || got[0].SizeBytes != 79 {
		t.Fatalf("MessageMedia = %+v", got)
	}
	if gateway.MessageMedia(json.RawMessage(`{"role":"user","content":"x"}`)) != nil || gateway.MessageMedia(json.RawMessage(`nope`)) != nil {
		t.Error("rows without media must give nil")
	}
}
