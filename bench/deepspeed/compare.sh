#!/usr/bin/env bash
# compare.sh DS_BIN [PASSES]: optim's float32 Adam step against DeepSpeed's CPU Adam, on 1 and 2
# threads (or THREADS), interleaved in one run, and the spread of both over fresh processes at
# DRAM sizes.
#   DS_BIN: the folder where ../shared/anchors/deepspeed/build.sh put ds_driver_AVX512 (or
#           ds_driver_AVX256, used where the CPU lacks AVX-512)
#           (build.sh DEEPSPEED_SOURCE DS_BIN, from a checkout of DeepSpeed's public repository)
#   PASSES: how many times the whole table is measured, interleaved (default 3); every cell is
#           the median of the passes' medians (each of 5 rounds of about 150 ms)
# Optional environment:
#   THREADS       the worker and thread counts compared (default "1 2"); the fresh processes
#                 and the last ratio row use the largest
#   SIZES         the parameter counts (default 4K, 64K, 1M, 16M and 64M)
#   FRESH         fresh processes per DRAM size (16M and 64M, where listed; default 10, 0: none)
#   OPTIM_DRIVER  a built optim driver (go build in this folder) for a machine without Go
#   TORCH         a python3 whose torch has fused CPU Adam: adds torch's fused Adam at every
#                 thread count, timed by the anchor's own bench() (the best of 5 loops of about
#                 150 ms, where the others give a median), from TORCH_ANCHOR (default
#                 ../shared/anchors/torch_cpu_optim.py beside the repository)
# Prints the table in Markdown (docs/performance.md, "Two cores against DeepSpeed") after the
# raw JSON lines, which go to stderr. Run it on a quiet machine: ratios are only meaningful
# within one run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ds=$(cd "$1" && pwd)/ds_driver_AVX512
if ! grep -qw avx512f /proc/cpuinfo || [ ! -x "$ds" ]; then
	ds=$(dirname "$ds")/ds_driver_AVX256
fi
passes=${2:-3}
threads=${THREADS:-1 2}
sizes=${SIZES:-4096 65536 1048576 16777216 67108864}
fresh=${FRESH:-10}
torch_anchor=${TORCH_ANCHOR:-$here/../../../shared/anchors/torch_cpu_optim.py}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
optim=${OPTIM_DRIVER:-$tmp/optim_driver}
[ -n "${OPTIM_DRIVER:-}" ] || (cd "$here" && go build -o "$optim" .)
runs=$tmp/runs.jsonl
most=$(tr ' ' '\n' <<<"$threads" | sort -n | tail -1)

echo "==> $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs, $("$optim" -version), DeepSpeed's driver: $ds${TORCH:+, torch $("$TORCH" -c 'import torch; print(torch.__version__)')}" >&2
# tag LABEL PASS: prefixes each summary line with the configuration and the pass.
tag() { sed -n "s/^{\"kind\":\"summary\"/{\"label\":\"$1\",\"pass\":$2/p" | tee -a "$runs" >&2; }
# torch_fused N T: torch's fused Adam through the anchor's bench(), as a summary line.
torch_fused() {
	"$TORCH" - "$torch_anchor" "$1" "$2" <<'PY'
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("anchor", sys.argv[1])
anchor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(anchor)
import torch
n, threads = int(sys.argv[2]), int(sys.argv[3])
make = lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True)
once = anchor.bench(make, n, threads, 1)
reps = max(1, int(0.15 / max(once, 1e-9)))
s = anchor.bench(make, n, threads, reps)
print(json.dumps(dict(kind="summary", impl="torch-fused", n=n, threads=threads, reps=reps, ns_per_param=s * 1e9 / n)).replace(" ", ""))
PY
}
for pass in $(seq "$passes"); do
	for n in $sizes; do
		for t in $threads; do
			OMP_NUM_THREADS=$t "$ds" -rounds 5 "$n" | tag "ds$t" "$pass"
			"$optim" -workers "$t" -rounds 5 "$n" | tag "optim$t" "$pass"
			if [ -n "${TORCH:-}" ]; then
				torch_fused "$n" "$t" | tag "torch$t" "$pass"
			fi
		done
	done
done
# Fresh processes: the spread between processes, not within one.
for i in $(seq "$fresh"); do
	for n in $sizes; do
		[ "$n" -ge 16777216 ] || continue
		OMP_NUM_THREADS=$most "$ds" -rounds 3 "$n" | tag "fresh-ds" "$i"
		"$optim" -workers "$most" -rounds 3 "$n" | tag "fresh-optim" "$i"
	done
done

python3 - "$runs" "$threads" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
threads = [int(t) for t in sys.argv[2].split()]
most = max(threads)
def cells(label):
    by = {}
    for r in rows:
        if r["label"] == label:
            by.setdefault(r["n"], []).append(r["ns_per_param"])
    return by
sizes = sorted({r["n"] for r in rows if not r["label"].startswith("fresh")})
name = {4096: "4K", 65536: "64K", 1048576: "1M", 16777216: "16M", 67108864: "64M"}
labels = [l for t in threads for l in (f"optim{t}", f"ds{t}", f"torch{t}")]
med = {l: {n: statistics.median(v) for n, v in cells(l).items()} for l in labels}
def plural(t, word):
    return f"{t} {word}" + ("" if t == 1 else "s")
print("float32 Adam, ns per parameter (median over passes of the median of 5 rounds; torch's fused Adam: the anchor's best of 5 loops); ratios above 1 favour optim\n")
print("| | " + " | ".join(name.get(n, str(n)) for n in sizes) + " |")
print("|---" * (len(sizes) + 1) + "|")
for t in threads:
    for label, title in ((f"optim{t}", f"optim, {plural(t, 'worker')}"), (f"ds{t}", f"DeepSpeed, {plural(t, 'thread')}"), (f"torch{t}", f"torch fused, {plural(t, 'thread')}")):
        if med[label]:
            print(f"| {title} | " + " | ".join(f"{med[label][n]:.3f}" for n in sizes) + " |")
for t in threads:
    print(f"| DeepSpeed {plural(t, 'thread')} / optim {plural(t, 'worker')} | " + " | ".join(f"{med[f'ds{t}'][n] / med[f'optim{t}'][n]:.2f}x" for n in sizes) + " |")
    if med[f"torch{t}"]:
        print(f"| torch fused, {plural(t, 'thread')} / optim {plural(t, 'worker')} | " + " | ".join(f"{med[f'torch{t}'][n] / med[f'optim{t}'][n]:.2f}x" for n in sizes) + " |")
if 1 in threads and most > 1:
    print(f"| optim 1 worker / optim {most} workers | " + " | ".join(f"{med['optim1'][n] / med[f'optim{most}'][n]:.2f}x" for n in sizes) + " |")
fresh = {l: cells(l) for l in ("fresh-optim", "fresh-ds")}
if any(fresh.values()):
    count = max(len(v) for c in fresh.values() for v in c.values())
    print(f"\n{count} fresh processes each, {most} {'worker or thread' if most == 1 else 'workers or threads'}, ns per parameter (each process: median of 3 rounds)\n")
    print("| | min | median | max | max/min |")
    print("|---|---|---|---|---|")
    for label, title in (("fresh-optim", "optim"), ("fresh-ds", "DeepSpeed")):
        for n, v in sorted(fresh[label].items()):
            print(f"| {title}, {name.get(n, n)} | {min(v):.3f} | {statistics.median(v):.3f} | {max(v):.3f} | {max(v) / min(v):.2f} |")
PY
