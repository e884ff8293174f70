# clawchat — see README.md. Every target is what CI runs too.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/clawchat/clawchat/internal/version.Version=$(VERSION)
TESTFLAGS ?=
# Lint tools are pinned and installed with `go install` into the test cache (the module proxy serves them).
TOOLS_CACHE ?= $(or $(CLAWCHAT_TEST_CACHE),$(HOME)/.cache/clawchat)
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLS_CACHE)/bin/staticcheck-$(STATICCHECK_VERSION)

.PHONY: help build demo demo-embed test test-unit test-web vet lint-tools fmt web bench bench-quick e2e-deps lighthouse screenshots clean

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

build: ## static binary in bin/clawchat
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/clawchat ./cmd/clawchat

demo: ## run clawchat for real against a local OpenClaw Gateway and the scripted model
	$(GO) run ./cmd/clawchat-demo

demo-embed: ## the demo plus the example host app (examples/docs-host) embedding clawchat, on http://127.0.0.1:8090
	$(GO) run ./cmd/clawchat-demo -embed-host 127.0.0.1:8090

e2e-deps: ## install Node 24 and OpenClaw into the test cache (done on demand by the tests too)
	$(GO) run ./cmd/clawchat-demo -install-only

test: vet e2e-deps ## every test: Go unit + e2e (real OpenClaw, Chromium, PostgreSQL, Redis) + web
	$(GO) test -race -count=1 -timeout 50m $(TESTFLAGS) ./...
	$(MAKE) test-web

test-unit: ## fast tests only (no real gateway, browser or database servers)
	$(GO) test -race -short -count=1 ./...

test-web: ## frontend unit tests (vitest)
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm test

vet: $(STATICCHECK) ## go vet, staticcheck, gofmt, dependency pin checks, typed events and Gateway calls
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@grep -q 'modernc.org/libc v1.77.1' go.mod || { echo "modernc.org/libc must stay at v1.77.1 (what modernc.org/sqlite v1.60.1 requires)"; exit 1; }
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@# Browser events are built only with internal/chat's typed constructors (events.go), and the
	@# bridge calls the Gateway only through gateway.API's typed methods (issue 14).
	@bad=$$(grep -rnE --include='*.go' --exclude='*_test.go' 'chat\.NewEvent\(|Publish(All)?\(.*map\[string\]|Event\(\)?.*map\[string\](any|string)\{' internal/bridge internal/httpapi internal/app); \
	if [ -n "$$bad" ]; then echo "browser event payloads must be internal/chat types, not map literals:"; echo "$$bad"; exit 1; fi
	@bad=$$( { grep -rnE --include='*.go' --exclude='*_test.go' '\.Request\([a-zA-Z]*, *("|gateway\.Method)' internal/bridge internal/httpapi internal/app; \
		grep -rnE --include='*.go' --exclude='*_test.go' 'map\[string\]any\{"(sessionKey|key|limit|runId)"' internal/bridge; } ); \
	if [ -n "$$bad" ]; then echo "Gateway calls must use gateway.API's typed methods, not method names and map literals:"; echo "$$bad"; exit 1; fi
	@bad=$$(grep -nE '(:|as|<|,) *any\b|\bany(\[\]|>)' web/src/wire.ts web/src/types.ts web/src/socket.ts web/src/api.ts web/src/reducer.ts); \
	if [ -n "$$bad" ]; then echo "no any on the wire (web/src: types come from web/src/wire.ts):"; echo "$$bad"; exit 1; fi

lint-tools: $(STATICCHECK) ## install the pinned staticcheck into the test cache

$(STATICCHECK):
	mkdir -p $(TOOLS_CACHE)/bin/.staticcheck-$(STATICCHECK_VERSION)
	GOBIN=$(TOOLS_CACHE)/bin/.staticcheck-$(STATICCHECK_VERSION) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS_CACHE)/bin/.staticcheck-$(STATICCHECK_VERSION)/staticcheck $@

fmt: ## format Go code
	gofmt -w $$(git ls-files '*.go')

web: ## rebuild the embedded web app (internal/web/dist) from web/
	cd web && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

bench: ## full benchmark run, writes docs/benchmarks.md
	$(GO) run ./cmd/clawchat-bench -out docs/benchmarks.md

bench-quick: ## a few-second benchmark smoke run (no timing assertions)
	$(GO) run ./cmd/clawchat-bench -quick

lighthouse: ## measure the signed-in app with npm lighthouse (mobile + desktop) and assert the 50 ms long-task target; not part of make test
	$(GO) test -tags lighthouse -count=1 -v -run 'TestLighthouse|TestBrowserPhoneStreamingLongTasks' ./e2e/

screenshots: ## regenerate docs/screenshots from the real server and Gateway
	$(GO) test -tags screenshots -count=1 -run 'TestScreenshots$$|TestScreenshotsVoiceMemo' ./e2e/
	$(GO) test -tags screenshots -count=1 -run TestScreenshotsControlUI ./e2e/

clean:
	rm -rf bin
