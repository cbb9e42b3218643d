"""Records torch.optim.swa_utils' weight averages of bfloat16 and float16
models for the Averaged tests of 16-bit element types.

Run with torch 1.13.1 (Debian's python3-torch) from this directory:

    /usr/bin/python3 make_averaging_lowp_golden.py

It writes one <name>_<dtype>.json.gz per configuration here, in the format
of ../torch-averaging/README.md (dtype "bfloat16" or "float16"; every value
is exact as a float64). The Go tests only read those files; they never run
this.

It runs ../torch-averaging/make_averaging_golden.py's restatement of torch
2.x's update_parameters (its averaging functions, Averaged, trajectory and
record), with this model's sizes and dtypes and with the lerp that torch
2.x runs on 16-bit tensors (lerp16): its CPU lerp (LerpKernel.cpp, lerp_scalar_kernel's kBFloat16 and
kHalf branches) widens both tensors to float32, takes the weight as a
float32 (weight.to<float>()), computes lerp_vec in float32 with a fused
multiply-add and rounds the result once to the dtype, to nearest even.
torch 1.13's bfloat16 lerp_ does the same; its CPU lerp_ has no float16
kernel, so float16 is restated as that computation: the tensors widened,
float32 lerp_ by the same weight, the result narrowed. The script checks
that the two agree on bfloat16.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch-averaging"))
import make_averaging_golden as base  # noqa: E402

# A few hundred elements in all, each slice at its own scale (1e-3 reaches
# float16's subnormals).
base.PARAM_LENS = [64, 0, 1, 200, 33]
base.PARAM_SCALES = [1.0, 1.0, 300.0, 1e-3, 20.0]
base.BUFFER_LENS = [5, 0, 19]
base.BUFFER_SCALES = [4.0, 1.0, 0.05]
base.DTYPE_NAMES = {torch.bfloat16: "bfloat16", torch.float16: "float16"}
base.TORCH_NOTE = " restating torch 2.x's swa_utils (lerp in float32, rounded)"


def lerp16(a, c, w):
    """a.lerp_(c, w) on 16-bit tensors, as torch 2.x computes it on the CPU."""
    want = a.float().lerp_(c.float(), w).to(a.dtype)
    if a.dtype == torch.bfloat16:
        a.lerp_(c, w)  # torch's own bfloat16 kernel
        assert torch.equal(a.view(torch.int16), want.view(torch.int16)), "bfloat16 lerp_ is not float32's, rounded"
    else:
        a.copy_(want)


base.lerp = lerp16

CONFIGS = [
    # name, average, decay, use_buffers
    ("ema_0.999", "ema", 0.999, False),
    ("ema_0.9_use_buffers", "ema", 0.9, True),
    ("swa", "swa", None, False),
]


def main():
    for k, (name, average, decay, use_buffers) in enumerate(CONFIGS):
        for dtype in base.DTYPE_NAMES:
            base.record(name, average, decay, use_buffers, dtype, seed=2000 + k)


if __name__ == "__main__":
    main()
