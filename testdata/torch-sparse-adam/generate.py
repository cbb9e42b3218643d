"""Records torch 1.13's SparseAdam for TestSparseAdamTorch*: runs with
repeated rows, and checkpoints in torch's layout with the steps after them.

Run with torch 1.13.1 (Debian's python3-torch), from this directory:

    /usr/bin/python3 generate.py

The Go tests only read the files; they never run this. See README.md.
"""
import gzip
import json
import random
import struct

import torch

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
# safetensors' Dtype enum order (tensor.rs), which its writer sorts by, descending.
ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]


def save_file(tensors, filename, metadata=None):
    """safetensors 0.4's serialize_file, byte for byte (as ../torch-training/generate.py)."""
    items = sorted(tensors.items(), key=lambda kv: (-ORDER.index(DTYPES[kv[1].dtype]), kv[0]))
    header, data, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in items:
        b = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        data.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(filename, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in data:
            f.write(b)


def dname(dtype):
    return str(dtype).split(".")[-1]


def sparse_grad(shape, rows, dtype):
    vals = torch.randn(len(rows), shape[1], dtype=dtype) * torch.exp(torch.randn(len(rows), 1, dtype=dtype) * 3)
    g = torch.sparse_coo_tensor(torch.tensor(rows, dtype=torch.long).reshape(1, -1), vals, shape)
    return g, vals


def m3killer(n):
    """Musser's median-of-3 killer sequence of even length n, which drives
    libstdc++'s introsort into its heapsort."""
    k, a = n // 2, [0] * n
    for i in range(1, k + 1):
        if i % 2 == 1:
            a[i - 1], a[i] = i, k + i
        a[k + i - 1] = 2 * i
    return a


def repeated(dtype, steps=40):
    """Gradients with repeated rows in any order, of 1 to 300 entries: torch
    coalesces them, summing each row's values in the order of its unstable
    sort. The first two steps' rows are a median-of-3 killer sequence and an
    organ pipe, with repeats, which reach the sort's heapsort."""
    torch.manual_seed(3)
    random.seed(3)
    shape = (70, 3)
    hyper = {"lr": 0.001}
    p = torch.nn.Parameter(torch.randn(*shape, dtype=dtype))
    opt = torch.optim.SparseAdam([p], **hyper)
    rec = dict(name="repeated_" + dname(dtype), optimizer="SparseAdam", dtype=dname(dtype), shape=list(shape), hyper=hyper,
               params0=p.detach().flatten().tolist(), rows=[], grads=[], params=[])
    for s in range(steps):
        if s == 0:
            rows = [x // 4 for x in m3killer(256)]
        elif s == 1:
            rows = [x // 8 for x in list(range(512)) + list(range(512, 0, -1))]
        else:
            rows = [random.randrange(random.choice([5, 20, shape[0]])) for _ in range(random.randint(1, 300))]
        p.grad, vals = sparse_grad(shape, rows, dtype)
        opt.step()
        rec["rows"].append(rows)
        rec["grads"].append(vals.flatten().tolist())
        rec["params"].append(p.detach().flatten().tolist())
    with gzip.open(rec["name"] + ".json.gz", "wt") as f:
        json.dump(rec, f)


def resume(dtype, before=7, after=8):
    """Two tables: the first has a gradient at every step, the second only
    after the checkpoint (torch has no state for it in the file)."""
    torch.manual_seed(5)
    random.seed(5)
    shapes = [(20, 4), (9, 3)]
    hyper = {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-7}
    ps = [torch.nn.Parameter(torch.randn(*s, dtype=dtype)) for s in shapes]
    opt = torch.optim.SparseAdam(ps, **hyper)

    def step(tables):
        rows_s, grads_s = [], []
        for i, (p, s) in enumerate(zip(ps, shapes)):
            if i in tables:
                rows = sorted(random.sample(range(s[0]), random.randint(1, s[0])))
                p.grad, vals = sparse_grad(s, rows, dtype)
                rows_s.append(rows)
                grads_s.append(vals.flatten().tolist())
            else:
                p.grad = None
                rows_s.append([])
                grads_s.append([])
        opt.step()
        return rows_s, grads_s

    for _ in range(before):
        step({0})
    sd = opt.state_dict()
    tensors = {}
    for index, st in sd["state"].items():
        for key, v in st.items():
            # SparseAdam's step is a Python int: a 0-d int64 tensor here.
            tensors["state.%d.%s" % (index, key)] = v if torch.is_tensor(v) else torch.tensor(v, dtype=torch.int64)
    name = "resume_" + dname(dtype)
    save_file(tensors, name + ".safetensors",
              {"param_groups": json.dumps(sd["param_groups"]), "torch": torch.__version__, "optimizer": "SparseAdam"})
    rec = dict(name=name, optimizer="SparseAdam", dtype=dname(dtype), shapes=[list(s) for s in shapes], hyper=hyper,
               torch=torch.__version__, checkpoint_step=before,
               params_at_checkpoint=[p.detach().flatten().tolist() for p in ps], rows=[], grads=[], params=[])
    for _ in range(after):
        rows_s, grads_s = step({0, 1})
        rec["rows"].append(rows_s)
        rec["grads"].append(grads_s)
        rec["params"].append([p.detach().flatten().tolist() for p in ps])
    with gzip.open(name + ".json.gz", "wt") as f:
        json.dump(rec, f)


for dt in (torch.float32, torch.float64):
    repeated(dt)
    resume(dt)
