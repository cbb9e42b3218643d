#!/usr/bin/env bash
# elsewhere.sh CARRY [PASSES]: compare.sh on a machine without Go and without Debian's torch, such
# as a lent many-core machine whose python3 has a recent PyTorch (which has fused CPU Adam). It
# builds DeepSpeed's driver there against that torch, then runs compare.sh with 1 and all cores'
# threads and torch's fused Adam. This is how docs/performance.md's "Sixteen cores" was measured.
#   CARRY: a folder prepared on the development machine with
#     optim_driver          CGO_ENABLED=0 go build -o CARRY/optim_driver ./bench/deepspeed
#     ds_driver.cpp         ../shared/anchors/deepspeed/ds_driver.cpp
#     torch_cpu_optim.py    ../shared/anchors/torch_cpu_optim.py
#     ds/csrc/{adam,includes}  from a checkout of DeepSpeed's public repository
#   PASSES: compare.sh's (default 2)
# A recent torch's torch/extension.h pulls in Python bindings that need libpython to link, and
# DeepSpeed's CPU Adam uses none of them: a stand-in torch/extension.h that includes only
# torch/all.h comes first on the include path. DeepSpeed's files are not changed. Otherwise the
# build is ../shared/anchors/deepspeed/build.sh's g++ command.
set -euo pipefail
carry=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/shim/torch" "$work/bin"
printf '#pragma once\n#include <torch/all.h>\n' >"$work/shim/torch/extension.h"
ti=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
isa=AVX256
if grep -qw avx512f /proc/cpuinfo; then isa=AVX512; fi
g++ -O3 -march=native -fopenmp -D__${isa}__ -std=c++17 -I"$work/shim" \
	-I"$carry/ds/csrc/adam" -I"$carry/ds/csrc/includes" -I"$ti/include" -I"$ti/include/torch/csrc/api/include" \
	"$carry/ds_driver.cpp" -o "$work/bin/ds_driver_$isa" -L"$ti/lib" -Wl,-rpath,"$ti/lib" -ltorch -ltorch_cpu -lc10
THREADS="1 $(nproc)" FRESH=${FRESH:-5} OPTIM_DRIVER=$carry/optim_driver TORCH=python3 \
	TORCH_ANCHOR=$carry/torch_cpu_optim.py bash "$here/compare.sh" "$work/bin" "${2:-2}"
