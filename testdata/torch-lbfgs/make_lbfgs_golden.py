"""Extra golden runs of torch 1.13's LBFGS on the Rosenbrock function, in the
format of testdata/torch-matrix (see its README), for the branches the public
files do not reach: a history that evicts, max_eval, the tolerances, other
learning rates and lengths.

torch computes x.dot(y) with the BLAS it was built with. testdata/torch-matrix
was recorded with a BLAS whose dot adds the rounded products one after the
other in the dtype (the reference BLAS); OpenBLAS accumulates float32 in double
and vectorizes above 16 elements. To record the same arithmetic on any
machine, this script replaces Tensor.dot by that sequential dot; everything
else is torch's own code.

Run with /usr/bin/python3 (Debian's python3-torch 1.13.1) from the repository
root: python3 testdata/torch-lbfgs/make_lbfgs_golden.py
"""
import gzip
import json

import numpy as np
import torch

_dot = torch.Tensor.dot


def seq_dot(a, b):
    np_t = np.float32 if a.dtype == torch.float32 else np.float64
    acc = np_t(0)
    for u, v in zip(a.tolist(), b.tolist()):
        acc = np_t(acc + np_t(np_t(u) * np_t(v)))
    return torch.tensor(float(acc), dtype=a.dtype)


torch.Tensor.dot = seq_dot

CASES = [
    # name, n, seed, steps, hyper
    ("lbfgs_evict", 37, 1, 6, dict(lr=0.5, max_iter=7, max_eval=9, history_size=2)),
    ("lbfgs_tol", 16, 2, 5, dict(lr=1, max_iter=30, tolerance_grad=1e-3, tolerance_change=1e-4, history_size=4)),
    ("lbfgs_wolfe_evict", 23, 3, 6, dict(lr=0.8, max_iter=15, max_eval=30, history_size=3, line_search_fn="strong_wolfe")),
    ("lbfgs_wolfe_extrapolate", 12, 5, 4, dict(lr=1e-3, max_iter=10, history_size=6, line_search_fn="strong_wolfe")),
    ("lbfgs_wolfe_tinylr", 8, 6, 3, dict(lr=1e-20, max_iter=4, max_eval=60, history_size=2, line_search_fn="strong_wolfe")),
    # Found by a search over seeds for the line search's rarer branches (noted
    # after each): scale is the width of the uniform start around 0.
    ("lbfgs_wolfe_zoom", 10, 776, 3, dict(lr=10, max_iter=10, history_size=5, line_search_fn="strong_wolfe", tolerance_change=1e-12), 10),  # insufficient progress, old high becomes low
    ("lbfgs_wolfe_ascent", 3, 773, 3, dict(lr=1, max_iter=40, history_size=5, line_search_fn="strong_wolfe"), 10),  # gtd_new >= 0 brackets, ys <= 1e-10
    ("lbfgs_wolfe_cubic", 17, 266, 3, dict(lr=1, max_iter=40, history_size=1, line_search_fn="strong_wolfe"), 10),  # d2_square < 0
    ("lbfgs_wolfe_low", 2, 626, 3, dict(lr=10, max_iter=20, history_size=2, line_search_fn="strong_wolfe", tolerance_change=1e-12), 4),  # t moved up from the bracket's low end
    ("lbfgs_wolfe_fprev", 5, 157, 3, dict(lr=0.001, max_iter=40, history_size=1, line_search_fn="strong_wolfe", tolerance_change=1e-12), 4),  # f_new >= f_prev
    ("lbfgs_wolfe_tiny", 3, 582, 4, dict(lr=1, max_iter=40, history_size=2, line_search_fn="strong_wolfe", tolerance_change=0.0, tolerance_grad=0.0), 4),  # bracket below 1e-9, d*t = 0
    # On a linear function the search extrapolates until its 25 evaluations
    # run out (max_ls).
    ("lbfgs_wolfe_linear", 6, 9, 2, dict(lr=1, max_iter=3, history_size=3, line_search_fn="strong_wolfe"), 4, "linear"),
    ("lbfgs_wolfe_tol", 10, 4, 5, dict(max_iter=40, tolerance_grad=1e-5, tolerance_change=1e-7, history_size=100, line_search_fn="strong_wolfe")),
]


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


OBJECTIVES = {
    "rosenbrock": ("rosenbrock: sum(100 (x[i+1]-x[i]^2)^2 + (1-x[i])^2)", lambda x: rosenbrock(x)),
    "linear": ("linear: -sum(x)", lambda x: -x.sum()),
}

for name, n, seed, steps, hyper, *more in CASES:
    scale = more[0] if more else 4
    objective, fn = OBJECTIVES[more[1] if len(more) > 1 else "rosenbrock"]
    g = torch.Generator().manual_seed(seed)
    p0 = (torch.rand(n, generator=g, dtype=torch.float64) * scale - scale / 2).tolist()
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor(p0, dtype=dtype).requires_grad_()
        opt = torch.optim.LBFGS([x], **hyper)
        calls = [0]

        def closure():
            calls[0] += 1
            opt.zero_grad()
            loss = fn(x)
            loss.backward()
            return loss

        out = dict(name=name, optimizer="LBFGS", dtype=str(dtype)[6:], n=n,
                   objective=objective,
                   hyper=hyper, params0=x.detach().tolist(), params=[], losses=[], evaluations=[],
                   torch=torch.__version__, dot="sequential in dtype")
        for s in range(steps):
            calls[0] = 0
            loss = opt.step(closure)
            out["params"].append(x.detach().tolist())
            out["losses"].append(float(loss))
            out["evaluations"].append(calls[0])
        path = f"testdata/torch-lbfgs/{name}_{out['dtype']}.json.gz"
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(json.dumps(out).encode())
        print(path, out["evaluations"], out["losses"][-1])
