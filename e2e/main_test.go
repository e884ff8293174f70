// Package e2e holds clawchat's end-to-end tests: against a real OpenClaw Gateway (started by
// internal/testkit/ochar with the scripted model of internal/testkit/fakemodel), real browsers and real
// databases. Run them with plain `go test ./e2e/...`; `-short` skips everything that needs an
// external process. Tests share one loopback Gateway per package run (sharedGateway); tests
// that crash or reconfigure a Gateway start their own.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// storetest.Main stops the PostgreSQL server that the multi-instance tests start.
	code := storetest.Main(m).Run()
	if err := stopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the shared gateway:", err)
		if code == 0 {
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}
