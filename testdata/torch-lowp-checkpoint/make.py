# Writes and checks the files of this folder with torch 1.13.1 (see README.md):
#   python3 make.py    # inputs.json (once), torch_adam_bf16.{safetensors,json}; then, if
#                      # go_adam_bf16.safetensors is there, loads it into torch.optim.Adam.
import json, os, struct, torch

here = os.path.dirname(os.path.abspath(__file__))
DT = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16, "F16": torch.float16}
NAME = {v: k for k, v in DT.items()}


def bf16(bits):
    return torch.tensor([b - 65536 if b >= 32768 else b for b in bits], dtype=torch.int16).view(torch.bfloat16)


def bits(t):
    return [v & 0xFFFF for v in t.detach().contiguous().view(torch.int16).tolist()]


def load_simdoptim(path, optimizer):  # checkpoint.go's recipe, with BF16 and F16
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header, data = json.loads(f.read(n)), f.read()
    meta = header.pop("__metadata__")
    state = {}
    for name, t in header.items():
        _, index, key = name.split(".")
        begin, end = t["data_offsets"]
        x = torch.frombuffer(bytearray(data[begin:end]), dtype=DT[t["dtype"]]).reshape(t["shape"])
        state.setdefault(int(index), {})[key] = x
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    return meta


def save_torch(path, optimizer):  # the recipe's inverse: torch's state_dict as safetensors
    sd = optimizer.state_dict()
    header, blobs, off = {}, [], 0
    for index, s in sd["state"].items():
        for key, v in s.items():
            b = v.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            header[f"state.{index}.{key}"] = {"dtype": NAME[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
            blobs.append(b)
            off += len(b)
    meta = {"param_groups": json.dumps(sd["param_groups"]), "torch": torch.__version__.split("+")[0], "optimizer": type(optimizer).__name__}
    js = json.dumps({"__metadata__": meta, **header}).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + b"".join(blobs))


inputs_path = os.path.join(here, "inputs.json")
if not os.path.exists(inputs_path):
    g = torch.Generator().manual_seed(22)
    sizes = [7, 3]
    inputs = {
        "lr": 0.01,
        "init": [bits(torch.randn(n, generator=g).bfloat16()) for n in sizes],
        "grads": [[bits((0.1 * torch.randn(n, generator=g)).bfloat16()) for n in sizes] for _ in range(3)],
    }
    json.dump(inputs, open(inputs_path, "w"))
inputs = json.load(open(inputs_path))

# torch's run: 2 steps, its state_dict saved, a third step.
params = [torch.nn.Parameter(bf16(b)) for b in inputs["init"]]
opt = torch.optim.Adam(params, lr=inputs["lr"], foreach=False)
for s in range(2):
    for p, g in zip(params, inputs["grads"][s]):
        p.grad = bf16(g)
    opt.step()
save_torch(os.path.join(here, "torch_adam_bf16.safetensors"), opt)
out = {
    "params": [bits(p) for p in params],
    "exp_avg": [bits(opt.state[p]["exp_avg"]) for p in params],
    "exp_avg_sq": [bits(opt.state[p]["exp_avg_sq"]) for p in params],
}
for p, g in zip(params, inputs["grads"][2]):
    p.grad = bf16(g)
opt.step()
out["params_after"] = [bits(p) for p in params]
json.dump(out, open(os.path.join(here, "torch_adam_bf16.json"), "w"))
print("wrote torch_adam_bf16.safetensors and .json")

# Go's file (TestLowCheckpointTorchFiles writes it: the same inputs, 2 steps) in torch.
go_path = os.path.join(here, "go_adam_bf16.safetensors")
if os.path.exists(go_path):
    params = [torch.nn.Parameter(bf16(b)) for b in out["params"]]  # torch's, at step 2
    opt = torch.optim.Adam(params, lr=1.0, foreach=False)
    meta = load_simdoptim(go_path, opt)
    assert meta["optim.dtype"] == "BF16" and meta["optim.state_storage"] == "param", meta
    assert opt.param_groups[0]["lr"] == inputs["lr"]
    for i, p in enumerate(params):
        s = opt.state[p]
        assert set(s) == {"step", "exp_avg", "exp_avg_sq"}, s.keys()
        assert s["step"].dtype == torch.float32 and s["step"].shape == () and float(s["step"]) == 2
        for key in ("exp_avg", "exp_avg_sq"):
            assert s[key].dtype == torch.bfloat16 and s[key].shape == p.shape, (key, s[key])
            d = (s[key].float() - bf16(out[key][i]).float()).abs().max().item()
            print(f"param {i} {key}: Go's state - torch's: max |diff| {d:.3g} (torch {bf16(out[key][i]).float().abs().max().item():.3g} at most)")
    for p, g in zip(params, inputs["grads"][2]):
        p.grad = bf16(g)
    opt.step()
    for i, p in enumerate(params):
        want = bf16(out["params_after"][i]).float()
        print(f"param {i}: torch's step from Go's state vs from its own: max |diff| {(p.detach().float() - want).abs().max().item():.3g}, bits equal {bits(p) == out['params_after'][i]}")
    print("go_adam_bf16.safetensors loads in torch.optim.Adam over bfloat16 params, and steps")
