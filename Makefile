# pgplay — build, test, lint, demo. Run as root on Debian 12 for the
# integration (sshd) and end-to-end (lab) tests.
GO        ?= go
BIN       := bin/pgplay
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LAB_STATE ?= lab

.PHONY: all build test unit e2e e2e-one lint fmt demo demo-down docs check-docs clean bench

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/pgplay

# The test command: unit and integration tests (real sshd on loopback), then
# the end-to-end suite in the lab (needs root, systemd-nspawn, debootstrap).
test: unit e2e

unit:
	$(GO) test -count=1 -timeout 20m ./...

e2e: build
	$(GO) test -count=1 -tags e2e -timeout 60m -v ./e2e/

# Short fuzzing of the parsers and templates (CI): each target FUZZTIME.
# A crash is saved under the package's testdata/fuzz/ and then runs with
# every `go test` as a regression test. FUZZTIME is a count of inputs
# (Nx), not a duration: with a duration, Go 1.26's fuzzing coordinator
# can fail a target with "context deadline exceeded" and no crasher when
# the machine is busy at the deadline (golang/go#75804, fixed in Go 1.27;
# seen in a CI run here). 20000 inputs take 1-10 s per target here.
FUZZTIME ?= 20000x
.PHONY: fuzz
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/inventory/
	$(GO) test -run '^$$' -fuzz '^FuzzSelect$$' -fuzztime $(FUZZTIME) ./internal/inventory/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/playbook/
	$(GO) test -run '^$$' -fuzz '^FuzzRenderValue$$' -fuzztime $(FUZZTIME) ./internal/tmpl/

# One end-to-end test, e.g. make e2e-one TEST=TestFailover
TEST ?= TestSite
e2e-one: build
	$(GO) test -count=1 -tags e2e -timeout 60m -v -run '^$(TEST)$$' ./e2e/

lint:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./e2e/

fmt:
	gofmt -w .

# The main job on the built-in lab: build, bring the lab up, deploy, show it.
demo: build
	./$(BIN) lab up --state-dir $(LAB_STATE)
	./$(BIN) run playbooks/site.yaml -i $(LAB_STATE)/inventory.yaml
	./$(BIN) lab status --state-dir $(LAB_STATE)
	./$(BIN) status -i $(LAB_STATE)/inventory.yaml

demo-down: build
	./$(BIN) lab down --state-dir $(LAB_STATE)

# Workload A with pgplay, ansible-playbook (defaults and tuned) and a minimal
# Go client on loopback sshd targets, first and second runs, N = 1, 10, 50
# (docs/performance.md). Needs root, openssh-server and ansible; the full
# matrix takes about an hour, mostly Ansible's. Narrow it with e.g.
#   make bench BENCH_ARGS="-n 1,10 -tools pgplay,ansible-tuned,gomin"
BENCH_ARGS ?=
bench: build
	$(GO) build -o bin/benchdriver ./bench/cmd/benchdriver
	./bin/benchdriver run -pgplay $(BIN) $(BENCH_ARGS)

docs: build
	./$(BIN) doc --markdown > docs/modules.md

clean:
	rm -rf bin
