package main

import (
	"bytes"
	"os"
	"testing"
)

// TestWireTSUpToDate fails when web/src/wire.ts no longer matches the Go event types: run
// `go generate ./internal/chat` and commit the result.
func TestWireTSUpToDate(t *testing.T) {
	have, err := os.ReadFile("../../web/src/wire.ts")
	if err != nil {
		t.Fatal(err)
	}
	if want := generate(); !bytes.Equal(have, want) {
		t.Fatalf("web/src/wire.ts is stale: run `go generate ./internal/chat` (want:\n%s)", want)
	}
}
