package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/chat"
)

// TestAPIDocEvents checks docs/api.md's event table against the Go event types: every event is
// documented, and the fields its row lists are exactly the payload's JSON fields (rows that name
// an object, such as Conversation or Approval, are checked against that object's section).
func TestAPIDocEvents(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "### Events")
	if i < 0 {
		t.Fatal("docs/api.md has no ### Events section")
	}
	rows := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| ((?:`[a-z.]+`(?: / )?)+) \\| (.*) \\|$")
	for _, m := range row.FindAllStringSubmatch(doc[i:], -1) {
		for _, n := range regexp.MustCompile("`([a-z.]+)`").FindAllStringSubmatch(m[1], -1) {
			rows[n[1]] = m[2]
		}
	}
	objects := map[string]reflect.Type{
		"Conversation": reflect.TypeFor[chat.ConversationView](),
		"Approval":     reflect.TypeFor[chat.Approval](),
	}
	for _, p := range chat.Catalog() {
		name := p.EventName()
		cell, ok := rows[name]
		if !ok {
			t.Errorf("event %s is not in docs/api.md's event table", name)
			continue
		}
		want := jsonFields(reflect.TypeOf(p))
		var got []string
		if obj := strings.Fields(cell); len(obj) > 0 && objects[strings.TrimRight(obj[0], ".,")] != nil {
			continue // an object documented in its own section (checked there by its fields' tests)
		} else if strings.HasPrefix(cell, "`{") {
			got = docFields(cell[1:])
		} else {
			t.Errorf("%s: cannot read the documented payload %q", name, cell)
			continue
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: docs/api.md lists %v, the payload has %v", name, got, want)
		}
	}
}

// jsonFields lists the JSON names of struct type t's fields (embedded structs flattened).
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if f.IsExported() && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// docFields returns the top-level keys of the first {…} in s, written as in docs/api.md:
// {"a","b"?,"c":"x|y","d":{…}}. Alternatives after the first object are ignored.
func docFields(s string) []string {
	var keys []string
	depth := 0
	prev := byte(0) // last structural character at depth 1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '{', '[':
			depth++
			if depth == 1 {
				prev = '{'
			}
		case '}', ']':
			depth--
			if depth == 0 {
				return keys
			}
		case ',', ':':
			if depth == 1 {
				prev = c
			}
		case '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return keys
			}
			if depth == 1 && (prev == '{' || prev == ',') {
				keys = append(keys, s[i+1:i+1+j])
			}
			i += j + 1
			if depth == 1 {
				prev = '"'
			}
		}
	}
	return keys
}
