"""A torch LBFGS checkpoint in the layout LBFGSOptimizer.Load reads (see
lbfgs_checkpoint.go), and torch's next step from it.

Runs torch 1.13's LBFGS on the Rosenbrock function for a few steps, writes its
state_dict as a safetensors file (state.0.<key>: the lists old_dirs, old_stps,
ro and al stacked, al without its None entries, t and prev_loss as float64,
func_evals and n_iter as int64; param_groups in the metadata), then takes one
more step and records the parameters, the loss and the closure calls in a
JSON file. Tensor.dot is the sequential dot of make_lbfgs_golden.py.

Run with /usr/bin/python3 from the repository root:
python3 testdata/torch-lbfgs/make_lbfgs_checkpoint.py
"""
import gzip
import json
import struct

import numpy as np
import torch


def seq_dot(a, b):
    np_t = np.float32 if a.dtype == torch.float32 else np.float64
    acc = np_t(0)
    for u, v in zip(a.tolist(), b.tolist()):
        acc = np_t(acc + np_t(np_t(u) * np_t(v)))
    return torch.tensor(float(acc), dtype=a.dtype)


torch.Tensor.dot = seq_dot


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def save(path, state, groups, dtype):
    dt = {torch.float32: "F32", torch.float64: "F64"}[dtype]
    tensors = {}

    def put(key, x, st):
        tensors["state.0." + key] = (x.contiguous(), st)

    for key, v in state.items():
        if key in ("func_evals", "n_iter"):
            put(key, torch.tensor(v, dtype=torch.int64), "I64")
        elif key in ("t", "prev_loss"):
            put(key, torch.tensor(float(v), dtype=torch.float64), "F64")
        elif key in ("old_dirs", "old_stps"):
            x = torch.stack(v) if v else torch.zeros(0, state["d"].numel(), dtype=dtype)
            put(key, x, dt)
        elif key in ("ro", "al"):
            x = [e for e in v if e is not None]
            put(key, torch.stack(x) if x else torch.zeros(0, dtype=dtype), dt)
        elif key == "H_diag":
            put(key, torch.tensor(float(v), dtype=dtype), dt)
        else:
            put(key, v, dt)
    header, data, off = {"__metadata__": {"param_groups": json.dumps(groups)}}, b"", 0
    for name, (x, st) in tensors.items():
        raw = x.numpy().tobytes()
        header[name] = {"dtype": st, "shape": list(x.shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    js = json.dumps(header).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + data)


for dtype in (torch.float32, torch.float64):
    g = torch.Generator().manual_seed(7)
    p0 = (torch.rand(12, generator=g, dtype=torch.float64) * 4 - 2).tolist()
    # two parameters, to check the flat layout
    a = torch.tensor(p0[:5], dtype=dtype).requires_grad_()
    b = torch.tensor(p0[5:], dtype=dtype).requires_grad_()
    hyper = dict(lr=0.9, max_iter=6, history_size=4, line_search_fn="strong_wolfe")
    opt = torch.optim.LBFGS([a, b], **hyper)
    calls = [0]

    def closure():
        calls[0] += 1
        opt.zero_grad()
        loss = rosenbrock(torch.cat([a, b]))
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    name = str(dtype)[6:]
    sd = opt.state_dict()
    save(f"testdata/torch-lbfgs/checkpoint_{name}.safetensors", sd["state"][0], sd["param_groups"], dtype)
    before = torch.cat([a, b]).detach().tolist()
    calls[0] = 0
    loss = opt.step(closure)
    out = dict(dtype=name, hyper=hyper, split=5, params_before=before, params_after=torch.cat([a, b]).detach().tolist(),
               loss=float(loss), evaluations=calls[0], func_evals=opt.state[a]["func_evals"], n_iter=opt.state[a]["n_iter"])
    with gzip.GzipFile(f"testdata/torch-lbfgs/checkpoint_{name}.json.gz", "wb", mtime=0) as f:
        f.write(json.dumps(out).encode())
    print(name, sorted(sd["state"][0].keys()), out["evaluations"], sd["param_groups"])
