# Beffroi: `make run` builds and starts with embedded defaults, `make test` runs every test.
GO      ?= go
BIN     := bin/beffroi
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run test test-short bench lint fmt clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/beffroi

run: build
	./$(BIN) $(ARGS)

# Every test: unit tests, fuzz seeds and the end-to-end tests with real peers (ffmpeg, nginx
# with the RTMP module). End-to-end tests skip with a message when a peer is missing, unless
# BEFFROI_E2E=require (as CI sets it). The end-to-end package alone takes 12 to 15 minutes on
# a 2-core machine: the timeout leaves room for a loaded one.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 40m ./...

# Unit tests only (no external peers).
test-short:
	$(GO) test -short -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./relay/ ./internal/...
	@echo "End-to-end load tool against nginx-rtmp: see bench/README.md"

# golangci-lint with .golangci.yml when installed
# (go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@latest), gofmt and vet always.
GOLANGCI := $(shell command -v golangci-lint 2>/dev/null || ls $$($(GO) env GOPATH)/bin/golangci-lint 2>/dev/null)
lint:
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet ./...
	@if [ -n "$(GOLANGCI)" ]; then $(GOLANGCI) run ./...; else echo "golangci-lint not installed: gofmt and vet only"; fi

fmt:
	gofmt -w .

clean:
	rm -rf bin
