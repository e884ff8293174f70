package app

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/gateway"
)

func rssFileKiB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatal("no RssFile")
	return 0
}

// TestReleaseStartupPages: the read-only pages of the executable leave this process's RSS, and
// the program keeps running on them (code and read-only data are mapped back on use).
func TestReleaseStartupPages(t *testing.T) {
	before := rssFileKiB(t)
	n, err := releaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKiB(t)
	t.Logf("covered %d KiB of mappings; RssFile %d → %d KiB", n>>10, before, after)
	if n == 0 || after >= before {
		t.Fatalf("covered %d bytes; RssFile %d → %d KiB", n, before, after)
	}
	// Code, read-only data and the data segment still work.
	if got := strings.Repeat(strconv.Itoa(42), 3); got != "424242" {
		t.Fatal(got)
	}
	if r := readyReason(gateway.Status{State: gateway.StateIncompatible, GatewayProtocol: 3}); !strings.Contains(r, "2026.5.12") {
		t.Fatal(r)
	}
}
