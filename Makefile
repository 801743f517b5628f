# make run   installs what is missing, builds meshbench and runs the embedded default scenario
# make test  installs what is missing, then go vet, the whole test suite under the race detector,
#            and the load engine's timing, memory and allocation checks without it (the race
#            detector slows and allocates on its own); MESHBENCH_STRICT_PRECISION=1 makes the
#            timing checks use issue 12's bounds, for a quiet host
# make test-fleet  as root: the Ansible fleet playbook against two network namespaces over SSH
#                  (scripts/test-fleet.sh; installs ansible and openssh-server, skips when not root)
# make loadgen-cost  meshbench's load generator beside wrk2 and fortio against one nginx: CPU per
#                    request, rate, p50/p99, late sends (scripts/loadgen-cost.sh; RATES, REPEATS, SECS)
# make soak  10 minutes at 2000 req/s; RSS of meshbench and the sidecars must not grow (not in CI)
# make test-net  two network namespaces as two hosts: serve in one, run --remote in the other (root; skips otherwise)
GO      ?= go
BIN     := bin/meshbench
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/meshbench/meshbench/internal/cli.Version=$(VERSION)

.PHONY: all setup build run test test-fleet test-net soak bench loadgen-cost fmt vet clean

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
	$(GO) test -count=1 -timeout 4m -run 'TestPrecision|TestCoordinatedOmission|TestMemoryFlat|TestAllocs|TestLazyConnections' ./internal/load

test-fleet:
	@scripts/test-fleet.sh

# The namespaces join by a veth pair (10.200.0.1/30, 10.200.0.2/30); the
# test makes and removes them. -v prints each path's figures on both sides.
test-net: setup
	MESHBENCH_TEST_NET=1 $(GO) test -count=1 -timeout 8m -v -run TestTwoNamespaces ./internal/remote/

# 10 minutes at 2000 req/s through direct, haproxy and linkerd; fails when
# meshbench or a sidecar grows more than 10% after warm-up. Not run by CI.
soak: setup
	scripts/soak.sh $(SOAK_ARGS)

loadgen-cost: build
	scripts/loadgen-cost.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
