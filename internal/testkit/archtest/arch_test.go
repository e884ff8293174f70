package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// listed is the part of `go list -json` output the test reads.
type listed struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Module     *struct{ Path string }
}

// row is one line of a package table in docs/architecture.md.
type row struct {
	line       int
	ours, deps []string
}

var ticked = regexp.MustCompile("`([^`]+)`")

// TestArchitectureImports compares docs/architecture.md's package tables with `go list`: every
// package of the module has a row, every row names a package, and each row's "imports (ours)" and
// "third-party" cells are exactly what the package's non-test files import.
func TestArchitectureImports(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := parseTables(t, doc)

	cmd := exec.CommandContext(t.Context(), "go", "list", "-deps", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	const prefix = "github.com/clawchat/clawchat/"
	pkgs := map[string]listed{}   // ours, by path relative to the module root
	module := map[string]string{} // import path → module path, for third-party packages
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch {
		case p.Standard || p.Module == nil:
		case p.Module.Path == strings.TrimSuffix(prefix, "/"):
			pkgs[strings.TrimPrefix(p.ImportPath, prefix)] = p
		default:
			module[p.ImportPath] = p.Module.Path
		}
	}
	for path := range pkgs {
		if _, ok := rows[path]; !ok {
			t.Errorf("docs/architecture.md has no row for package %s", path)
		}
	}
	for path, r := range rows {
		p, ok := pkgs[path]
		if !ok {
			t.Errorf("docs/architecture.md:%d: %s is not a package of the module", r.line, path)
			continue
		}
		var ours, third []string
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, prefix); ok {
				ours = append(ours, rel)
			} else if m, ok := module[imp]; ok && !slices.Contains(third, m) {
				third = append(third, m)
			}
		}
		slices.Sort(ours)
		if want := slices.Sorted(slices.Values(r.ours)); !slices.Equal(ours, want) {
			t.Errorf("docs/architecture.md:%d: %s imports %v of ours; the table says %v", r.line, path, ours, want)
		}
		for _, m := range third {
			if !slices.ContainsFunc(r.deps, func(short string) bool { return matches(short, m) }) {
				t.Errorf("docs/architecture.md:%d: %s imports module %s, which its third-party cell %v does not name", r.line, path, m, r.deps)
			}
		}
		for _, short := range r.deps {
			if !slices.ContainsFunc(third, func(m string) bool { return matches(short, m) }) {
				t.Errorf("docs/architecture.md:%d: %s: third-party %q is not imported (it imports %v)", r.line, path, short, third)
			}
		}
	}
}

// matches reports whether the table's short name (`x/time`, `go-redis`, `modernc.org/sqlite`)
// names module path m (golang.org/x/time, github.com/redis/go-redis/v9, modernc.org/sqlite).
func matches(short, m string) bool {
	if i := strings.LastIndex(m, "/v"); i > 0 && strings.Trim(m[i+2:], "0123456789") == "" {
		m = m[:i]
	}
	return m == short || strings.HasSuffix(m, "/"+short)
}

// parseTables reads every table row whose first cell is a backticked package path.
func parseTables(t *testing.T, doc []byte) map[string]row {
	t.Helper()
	rows := map[string]row{}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 4 {
			t.Fatalf("docs/architecture.md:%d: want 4 cells (package, owns, imports, third-party), got %d", n, len(cells))
		}
		r := row{line: n, ours: names(cells[2]), deps: names(cells[3])}
		for _, p := range names(cells[0]) {
			if _, dup := rows[p]; dup {
				t.Errorf("docs/architecture.md:%d: %s has two rows", n, p)
			}
			rows[p] = r
		}
	}
	return rows
}

func names(cell string) []string {
	var out []string
	for _, m := range ticked.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
