# make run   installs what is missing, builds meshbench and runs the embedded default scenario
# make test  installs what is missing, then go vet and the whole test suite under the race detector
GO      ?= go
BIN     := bin/meshbench
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/meshbench/meshbench/internal/cli.Version=$(VERSION)

.PHONY: all setup build run test bench fmt vet clean

all: build

setup:
	@scripts/setup.sh

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/meshbench

run: setup build
	./$(BIN) run $(ARGS)

test: setup
	$(GO) vet ./...
	$(GO) test -race -timeout 8m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
