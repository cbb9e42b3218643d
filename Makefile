# make test is the whole check, run by CI (.ci/run) and before every merge.
# Each step prints a "==>" line; the first failure stops the run.

GO ?= go
FUZZTIME ?= 10s
BENCH ?= .
COUNT ?= 10
BENCHDIR ?= $(or $(TMPDIR),/tmp)/optim-bench

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:

# The modules of this repository: the library, the nested generator, and
# the demo, a module of its own so that the library requires no plotting
# module.
MODULES := . asm cmd/optim
# The modules whose packages every vet and test step covers; the generator
# (asm/) only runs on the host, so it is vetted and tested there, in vet.
TESTED := . cmd/optim

# staticcheck is pinned: a new release can add checks, and CI must not
# start failing on a commit that did not change. .ci/run installs this
# version from the Go module proxy; so does the staticcheck target when the
# binary on PATH (or in GOPATH/bin) is another version or missing.
STATICCHECK_VERSION ?= v0.8.2

.PHONY: test fmt vet staticcheck gencheck race noasm generic goamd64v3 arm64 fuzz bench bench-compare generate

test: fmt vet staticcheck gencheck race noasm generic goamd64v3 arm64 fuzz
	@echo "==> make test: all steps passed"

fmt:
	@echo "==> gofmt -l . (asm/ included)"
	out=$$(gofmt -l .)
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	@for mod in $(TESTED); do
		pushd "$$mod" >/dev/null
		echo "==> go vet ./... in $$mod"
		$(GO) vet ./...
		echo "==> GOARCH=arm64 go vet ./... in $$mod"
		GOARCH=arm64 $(GO) vet ./...
		echo "==> go vet -tags noasm ./... in $$mod"
		$(GO) vet -tags noasm ./...
		echo "==> GOARCH=386 and GOARCH=arm: go vet ./... && go build ./... in $$mod (generic only, 32-bit int)"
		GOARCH=386 $(GO) vet ./...
		GOARCH=386 $(GO) build ./...
		GOARCH=arm $(GO) vet ./...
		GOARCH=arm $(GO) build ./...
		popd >/dev/null
	done
	echo "==> asm/: go vet ./... && go test -race ./..."
	cd asm && $(GO) vet ./... && $(GO) test -race ./...

staticcheck:
	@sc=$$(command -v staticcheck || echo "$$($(GO) env GOPATH)/bin/staticcheck")
	if ! "$$sc" -version 2>/dev/null | grep -q "($(STATICCHECK_VERSION:v%=%))"; then
		echo "==> installing staticcheck $(STATICCHECK_VERSION)"
		GOBIN="$$($(GO) env GOPATH)/bin" $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
		sc="$$($(GO) env GOPATH)/bin/staticcheck"
	fi
	for mod in $(MODULES); do
		echo "==> staticcheck ./... in $$mod ($$("$$sc" -version))"
		(cd "$$mod" && "$$sc" ./...)
	done

# gencheck proves that the committed generated files are what the
# generators produce. It snapshots the whole working tree (tracked and
# untracked files, .gitignore honoured) as a git tree object before and
# after go generate: on a clean checkout (CI) that is exactly "git status
# --porcelain is empty afterwards"; in a dirty development tree it still
# catches any file that go generate changes.
gencheck:
	@echo "==> go generate ./... leaves the tree unchanged"
	snapshot() {
		local idx; idx=$$(mktemp)
		rm -f "$$idx"
		GIT_INDEX_FILE=$$idx git read-tree HEAD
		GIT_INDEX_FILE=$$idx git add -A .
		GIT_INDEX_FILE=$$idx git write-tree
		rm -f "$$idx"
	}
	before=$$(snapshot)
	$(GO) generate ./...
	after=$$(snapshot)
	if [ "$$before" != "$$after" ]; then
		echo "go generate changed the tree: commit the regenerated files (or fix the generator)"
		git diff --stat "$$before" "$$after"
		git diff "$$before" "$$after" | head -n 200
		exit 1
	fi
	if [ "$$before" != "$$(git rev-parse 'HEAD^{tree}')" ]; then
		echo "(the tree had uncommitted changes before go generate; it changed none of them)"
	fi

# -short: under the race detector the exhaustive length x offset sweeps of
# the kernel tests took 270 s on a 2-core runner (6 s with -short), and they
# look for wrong bits, not data races; every later step runs them in full.
race:
	@for mod in $(TESTED); do
		echo "==> go test -race -short ./... in $$mod"
		(cd "$$mod" && $(GO) test -race -short ./...)
	done

noasm:
	@for mod in $(TESTED); do
		echo "==> go test -tags noasm ./... in $$mod"
		(cd "$$mod" && $(GO) test -tags noasm ./...)
	done

generic:
	@for mod in $(TESTED); do
		echo "==> OPTIM_ISA=generic go test ./... in $$mod"
		(cd "$$mod" && OPTIM_ISA=generic $(GO) test ./...)
	done

goamd64v3:
	@for mod in $(TESTED); do
		echo "==> GOAMD64=v3 go test ./... in $$mod"
		(cd "$$mod" && GOAMD64=v3 $(GO) test ./...)
	done

arm64:
	@if [ "$$($(GO) env GOHOSTARCH)" = arm64 ]; then
		echo "==> arm64 host: the native go test steps covered arm64"
	elif command -v qemu-aarch64 >/dev/null; then
		for mod in $(TESTED); do
			echo "==> GOARCH=arm64 go test -exec qemu-aarch64 ./... in $$mod"
			(cd "$$mod" && GOARCH=arm64 $(GO) test -exec qemu-aarch64 ./...)
		done
	else
		echo "==> SKIPPED: GOARCH=arm64 go test (qemu-aarch64 is not on PATH; apt-get install qemu-user)"
	fi

# fuzz runs every fuzz target of every package of every module for
# FUZZTIME each; targets are discovered with go test -list, so new ones are
# picked up without editing this file.
#
# Go 1.26's fuzzing coordinator can fail a target at the end of a duration
# -fuzztime with a bare "context deadline exceeded" although nothing failed:
# it compares the timed-out parent context's error with a child context that
# is not cancelled yet (golang/go#75804, fixed in Go 1.27). A real finding
# always writes its input ("Failing input written to ..."), so a target is
# retried, at most twice, only on that exact signature without a written
# input; any other failure fails at once.
fuzz:
	@fuzz_one() {
		local pkg=$$1 target=$$2 out
		for attempt in 1 2 3; do
			echo "==> fuzz $$target in $$pkg for $(FUZZTIME)"
			if out=$$($(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg" 2>&1); then
				echo "$$out"
				return 0
			fi
			echo "$$out"
			if ! grep -q 'context deadline exceeded' <<<"$$out" || grep -q 'Failing input written' <<<"$$out"; then
				return 1
			fi
			[ $$attempt -lt 3 ] && echo "==> $$target: coordinator deadline race (golang/go#75804), no failing input; retrying"
		done
		return 1
	}
	for mod in $(MODULES); do
		pushd "$$mod" >/dev/null
		for pkg in $$($(GO) list ./...); do
			listed=$$($(GO) test -list '^Fuzz' "$$pkg")
			for target in $$(grep '^Fuzz' <<<"$$listed" || true); do
				fuzz_one "$$pkg" "$$target"
			done
		done
		popd >/dev/null
	done

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...

# bench-compare times the portable kernels (OPTIM_ISA=generic) against the
# dispatched ones on this CPU. Every benchmark runs COUNT times per side, so
# narrow BENCH for a quick look, e.g. make bench-compare BENCH=Step/adam/float32.
bench-compare:
	@benchstat=$$(command -v benchstat || true)
	if [ -z "$$benchstat" ]; then
		benchstat="$$($(GO) env GOPATH)/bin/benchstat"
		[ -x "$$benchstat" ] || $(GO) install golang.org/x/perf/cmd/benchstat@latest
	fi
	mkdir -p "$(BENCHDIR)"
	echo "==> OPTIM_ISA=generic, -count $(COUNT) -> $(BENCHDIR)/generic.txt"
	OPTIM_ISA=generic $(GO) test -run '^$$' -bench '$(BENCH)' -count $(COUNT) . > "$(BENCHDIR)/generic.txt"
	echo "==> dispatched, -count $(COUNT) -> $(BENCHDIR)/dispatched.txt"
	$(GO) test -run '^$$' -bench '$(BENCH)' -count $(COUNT) . > "$(BENCHDIR)/dispatched.txt"
	"$$benchstat" "$(BENCHDIR)/generic.txt" "$(BENCHDIR)/dispatched.txt"

generate:
	$(GO) generate ./...
