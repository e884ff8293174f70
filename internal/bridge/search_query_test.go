package bridge

import "testing"

func TestSearchQuery(t *testing.T) {
	for in, want := range map[string]string{
		"pelican":                 `"pelican"`,
		"  flies   at dawn ":      `"flies" "at" "dawn"`,
		`"flies at" OR NOT x*`:    `"flies" "at" "OR" "NOT" "x"`,
		"pelican) OR (secret":     `"pelican" "OR" "secret"`,
		"don't":                   `"don't"`,
		"x":                       "",
		"  ":                      "",
		"***":                     "",
		"Größe 東京":                `"Größe" "東京"`,
		string([]byte{0xff, 'a'}): "",
	} {
		if got := searchQuery(in); got != want {
			t.Errorf("searchQuery(%q) = %q, want %q", in, got, want)
		}
	}
}
