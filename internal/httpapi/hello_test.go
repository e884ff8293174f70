package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clawchat/clawchat/internal/hub"
)

// The hello frame is exactly what docs/api.md says: no seq of its own, and a payload with the
// stream position, the user, the Gateway state and the limits, nothing else.
func TestHelloFrame(t *testing.T) {
	e := newEnv(t, hub.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("X-Test-User", "alice")
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f) != 3 || string(f["type"]) != `"event"` || string(f["event"]) != `"hello"` {
		t.Fatalf("frame %s", b)
	}
	var p struct {
		Epoch   string           `json:"epoch"`
		Seq     *uint64          `json:"seq"`
		User    map[string]any   `json:"user"`
		Gateway map[string]any   `json:"gateway"`
		Limits  map[string]int64 `json:"limits"`
	}
	dec := json.NewDecoder(strings.NewReader(string(f["payload"])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("payload %s: %v", f["payload"], err)
	}
	if p.Epoch != e.hub.Epoch() || p.Seq == nil || p.User["id"] != "alice" || p.User["role"] == nil || len(p.User) != 3 ||
		p.Gateway["state"] != "connected" || len(p.Gateway) != 1 {
		t.Fatalf("payload %s", f["payload"])
	}
	if len(p.Limits) != 3 || p.Limits["maxTextBytes"] != 32<<10 || p.Limits["maxAttachmentBytes"] == 0 || p.Limits["maxImageBytes"] == 0 {
		t.Fatalf("limits %v", p.Limits)
	}
}
