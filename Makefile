# lanewatch: `make run` and `make test` are all a fresh Debian 12 machine needs.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -X github.com/lanewatch/lanewatch/internal/buildinfo.Version=$(VERSION) \
           -X github.com/lanewatch/lanewatch/internal/buildinfo.Commit=$(COMMIT)
CACHE_DIR ?= $(HOME)/.cache/lanewatch
export LANEWATCH_INFLUXD ?= $(CACHE_DIR)/influxd/bin/influxd
CONFIG ?= configs/lanewatch.yaml
TEST_TIMEOUT ?= 25m

.PHONY: all deps build run test vet unit eval bench soak fuzz clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/lanewatch ./cmd/lanewatch

# The gateway on its embedded defaults: embedded MQTT broker, local store under
# ./data, demo cameras from the built-in simulator, simulated gate traffic.
run: build
	./bin/lanewatch run -c $(CONFIG)

vet: deps
	$(GO) vet ./...

# The whole suite against real Mosquitto, influxd, loopback RTSP and headless
# Chromium, then the detection evaluation with its precision/recall floors.
test: deps vet unit eval

unit: deps
	$(GO) test -timeout $(TEST_TIMEOUT) -count=1 ./...

eval: deps
	$(GO) run ./cmd/lanewatch-eval

bench: deps
	@bash scripts/bench.sh

soak: deps
	$(GO) test -tags soak -timeout 60m -count=1 -run Soak -v ./...

# Short coverage-guided runs of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz: deps
	@bash scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
