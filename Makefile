# make test is the whole check, run by CI (.ci/run) and before every merge.
# Each step prints a "==>" line; the first failure stops the run.

GO ?= go
FUZZBUDGET ?= 60
FUZZMIN ?= 2
BENCH ?= .
COUNT ?= 10
BENCHDIR ?= $(or $(TMPDIR),/tmp)/optim-bench

# -trimpath leaves the checkout's folder out of the build cache's keys, so
# that a fresh clone in another folder (CI's is one) reuses what an earlier
# clone of the same code compiled and vetted; without it every package of
# this repository is compiled and vetted anew in each clone (measured: go
# vet of ./kernels and ./generic in a second clone, 5.3 s without, 0.3 s
# with). No test reads the paths of its sources.
export GOFLAGS += -trimpath

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:

# The modules of this repository: the library, the nested generator, the
# demo, a module of its own so that the library requires no plotting
# module, and the comparison with gonum (bench/gonum), for the same reason.
# bench/openblas needs cgo and Debian's OpenBLAS, and is run by hand.
MODULES := . asm cmd/optim bench/gonum
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

# lanes FIRST SECOND runs two shell functions of a recipe beside each other,
# one per core, as background jobs, so that -e stops each at its first
# failure (-e is ignored in a command whose status is tested). FIRST prints
# as it goes, SECOND's output follows whole when both have ended, and the
# status is 1 if either failed. A recipe expands $(LANES) to define it.
define LANES
lanes() {
	local out first second rc=0
	out=$$(mktemp)
	"$$2" >"$$out" 2>&1 &
	second=$$!
	"$$1" &
	first=$$!
	wait $$first || rc=1
	wait $$second || rc=1
	cat "$$out"
	rm -f "$$out"
	return $$rc
}
endef

# The vet configurations run in two lanes beside each other, each printed
# whole when it ends: each go vet compiles the standard library and the
# dependencies for its GOARCH and tags, with serial stretches (the runtime,
# the biggest packages, links) that leave a core idle in a lone go command.
vet:
	@native() {
		for mod in $(TESTED); do
			pushd "$$mod" >/dev/null
			echo "==> go vet ./... in $$mod"
			$(GO) vet ./...
			echo "==> GOARCH=arm64 go vet ./... in $$mod"
			GOARCH=arm64 $(GO) vet ./...
			popd >/dev/null
		done
		echo "==> asm/: go vet ./... && go test ./..."
		(cd asm && $(GO) vet ./... && $(GO) test ./...)
	}
	others() {
		for mod in $(TESTED); do
			pushd "$$mod" >/dev/null
			echo "==> go vet -tags noasm ./... in $$mod"
			$(GO) vet -tags noasm ./...
			echo "==> GOARCH=386 and GOARCH=arm: go vet ./... && go build ./... in $$mod (generic only, 32-bit int)"
			GOARCH=386 $(GO) vet ./...
			GOARCH=386 $(GO) build ./...
			GOARCH=arm $(GO) vet ./...
			GOARCH=arm $(GO) build ./...
			popd >/dev/null
		done
		echo "==> bench/gonum: go vet ./... && go test ./..."
		(cd bench/gonum && $(GO) vet ./... && $(GO) test ./...)
	}
	$(LANES)
	echo "==> vet: native and arm64 (then asm/), beside noasm, 386 and arm (then bench/gonum)"
	lanes native others

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

# The test steps share what they can: the build cache gives every step the
# packages an earlier step compiled for the same configuration (vet's
# compiles serve the tests of the same GOARCH and tags), and go test reuses
# a package's result when its test binary and the environment it reads are
# unchanged. Each step but race passes -vet=off: the vet step ran all of go
# vet, a superset of go test's checks, on every file those steps compile
# (native, arm64, noasm; GOAMD64=v3 and OPTIM_ISA select no other file).
# Files built only under -race are vetted by go test's checks in the race
# step.
GOTEST := $(GO) test -vet=off

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
		(cd "$$mod" && $(GOTEST) -tags noasm ./...)
	done

generic:
	@for mod in $(TESTED); do
		echo "==> OPTIM_ISA=generic go test ./... in $$mod"
		(cd "$$mod" && OPTIM_ISA=generic $(GOTEST) ./...)
	done

goamd64v3:
	@for mod in $(TESTED); do
		echo "==> GOAMD64=v3 go test ./... in $$mod"
		(cd "$$mod" && GOAMD64=v3 $(GOTEST) ./...)
	done

# Under qemu the step runs in two lanes beside each other, one per core,
# each printed whole when it ends:
#   - the packages below the library: first the NEON kernels, in full
#     (./kernels, the sweeps against generic, and ./linalg, the GEMM
#     micro-kernels against the reference), then the others with -short;
#   - the library's root package, then the demo, with -short.
# arm64 must give the same bits (the digests, the golden replays, the
# parallel steps); -short trims only sweeps whose code is the same Go on
# every architecture (the checkpoint parsers' bit flips and truncations, an
# accuracy check against math/big, worker counts), which the native steps
# run in full.
arm64:
	@if [ "$$($(GO) env GOHOSTARCH)" = arm64 ]; then
		echo "==> arm64 host: the native go test steps covered arm64"
	elif command -v qemu-aarch64 >/dev/null; then
		qemu="GOARCH=arm64 $(GOTEST) -p 1 -exec qemu-aarch64"
		root=$$($(GO) list .)
		neon="$$root/kernels $$root/linalg"
		below=$$($(GO) list ./... | grep -v -x -e "$$root" -e "$$root/kernels" -e "$$root/linalg")
		packages() {
			echo "==> $$qemu $$neon"
			env $$qemu $$neon
			echo "==> $$qemu -short (the other packages below the root)"
			env $$qemu -short $$below
		}
		library() {
			echo "==> $$qemu -short ."
			env $$qemu -short .
			for mod in $(filter-out .,$(TESTED)); do
				echo "==> $$qemu -short ./... in $$mod"
				(cd "$$mod" && env $$qemu -short ./...)
			done
		}
		$(LANES)
		echo "==> arm64 under qemu: the packages below the root, beside the root and $(filter-out .,$(TESTED))"
		lanes library packages
	else
		echo "==> SKIPPED: GOARCH=arm64 go test (qemu-aarch64 is not on PATH; apt-get install qemu-user)"
	fi

# fuzz fuzzes every fuzz target of every module, each for an equal share of
# FUZZBUDGET seconds but at least FUZZMIN (docs/testing.md counts the
# targets and explains the budget). Targets are found with go test -list,
# so new ones are picked up without editing this file. The test
# steps have already run every target's seed corpus, in every
# configuration, so fuzzing runs no unit test (-test.run '^$'); it runs the
# seeds once more only as the baseline the fuzzer grows its corpus from.
# Each package's fuzzing binary is built once (go test -c -fuzz) and run in
# the package's folder with go test's corpus cache ($GOCACHE/fuzz/<import
# path>), as go test -fuzz runs it, without a go command per target.
#
# Go 1.26's fuzzing coordinator can fail a target at the end of a duration
# -fuzztime with a bare "context deadline exceeded" although nothing failed:
# it compares the timed-out parent context's error with a child context that
# is not cancelled yet (golang/go#75804, fixed in Go 1.27). A real finding
# always writes its input ("Failing input written to ..."), so a target is
# run again, at most four times, only on that exact signature without a
# written input, with one line saying so instead of the aborted run's
# output; any other failure, or the signature a fifth time, prints
# everything and fails. (FuzzLoad, whose baseline takes a third of its
# share, once met it three times in a row.)
fuzz:
	@fuzz_one() {
		local dir=$$1 pkg=$$2 target=$$3 bin=$$4 out
		for attempt in 1 2 3 4 5; do
			echo "==> fuzz $$target in $$pkg for $${share_ms}ms"
			if out=$$(cd "$$dir" && "$$bin" -test.run '^$$' -test.fuzz "^$$target\$$" \
				-test.fuzztime "$${share_ms}ms" -test.fuzzcachedir "$$gocache/fuzz/$$pkg" -test.timeout 10m 2>&1); then
				echo "$$out"
				return 0
			fi
			if [ $$attempt -eq 5 ] || ! grep -q 'context deadline exceeded' <<<"$$out" || grep -q 'Failing input written' <<<"$$out"; then
				echo "$$out"
				return 1
			fi
			echo "==> $$target: the fuzzing coordinator stopped at its deadline with nothing found (golang/go#75804); running it again"
		done
	}
	gocache=$$($(GO) env GOCACHE)
	bins=$$(mktemp -d)
	trap 'rm -rf "$$bins"' EXIT
	targets=() # "import-path target folder", one per fuzz target
	for mod in $(MODULES); do
		dirs=$$(cd "$$mod" && $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./...)
		listed=$$(cd "$$mod" && $(GOTEST) -list '^Fuzz' ./...)
		# go test -list prints a package's targets, then its "ok" line.
		while read -r pkg target; do
			targets+=("$$pkg $$target $$(awk -v p="$$pkg" '$$1 == p { sub(/^[^ ]+ /, ""); print }' <<<"$$dirs")")
		done < <(awk '/^Fuzz/ { names[n++] = $$1; next } /^ok/ { for (i = 0; i < n; i++) print $$2, names[i] } { n = 0 }' <<<"$$listed")
	done
	if [ $${#targets[@]} -eq 0 ]; then
		echo "==> fuzz: no fuzz target found"
		exit 1
	fi
	share_ms=$$(( $(FUZZBUDGET) * 1000 / $${#targets[@]} ))
	[ $$share_ms -ge $$(( $(FUZZMIN) * 1000 )) ] || share_ms=$$(( $(FUZZMIN) * 1000 ))
	echo "==> fuzz: $${#targets[@]} targets, $${share_ms}ms each (FUZZBUDGET=$(FUZZBUDGET)s shared, FUZZMIN=$(FUZZMIN)s)"
	built=""
	for t in "$${targets[@]}"; do
		read -r pkg target dir <<<"$$t"
		bin="$$bins/$${pkg//\//_}.test"
		if [ "$$pkg" != "$$built" ]; then # go test -list gives a package's targets together
			(cd "$$dir" && $(GO) test -c -fuzz "^$$target\$$" -o "$$bin" .)
			built=$$pkg
		fi
		fuzz_one "$$dir" "$$pkg" "$$target" "$$bin"
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
