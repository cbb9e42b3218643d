"""Writes torch models' state_dicts as safetensors files for Training's tests,
and reads a training file of Go's back into torch.

Run with torch 1.13.1 (Debian's python3-torch), from this directory:

    /usr/bin/python3 generate.py              # writes the files described in README.md
    /usr/bin/python3 generate.py --read F     # loads the Go-written training file F into torch

The files are written with safetensors' own save_file when the safetensors
package is installed. Where it is not (it was not on the machine that recorded
these files: no Debian package, no network), save_file below writes them: it
reimplements safetensors 0.4's serialize_file byte for byte (tensors sorted by
dtype, largest alignment first, then by name; data contiguous in that order; the
header as compact JSON, "__metadata__" first when there is metadata, each tensor's
"dtype", "shape" and "data_offsets" in that order; padded with spaces to a
multiple of 8 bytes). The Go tests only read the files; they never run this.
"""
import json
import struct
import sys
from collections import OrderedDict

import torch

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.bfloat16: "BF16", torch.float16: "F16"}
# safetensors' Dtype enum order (tensor.rs), which its writer sorts by, descending.
ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]

try:
    from safetensors.torch import save_file
except ImportError:

    def save_file(tensors, filename, metadata=None):
        items = sorted(tensors.items(), key=lambda kv: (-ORDER.index(DTYPES[kv[1].dtype]), kv[0]))
        header, data, offset = {}, [], 0
        if metadata is not None:
            header["__metadata__"] = metadata
        for name, t in items:
            dtype, t = DTYPES[t.dtype], t.contiguous()
            if t.dtype == torch.bfloat16:  # which numpy lacks: its bits
                t = t.view(torch.int16)
            b = t.numpy().tobytes()  # little-endian on the machines torch runs on
            header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
            data.append(b)
            offset += len(b)
        js = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        js += b" " * ((8 - len(js) % 8) % 8)
        with open(filename, "wb") as f:
            f.write(struct.pack("<Q", len(js)))
            f.write(js)
            for b in data:
                f.write(b)


def model(dtype):
    """An nn.Linear and an nn.LayerNorm with weights from a fixed seed."""
    torch.manual_seed(20)
    m = torch.nn.Sequential(OrderedDict(fc=torch.nn.Linear(4, 3), norm=torch.nn.LayerNorm(3)))
    with torch.no_grad():
        m.norm.weight.uniform_(0.5, 1.5)
        m.norm.bias.uniform_(-0.1, 0.1)
    return m.to(dtype)


def values(t):
    """A tensor's values as exact hexadecimal floats, in row-major order."""
    return [float(x).hex() for x in t.detach().flatten().tolist()]


def train(m, opt, dtype, steps, seed, after_step=lambda: None):
    """Takes steps steps of opt on a mean squared error over random data."""
    torch.manual_seed(seed)
    x, y = torch.randn(5, 4, dtype=dtype), torch.randn(5, 3, dtype=dtype)
    for _ in range(steps):
        opt.zero_grad()
        ((m(x) - y) ** 2).mean().backward()
        opt.step()
        after_step()


def record(name, dtype, steps):
    """Writes <name>.safetensors: the model's state_dict, and after steps
    AdamW steps also the optimizer's state_dict under optimizer.; and
    <name>.json: what the file holds, exactly."""
    m = model(dtype)
    tensors = OrderedDict(m.state_dict())
    out = {"torch": torch.__version__, "dtype": str(dtype).replace("torch.", ""),
           "model": [{"name": k, "shape": list(v.shape), "values": values(v)} for k, v in tensors.items()]}
    metadata = None
    if steps:
        opt = torch.optim.AdamW(m.parameters(), lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, foreach=False)
        train(m, opt, dtype, steps, 21)
        tensors = OrderedDict(m.state_dict())
        out["model"] = [{"name": k, "shape": list(v.shape), "values": values(v)} for k, v in tensors.items()]
        sd = opt.state_dict()
        state = []
        for i, st in sd["state"].items():
            for key, v in st.items():
                tensors[f"optimizer.state.{i}.{key}"] = v
                state.append({"param": i, "key": key, "shape": list(v.shape), "values": values(v)})
        metadata = {"optimizer.param_groups": json.dumps(sd["param_groups"])}
        out["optimizer"] = {"class": "AdamW", "param_groups": sd["param_groups"], "state": state}
    save_file(dict(tensors), f"{name}.safetensors", metadata=metadata)
    with open(f"{name}.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def record_swa(name, dtype, steps):
    """Writes <name>.safetensors: the model's state_dict after steps SGD
    steps, and beside it the state_dict of a torch.optim.swa_utils
    AveragedModel updated after each step, under "averaged." (tensors
    averaged.module.<name>, and averaged.n_averaged, a 0-d int64 tensor);
    and <name>.json."""
    m = model(dtype)
    swa = torch.optim.swa_utils.AveragedModel(m)
    train(m, torch.optim.SGD(m.parameters(), lr=0.1), dtype, steps, 22, lambda: swa.update_parameters(m))
    tensors = OrderedDict(m.state_dict())
    averaged = swa.state_dict()
    for k, v in averaged.items():
        tensors["averaged." + k] = v
    out = {"torch": torch.__version__, "dtype": str(dtype).replace("torch.", ""),
           "model": [{"name": k, "shape": list(v.shape), "values": values(v)} for k, v in m.state_dict().items()],
           "averaged": {"n_averaged": int(averaged["n_averaged"]),
                        "tensors": [{"name": k[len("module."):], "shape": list(v.shape), "values": values(v)}
                                    for k, v in averaged.items() if k.startswith("module.")]}}
    save_file(dict(tensors), f"{name}.safetensors")
    with open(f"{name}.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def read_training(path, m, optimizer, averaged=None):
    """Loads a training file written by Go's Training.Save into model m,
    optimizer (the same torch parameters, in the same groups) and, if not
    None, the swa_utils.AveragedModel averaged, with only torch: the few
    lines README.md shows. Returns the metadata."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header, data = json.loads(f.read(n)), f.read()
    meta = header.pop("__metadata__")
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        dtype = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64,
                 "BF16": torch.bfloat16, "F16": torch.float16}[t["dtype"]]
        tensors[name] = torch.frombuffer(bytearray(data[b:e]), dtype=dtype).reshape(t["shape"])
    m.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(("optimizer.", "averaged.", "extra."))})
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state = {}
    for k, v in tensors.items():
        if k.startswith("optimizer.state."):
            i, key = k[len("optimizer.state."):].split(".", 1)
            # Go saves state flat; torch wants each parameter's shape.
            state.setdefault(int(i), {})[key] = v if v.dim() == 0 else v.view_as(params[int(i)])
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["optimizer.param_groups"])})
    if averaged is not None:
        averaged.load_state_dict({k[len("averaged."):]: v for k, v in tensors.items() if k.startswith("averaged.")})
    return meta


def check_read(path):
    """Loads a Go-written training file of this model (with AdamW, and an
    averaged model if it has one) into torch, takes one more step, and
    prints what it loaded."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    dtype = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16}[header["__metadata__"]["optim.dtype"]]
    m = model(dtype)
    opt = torch.optim.AdamW(m.parameters(), foreach=False)
    swa = torch.optim.swa_utils.AveragedModel(m) if "averaged.n_averaged" in header else None
    meta = read_training(path, m, opt, swa)
    print("model:", {k: list(v.shape) for k, v in m.state_dict().items()})
    print("optimizer: lr", opt.param_groups[0]["lr"], "steps", [float(s["step"]) for s in opt.state.values()])
    if swa is not None:
        print("averaged: n_averaged", int(swa.n_averaged), {k: list(v.shape) for k, v in swa.state_dict().items()})
    print("metadata keys:", sorted(meta))
    x = torch.ones(2, 4, dtype=dtype)
    opt.zero_grad()
    m(x).sum().backward()
    opt.step()
    print("one more step: ok")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--read":
        check_read(sys.argv[2])
    else:
        # torch 1.13's CPU Linear has no float16 kernels: bfloat16 is the
        # 16-bit model.
        for dtype in (torch.float32, torch.float64, torch.bfloat16):
            suffix = str(dtype).replace("torch.", "")
            record(f"model_{suffix}", dtype, 0)
            record(f"model_adamw_{suffix}", dtype, 3)
            record_swa(f"model_swa_{suffix}", dtype, 4)
