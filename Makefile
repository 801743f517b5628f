# make run   installs what is missing, builds meshbench and runs the embedded default scenario
# make test  installs what is missing, then go vet and the whole test suite under the race detector
# make test-net  two network namespaces as two hosts: serve in one, run --remote in the other (root; skips otherwise)
GO      ?= go
BIN     := bin/meshbench
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/meshbench/meshbench/internal/cli.Version=$(VERSION)

.PHONY: all setup build run test test-net bench fmt vet clean

all: build

setup:
	@scripts/setup.sh

# meshbench-sidecar goes beside meshbench: the linkerd paths start it (a
# sidecar that links only the proxy), and fall back to `meshbench sidecar`.
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/meshbench ./cmd/meshbench-sidecar

run: setup build
	./$(BIN) run $(ARGS)

test: setup
	$(GO) vet ./...
	$(GO) test -race -timeout 8m ./...

# The namespaces join by a veth pair (10.200.0.1/30, 10.200.0.2/30); the
# test makes and removes them. -v prints each path's figures on both sides.
test-net: setup
	MESHBENCH_TEST_NET=1 $(GO) test -count=1 -timeout 8m -v -run TestTwoNamespaces ./internal/remote/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
