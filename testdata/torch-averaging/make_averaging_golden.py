"""Records torch.optim.swa_utils' weight averages for the Averaged tests.

Run with torch 1.13.1 (Debian's python3-torch) from this directory:

    /usr/bin/python3 make_averaging_golden.py

It writes one <name>_<dtype>.json.gz per configuration here, in the format
of README.md. The Go tests only read those files; they never run this.

torch 1.13's AveragedModel averages with avg + (model - avg) / (n + 1) for
every function and never copies the buffers; torch 2.x computes EMA and SWA
with torch._foreach_lerp_ (get_ema_multi_avg_fn, get_swa_multi_avg_fn) and
copies the buffers when use_buffers is False. update_parameters below
restates torch 2.x's (torch/optim/swa_utils.py) with torch 1.13's own
operations: on the CPU, _foreach_lerp_ with a Scalar weight is one lerp_ per
tensor, and the weight is what 2.x passes:
  - EMA: the Python float 1 - decay (the Scalar is converted to the dtype);
  - SWA: 1 / (n_averaged + 1) with n_averaged an int64 tensor, which
    torch's __rtruediv__ computes as a reciprocal in the default dtype, a
    0-d float32 tensor whatever the parameters' dtype; it reaches lerp_'s
    Scalar as its exact value (item()).
"""
import gzip
import json

import torch

STEPS = 20
PARAM_LENS = [37, 0, 1, 16, 33]
BUFFER_LENS = [5, 0, 19]
# Each param slice lives at its own scale, so that the relative tolerance
# meets values far from 1 in both directions.
PARAM_SCALES = [1.0, 1.0, 300.0, 1e-3, 20.0]
BUFFER_SCALES = [4.0, 1.0, 0.05]


def lerp(a, c, weight):
    # One tensor's lerp_ (../torch-averaging-lowp's script replaces it).
    a.lerp_(c, weight)


def ema_multi_avg_fn(decay):
    # torch 2.x: torch._foreach_lerp_(ema_param_list, current_param_list, 1 - decay)
    def update(averaged, current, n_averaged):
        for a, c in zip(averaged, current):
            lerp(a, c, 1 - decay)

    return update


def swa_multi_avg_fn():
    # torch 2.x: torch._foreach_lerp_(averaged, current, 1 / (num_averaged + 1))
    def update(averaged, current, n_averaged):
        weight = 1 / (n_averaged + 1)
        assert weight.dtype == torch.float32 and weight.dim() == 0
        for a, c in zip(averaged, current):
            lerp(a, c, weight.item())

    return update


class Averaged:
    """torch 2.x's AveragedModel over lists of tensors: update_parameters."""

    def __init__(self, params, buffers, multi_avg_fn, use_buffers):
        self.params = [p.clone() for p in params]  # deepcopy(model)
        self.buffers = [b.clone() for b in buffers]
        self.n_averaged = torch.tensor(0, dtype=torch.long)
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    @torch.no_grad()
    def update_parameters(self, params, buffers):
        self_param = self.params + (self.buffers if self.use_buffers else [])
        model_param = params + (buffers if self.use_buffers else [])
        if self.n_averaged == 0:
            for a, m in zip(self_param, model_param):
                a.copy_(m)
        if self.n_averaged > 0:
            self.multi_avg_fn(self_param, model_param, self.n_averaged)
        if not self.use_buffers:
            for a, m in zip(self.buffers, buffers):
                a.copy_(m)
        self.n_averaged += 1


def trajectory(dtype, seed):
    """The model at construction and after each of STEPS training steps: a
    noisy descent, so that the average lags behind the model."""
    g = torch.Generator().manual_seed(seed)

    def walk(lens, scales):
        start = [torch.randn(n, generator=g, dtype=torch.float64) * s for n, s in zip(lens, scales)]
        rows, cur = [], start
        for _ in range(STEPS):
            cur = [c * 0.97 + torch.randn(c.shape, generator=g, dtype=torch.float64) * s * 0.1
                   for c, s in zip(cur, scales)]
            rows.append(cur)
        cast = lambda ts: [t.to(dtype) for t in ts]
        return cast(start), [cast(r) for r in rows]

    params0, params = walk(PARAM_LENS, PARAM_SCALES)
    buffers0, buffers = walk(BUFFER_LENS, BUFFER_SCALES)
    return params0, params, buffers0, buffers


def as_lists(ts):
    return [t.tolist() for t in ts]


CONFIGS = [
    # name, average, decay, use_buffers
    ("ema_0.999", "ema", 0.999, False),
    ("ema_0.9_use_buffers", "ema", 0.9, True),
    ("ema_0.5", "ema", 0.5, False),  # weight 0.5: lerp's second form
    ("ema_0.25", "ema", 0.25, False),  # weight 0.75
    ("ema_0", "ema", 0.0, False),  # weight 1: the model itself
    ("ema_1", "ema", 1.0, False),  # weight 0: the first copy forever
    ("swa", "swa", None, False),
    ("swa_use_buffers", "swa", None, True),
]


# The dtypes recorded, by their names in the files, and the note on the
# torch that recorded them (../torch-averaging-lowp's script sets its own).
DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}
TORCH_NOTE = " restating torch 2.x's swa_utils (lerp)"


def record(name, average, decay, use_buffers, dtype, seed):
    fn = ema_multi_avg_fn(decay) if average == "ema" else swa_multi_avg_fn()
    params0, params, buffers0, buffers = trajectory(dtype, seed)
    avg = Averaged(params0, buffers0, fn, use_buffers)
    averaged_params, averaged_buffers = [], []
    for s in range(STEPS):
        avg.update_parameters(params[s], buffers[s])
        averaged_params.append(as_lists(avg.params))
        averaged_buffers.append(as_lists(avg.buffers))
    dtname = DTYPE_NAMES[dtype]
    out = {
        "name": name,
        "torch": torch.__version__ + TORCH_NOTE,
        "dtype": dtname,
        "average": average,
        "use_buffers": use_buffers,
        "steps": STEPS,
        "params0": as_lists(params0),
        "buffers0": as_lists(buffers0),
        "params": [as_lists(r) for r in params],
        "buffers": [as_lists(r) for r in buffers],
        "averaged_params": averaged_params,
        "averaged_buffers": averaged_buffers,
        "n_averaged": int(avg.n_averaged),
    }
    if decay is not None:
        out["decay"] = decay
    path = f"{name}_{dtname}.json.gz"
    # mtime 0: the same bytes on every run.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(json.dumps(out, separators=(",", ":")).encode())


def main():
    for k, (name, average, decay, use_buffers) in enumerate(CONFIGS):
        for dtype in (torch.float32, torch.float64):
            record(name, average, decay, use_buffers, dtype, seed=1000 + k)


if __name__ == "__main__":
    main()
