#!/usr/bin/env bash
# compare.sh DS_BIN [PASSES]: optim's float32 Adam step against DeepSpeed's CPU Adam, on 1 and 2
# threads, interleaved in one run, and the spread of both over fresh processes at DRAM sizes.
#   DS_BIN: the folder where ../shared/anchors/deepspeed/build.sh put ds_driver_AVX512
#           (build.sh DEEPSPEED_SOURCE DS_BIN, from a checkout of DeepSpeed's public repository)
#   PASSES: how many times the whole table is measured, interleaved (default 3); every cell is
#           the median of the passes' medians (each of 5 rounds of about 150 ms)
# Prints the table in Markdown (docs/performance.md, "Two cores against DeepSpeed") after the
# raw JSON lines, which go to stderr. Run it on a quiet machine: ratios are only meaningful
# within one run.
set -euo pipefail
ds=$(cd "$1" && pwd)/ds_driver_AVX512
passes=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && go build -o "$tmp/optim_driver" .)
optim=$tmp/optim_driver
runs=$tmp/runs.jsonl

echo "==> $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs, $(go version | cut -d' ' -f3), DeepSpeed's driver: $ds" >&2
# tag LABEL PASS: prefixes each summary line with the configuration and the pass.
tag() { sed -n "s/^{\"kind\":\"summary\"/{\"label\":\"$1\",\"pass\":$2/p" | tee -a "$runs" >&2; }
sizes="4096 65536 1048576 16777216 67108864"
for pass in $(seq "$passes"); do
	for n in $sizes; do
		for t in 1 2; do
			OMP_NUM_THREADS=$t "$ds" -rounds 5 "$n" | tag "ds$t" "$pass"
			"$optim" -workers "$t" -rounds 5 "$n" | tag "optim$t" "$pass"
		done
	done
done
# Fresh processes: the spread between processes, not within one.
for i in $(seq 10); do
	for n in 16777216 67108864; do
		OMP_NUM_THREADS=2 "$ds" -rounds 3 "$n" | tag "fresh-ds2" "$i"
		"$optim" -workers 2 -rounds 3 "$n" | tag "fresh-optim2" "$i"
	done
done

python3 - "$runs" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def cells(label):
    by = {}
    for r in rows:
        if r["label"] == label:
            by.setdefault(r["n"], []).append(r["ns_per_param"])
    return by
sizes = sorted({r["n"] for r in rows if not r["label"].startswith("fresh")})
name = {4096: "4K", 65536: "64K", 1048576: "1M", 16777216: "16M", 67108864: "64M"}
med = {l: {n: statistics.median(v) for n, v in cells(l).items()} for l in ("optim1", "ds1", "optim2", "ds2")}
print("float32 Adam, ns per parameter (median over passes of the median of 5 rounds); ratios above 1 favour optim\n")
print("| | " + " | ".join(name.get(n, str(n)) for n in sizes) + " |")
print("|---" * (len(sizes) + 1) + "|")
for label, title in (("optim1", "optim, 1 worker"), ("ds1", "DeepSpeed, 1 thread"), ("optim2", "optim, 2 workers"), ("ds2", "DeepSpeed, 2 threads")):
    print(f"| {title} | " + " | ".join(f"{med[label][n]:.3f}" for n in sizes) + " |")
print("| DeepSpeed 1 thread / optim 1 worker | " + " | ".join(f"{med['ds1'][n] / med['optim1'][n]:.2f}x" for n in sizes) + " |")
print("| DeepSpeed 2 threads / optim 2 workers | " + " | ".join(f"{med['ds2'][n] / med['optim2'][n]:.2f}x" for n in sizes) + " |")
print("| optim 1 worker / optim 2 workers | " + " | ".join(f"{med['optim1'][n] / med['optim2'][n]:.2f}x" for n in sizes) + " |")
print("\n10 fresh processes each, 2 workers or threads, ns per parameter (each process: median of 3 rounds)\n")
print("| | min | median | max | max/min |")
print("|---|---|---|---|---|")
for label, title in (("fresh-optim2", "optim"), ("fresh-ds2", "DeepSpeed")):
    for n, v in sorted(cells(label).items()):
        print(f"| {title}, {name.get(n, n)} | {min(v):.3f} | {statistics.median(v):.3f} | {max(v):.3f} | {max(v) / min(v):.2f} |")
PY
