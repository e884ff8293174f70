package gateway_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/gatewaytest"
)

const (
	protocolPkg     = "@openclaw/gateway-protocol"
	protocolVersion = "2026.9.1"
	schemaID        = "https://openclaw.ai/protocol.schema.json"
)

// testCacheDir is CLAWCHAT_TEST_CACHE, default $HOME/.cache/clawchat.
func testCacheDir(t *testing.T) string {
	if d := os.Getenv("CLAWCHAT_TEST_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatalf("no CLAWCHAT_TEST_CACHE and no home directory: %v", err)
	}
	return filepath.Join(home, ".cache", "clawchat")
}

// protocolSchemaPath returns package/protocol.schema.json of the pinned npm package,
// fetching it once with `npm pack` into <cache>/gateway-protocol-<version>/.
func protocolSchemaPath(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testCacheDir(t), "gateway-protocol-"+protocolVersion)
	schema := filepath.Join(dir, "package", "protocol.schema.json")
	if _, err := os.Stat(schema); err == nil {
		return schema
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(dir, "openclaw-gateway-protocol-"+protocolVersion+".tgz")
	if _, err := os.Stat(tgz); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatalf("npm is required to fetch %s@%s for the protocol conformance test (install Node.js/npm; CI has it): %v",
				protocolPkg, protocolVersion, err)
		}
		cmd := exec.Command(npm, "pack", protocolPkg+"@"+protocolVersion, "--pack-destination", dir, "--silent")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("npm pack %s@%s failed: %v\n%s", protocolPkg, protocolVersion, err, out)
		}
		if _, err := os.Stat(tgz); err != nil {
			t.Fatalf("npm pack did not produce %s: %v\n%s", tgz, err, out)
		}
	}
	if err := extractFile(tgz, "package/protocol.schema.json", schema); err != nil {
		t.Fatalf("extract schema from %s: %v", tgz, err)
	}
	return schema
}

// extractFile copies one member of a .tgz to dst (atomically).
func extractFile(tgz, member, dst string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s not in archive", member)
		}
		if err != nil {
			return err
		}
		if h.Name != member {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(dst), ".schema-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := io.Copy(tmp, io.LimitReader(tr, 64<<20)); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), dst)
	}
}

// paramsDefinition maps each method clawchat sends to the schema definition of its
// params ("" = the schema has no params definition; then params must be {}).
var paramsDefinition = map[string]string{
	"connect":                "ConnectParams",
	"chat.send":              "ChatSendParams",
	"chat.history":           "ChatHistoryParams",
	"chat.abort":             "ChatAbortParams",
	"sessions.list":          "SessionsListParams",
	"sessions.patch":         "SessionsPatchParams",
	"sessions.delete":        "SessionsDeleteParams",
	"agents.list":            "AgentsListParams",
	"models.list":            "ModelsListParams",
	"sessions.search":        "SessionsSearchParams",
	"sessions.title.prepare": "SessionsTitlePrepareParams",
	"exec.approval.list":     "",
	"exec.approval.resolve":  "ExecApprovalResolveParams",
	"health":                 "",
}

func TestProtocolConformance(t *testing.T) {
	path := protocolSchemaPath(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	var top struct {
		Methods     map[string]json.RawMessage `json:"methods"`
		Definitions map[string]json.RawMessage `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	comp := jsonschema.NewCompiler()
	comp.UseRegexpEngine(ecmaRegexp)
	if err := comp.AddResource(schemaID, doc); err != nil {
		t.Fatal(err)
	}
	compile := func(def string) *jsonschema.Schema {
		t.Helper()
		if _, ok := top.Definitions[def]; !ok {
			t.Fatalf("schema %s has no definition %s", protocolVersion, def)
		}
		s, err := comp.Compile(schemaID + "#/definitions/" + def)
		if err != nil {
			t.Fatalf("compile %s: %v", def, err)
		}
		return s
	}
	requestFrame := compile("RequestFrame")

	// Drive every typed helper against the fake and capture the frames on the wire.
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	srv.Handle("exec.approval.list", func(c *gatewaytest.Call) (any, error) { return []any{}, nil })
	h := start(t, srv, func(c *gateway.Config) { c.Approvals = true })
	h.rec.waitState(t, gateway.StateConnected)
	ctx := ctxT(t)
	label, archived, delTranscript := "Trip to Rome", true, true
	calls := []func() error{
		func() error {
			_, err := h.client.ChatSend(ctx, gateway.ChatSendParams{SessionKey: "agent:main:clawchat:u1:c1", Message: "hello", IdempotencyKey: "4f1c9a52-1b1e-4b7a-9d7e-0c5a2b9e8f10",
				Attachments: []gateway.ChatAttachment{{Type: "image", MimeType: "image/png", FileName: "a.png", Content: "iVBORw0KGgo=", SizeBytes: 8, Width: 1, Height: 1}},
				Thinking:    "low", TimeoutMs: 60000})
			return err
		},
		func() error {
			_, err := h.client.ChatSend(ctx, gateway.ChatSendParams{SessionKey: "agent:main:clawchat:u1:c1", Message: "", IdempotencyKey: "k2",
				Attachments: []gateway.ChatAttachment{{MimeType: "text/plain", Content: "aGk="}}})
			return err
		},
		func() error {
			_, err := h.client.ChatHistory(ctx, gateway.ChatHistoryParams{SessionKey: "agent:main:clawchat:u1:c1", Limit: 50, Offset: 50, MaxChars: 20000})
			return err
		},
		func() error {
			_, err := h.client.ChatHistory(ctx, gateway.ChatHistoryParams{SessionKey: "agent:main:clawchat:u1:c1"})
			return err
		},
		func() error {
			_, err := h.client.ChatAbort(ctx, gateway.ChatAbortParams{SessionKey: "agent:main:clawchat:u1:c1", RunID: "r1"})
			return err
		},
		func() error {
			_, err := h.client.ChatAbort(ctx, gateway.ChatAbortParams{SessionKey: "agent:main:clawchat:u1:c1"})
			return err
		},
		func() error {
			_, err := h.client.SessionsList(ctx, gateway.SessionsListParams{Limit: 100, Offset: 100, Search: "rome", IncludeDerivedTitles: true, IncludeLastMessage: true})
			return err
		},
		func() error { _, err := h.client.SessionsList(ctx, gateway.SessionsListParams{}); return err },
		func() error {
			_, err := h.client.SessionsPatch(ctx, gateway.SessionsPatchParams{Key: "agent:main:clawchat:u1:c1", Label: &label, ExpectedSessionID: "s-1"})
			return err
		},
		func() error {
			_, err := h.client.SessionsPatch(ctx, gateway.SessionsPatchParams{Key: "agent:main:clawchat:u1:c1", Archived: &archived})
			return err
		},
		func() error {
			_, err := h.client.SessionsDelete(ctx, gateway.SessionsDeleteParams{Key: "agent:main:clawchat:u1:c1", ArchivedOnly: true, DeleteTranscript: &delTranscript})
			return err
		},
		func() error { _, err := h.client.AgentsList(ctx); return err },
		func() error {
			_, err := h.client.ModelsList(ctx, gateway.ModelsListParams{AgentID: "main"})
			return err
		},
		func() error {
			_, err := h.client.SessionsSearch(ctx, gateway.SessionsSearchParams{Query: `"pelican"`, SessionKeys: []string{"agent:main:clawchat:u1:c1"}, AgentID: "main", Limit: 25})
			return err
		},
		func() error {
			model, level := "fake/echo", "low"
			_, err := h.client.SessionsPatch(ctx, gateway.SessionsPatchParams{Key: "agent:main:clawchat:u1:c1", Model: &model, ThinkingLevel: &level})
			return err
		},
		func() error {
			_, err := h.client.SessionsTitle(ctx, gateway.SessionsTitleParams{AgentID: "main", Message: "Plan a trip to Lisbon"})
			return err
		},
		func() error { _, err := h.client.ExecApprovalList(ctx); return err },
		func() error {
			_, err := h.client.ExecApprovalResolve(ctx, gateway.ExecApprovalResolveParams{ID: "ap-1", Decision: gateway.DecisionAllowOnce})
			return err
		},
		func() error { _, err := h.client.Health(ctx); return err },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}

	seen := map[string]int{}
	for _, frame := range srv.Received() {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(frame))
		if err != nil {
			t.Fatalf("client sent invalid JSON: %v", err)
		}
		var f struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(frame, &f); err != nil {
			t.Fatal(err)
		}
		if err := requestFrame.Validate(inst); err != nil {
			t.Errorf("%s frame violates RequestFrame: %v\n%s", f.Method, err, redactFrame(frame))
		}
		if _, ok := top.Methods[f.Method]; !ok && f.Method != "connect" {
			t.Errorf("method %s is not in the schema's method table", f.Method)
		}
		def, known := paramsDefinition[f.Method]
		if !known {
			t.Errorf("unexpected method %s on the wire", f.Method)
			continue
		}
		seen[f.Method]++
		if def == "" {
			if string(f.Params) != "{}" {
				t.Errorf("%s params = %s, want {}", f.Method, f.Params)
			}
			continue
		}
		pinst, err := jsonschema.UnmarshalJSON(bytes.NewReader(f.Params))
		if err != nil {
			t.Fatal(err)
		}
		if err := compile(def).Validate(pinst); err != nil {
			t.Errorf("%s params violate %s: %v\n%s", f.Method, def, err, redactFrame(frame))
		}
	}
	for m := range paramsDefinition {
		if seen[m] == 0 {
			t.Errorf("no %s frame was checked", m)
		}
	}
	// the connect frame carried a device proof and approvals caps
	if c := srv.Connects(); len(c) == 0 || c[0].Params.Device == nil {
		t.Errorf("connect without device")
	}

	// The validator does catch violations (the test can fail).
	bad := []byte(`{"sessionKey":"k","message":"m","idempotencyKey":"i","bogus":1}`)
	binst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if compile("ChatSendParams").Validate(binst) == nil {
		t.Errorf("schema accepted an unknown chat.send field")
	}
}

func redactFrame(b []byte) string {
	return strings.ReplaceAll(string(b), testToken, "<TOKEN>")
}

// ecmaRegexp compiles the schema's ECMAScript patterns with Go's regexp after turning
// \uXXXX escapes into \x{XXXX}. Patterns Go cannot express (lookaheads, lone
// surrogates) compile to a matcher that never matches: a frame that reaches one fails
// validation loudly instead of passing silently.
func ecmaRegexp(s string) (jsonschema.Regexp, error) {
	conv := uEscape.ReplaceAllString(s, `\x{$1}`)
	if re, err := regexp.Compile(conv); err == nil {
		return re, nil
	}
	return neverMatch(s), nil
}

var uEscape = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

type neverMatch string

func (n neverMatch) String() string          { return string(n) }
func (n neverMatch) MatchString(string) bool { return false }
