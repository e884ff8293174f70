package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/clawchat/clawchat/internal/config"
	"github.com/clawchat/clawchat/internal/gateway"
)

// shutdownBudgetSeconds bounds clawchat's graceful shutdown (CLAWCHAT_SHUTDOWN_TIMEOUT, default
// 15 s, plus room for raising it); the pod's grace period must exceed it so the kubelet never
// kills a draining process.
const shutdownBudgetSeconds = 30

type doc struct {
	file string
	obj  map[string]any
}

func (d doc) kind() string { return str(d.obj, "kind") }
func (d doc) name() string { return str(d.obj, "metadata", "name") }

// loadAll parses every YAML document of every *.yaml file in this directory.
func loadAll(t *testing.T) []doc {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var docs []doc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if obj == nil {
				continue
			}
			docs = append(docs, doc{file: f, obj: obj})
		}
	}
	return docs
}

// get walks nested maps; it returns nil when any step is missing.
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any, path ...string) string { s, _ := get(v, path...).(string); return s }
func list(v any, path ...string) []any { l, _ := get(v, path...).([]any); return l }
func boolean(v any, path ...string) (value, set bool) {
	b, ok := get(v, path...).(bool)
	return b, ok
}

func TestEveryDocumentIsWellFormed(t *testing.T) {
	for _, d := range loadAll(t) {
		if str(d.obj, "apiVersion") == "" || d.kind() == "" || (d.name() == "" && d.kind() != "Kustomization") {
			t.Errorf("%s: document without apiVersion/kind/metadata.name", d.file)
		}
		if d.kind() == "Secret" && !strings.HasSuffix(d.file, ".example.yaml") {
			t.Errorf("%s: a Secret outside an *.example.yaml file; real secrets are created out of band", d.file)
		}
	}
}

func podSpecs(docs []doc) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, d := range docs {
		switch d.kind() {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			if spec, ok := get(d.obj, "spec", "template", "spec").(map[string]any); ok {
				out[d.file+"/"+d.name()] = spec
			}
		case "Pod":
			if spec, ok := get(d.obj, "spec").(map[string]any); ok {
				out[d.file+"/"+d.name()] = spec
			}
		}
	}
	return out
}

func TestPodsAreLockedDown(t *testing.T) {
	pods := podSpecs(loadAll(t))
	if len(pods) == 0 {
		t.Fatal("no workloads found")
	}
	for name, spec := range pods {
		for _, f := range []string{"hostNetwork", "hostPID", "hostIPC"} {
			if v, _ := boolean(spec, f); v {
				t.Errorf("%s: %s is set", name, f)
			}
		}
		if v, set := boolean(spec, "automountServiceAccountToken"); !set || v {
			t.Errorf("%s: automountServiceAccountToken must be false (clawchat never talks to the API server)", name)
		}
		podNonRoot, _ := boolean(spec, "securityContext", "runAsNonRoot")
		if str(spec, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("%s: pod seccompProfile is not RuntimeDefault", name)
		}
		if uid, ok := get(spec, "securityContext", "runAsUser").(int); ok && uid == 0 {
			t.Errorf("%s: runAsUser 0", name)
		}
		grace, _ := get(spec, "terminationGracePeriodSeconds").(int)
		if grace <= shutdownBudgetSeconds {
			t.Errorf("%s: terminationGracePeriodSeconds %d must exceed the %ds shutdown budget", name, grace, shutdownBudgetSeconds)
		}
		containers := append(list(spec, "containers"), list(spec, "initContainers")...)
		if len(containers) == 0 {
			t.Errorf("%s: no containers", name)
		}
		for _, c := range containers {
			cname := name + "/" + str(c, "name")
			sc := get(c, "securityContext")
			if v, _ := boolean(sc, "privileged"); v {
				t.Errorf("%s: privileged", cname)
			}
			if v, set := boolean(sc, "allowPrivilegeEscalation"); !set || v {
				t.Errorf("%s: allowPrivilegeEscalation must be false", cname)
			}
			if v, _ := boolean(sc, "readOnlyRootFilesystem"); !v {
				t.Errorf("%s: readOnlyRootFilesystem must be true", cname)
			}
			if nonRoot, set := boolean(sc, "runAsNonRoot"); !(podNonRoot || (set && nonRoot)) || (set && !nonRoot) {
				t.Errorf("%s: runAsNonRoot must be true", cname)
			}
			if drop := list(sc, "capabilities", "drop"); !slices.Contains(drop, any("ALL")) {
				t.Errorf("%s: capabilities.drop must contain ALL, got %v", cname, drop)
			}
			if add := list(sc, "capabilities", "add"); len(add) > 0 {
				t.Errorf("%s: adds capabilities %v", cname, add)
			}
			if typ := str(sc, "seccompProfile", "type"); typ != "" && typ != "RuntimeDefault" && typ != "Localhost" {
				t.Errorf("%s: seccompProfile %q", cname, typ)
			}
			for _, e := range list(c, "env") {
				n, v := str(e, "name"), str(e, "value")
				secretish := strings.Contains(n, "TOKEN") || strings.Contains(n, "PASSWORD") ||
					strings.Contains(n, "SECRET") || strings.Contains(n, "PRIVATE_KEY") || n == "CLAWCHAT_DATABASE_URL"
				if secretish && !strings.HasSuffix(n, "_FILE") && v != "" {
					t.Errorf("%s: secret %s given inline; mount it and use %s_FILE", cname, n, n)
				}
			}
		}
	}
}

func TestClawchatProbesAndData(t *testing.T) {
	docs := loadAll(t)
	var dep map[string]any
	for _, d := range docs {
		if d.kind() == "Deployment" && d.name() == "clawchat" {
			dep = d.obj
		}
	}
	if dep == nil {
		t.Fatal("no clawchat Deployment")
	}
	c := list(dep, "spec", "template", "spec", "containers")[0]
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := str(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %q, want %q", probe, got, path)
		}
	}
	mounts := map[string]bool{}
	for _, m := range list(c, "volumeMounts") {
		mounts[str(m, "mountPath")] = true
	}
	if !mounts["/data"] || !mounts["/tmp"] {
		t.Errorf("mounts %v: need writable /data and /tmp under a read-only root", mounts)
	}
	// A ReadWriteOnce volume with SQLite: one replica, never two pods at once.
	usesPVC := false
	for _, v := range list(dep, "spec", "template", "spec", "volumes") {
		if get(v, "persistentVolumeClaim") != nil {
			usesPVC = true
		}
	}
	if usesPVC {
		if r, _ := get(dep, "spec", "replicas").(int); r != 1 {
			t.Errorf("replicas %d with a ReadWriteOnce SQLite volume", r)
		}
		if s := str(dep, "spec", "strategy", "type"); s != "Recreate" {
			t.Errorf("strategy %q with a single-writer volume, want Recreate", s)
		}
	}
	// envFrom must reference the ConfigMap and the secrets volume the Secret.
	if str(list(c, "envFrom")[0], "configMapRef", "name") != "clawchat" {
		t.Error("envFrom does not use the clawchat ConfigMap")
	}

	// A PodDisruptionBudget selects the Deployment's pods.
	labels, _ := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	found := false
	for _, d := range docs {
		if d.kind() != "PodDisruptionBudget" {
			continue
		}
		sel, _ := get(d.obj, "spec", "selector", "matchLabels").(map[string]any)
		match := len(sel) > 0
		for k, v := range sel {
			if labels[k] != v {
				match = false
			}
		}
		if match && (get(d.obj, "spec", "minAvailable") != nil || get(d.obj, "spec", "maxUnavailable") != nil) {
			found = true
		}
	}
	if !found {
		t.Error("no PodDisruptionBudget selects the clawchat pods")
	}
}

func TestIngressAllowsLongLivedStreams(t *testing.T) {
	n := 0
	for _, d := range loadAll(t) {
		if d.kind() != "Ingress" {
			continue
		}
		n++
		for _, a := range []string{"proxy-read-timeout", "proxy-send-timeout"} {
			v, _ := strconv.Atoi(str(d.obj, "metadata", "annotations", "nginx.ingress.kubernetes.io/"+a))
			if v < 300 {
				t.Errorf("%s: %s = %d s; WebSocket/SSE need minutes", d.file, a, v)
			}
		}
		if len(list(d.obj, "spec", "tls")) == 0 {
			t.Errorf("%s: no TLS", d.file)
		}
	}
	if n == 0 {
		t.Error("no Ingress example")
	}
}

func TestKustomizationListsExistingFiles(t *testing.T) {
	for _, d := range loadAll(t) {
		if d.kind() != "Kustomization" {
			continue
		}
		for _, r := range list(d.obj, "resources") {
			f, _ := r.(string)
			if _, err := os.Stat(f); err != nil {
				t.Errorf("kustomization resource %q: %v", f, err)
			}
			if strings.Contains(f, "example") {
				t.Errorf("kustomization applies the example %q", f)
			}
		}
	}
}

// TestExampleConfigurationStarts loads the ConfigMap and the Deployment's env the way clawchat
// does (config.Load, then the Gateway client's URL check), with every mounted secret file
// holding a placeholder. Regression: the example's ws://<service name> Gateway URL was refused at
// start ("refusing plaintext ws:// …") because CLAWCHAT_GATEWAY_ALLOW_INSECURE was not set.
func TestExampleConfigurationStarts(t *testing.T) {
	env := map[string]string{}
	var c map[string]any
	for _, d := range loadAll(t) {
		switch {
		case d.kind() == "ConfigMap" && d.name() == "clawchat":
			data, _ := get(d.obj, "data").(map[string]any)
			for k, v := range data {
				env[k], _ = v.(string)
			}
		case d.kind() == "Deployment" && d.name() == "clawchat":
			c = list(d.obj, "spec", "template", "spec", "containers")[0].(map[string]any)
		}
	}
	if c == nil {
		t.Fatal("no clawchat Deployment")
	}
	for _, e := range list(c, "env") {
		env[str(e, "name")] = str(e, "value")
	}
	cfg, err := config.Load(config.Env{
		Getenv: func(k string) string { return env[k] },
		ReadFile: func(p string) ([]byte, error) {
			if strings.HasPrefix(p, "/run/secrets/clawchat/") {
				return []byte("alice:placeholder-password\n"), nil
			}
			return nil, os.ErrNotExist
		},
	})
	if err != nil {
		t.Fatalf("the example configuration does not load: %v", err)
	}
	if _, err := gateway.New(gateway.Config{URL: cfg.Gateway.URL, Token: cfg.Gateway.Token, AllowInsecure: cfg.Gateway.AllowInsecure, StateDir: t.TempDir()}); err != nil {
		t.Errorf("the Gateway client refuses the example's OPENCLAW_GATEWAY_URL %q: %v", cfg.Gateway.URL, err)
	}
}
