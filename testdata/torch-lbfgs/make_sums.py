"""torch 1.13's x.sum() and x.abs().sum() of vectors of many lengths, float32
and float64, for lbfgs.go's torchSum (torch's vectorized sum order): x[i] =
((i*7919) % 2001 - 1000) * 2^((i*31) % 20 - 10) / 3, computed in float64 and
rounded to the dtype, the same in Go. Run from the repository root with
/usr/bin/python3 testdata/torch-lbfgs/make_sums.py
"""
import gzip
import json

import torch

LENGTHS = list(range(1, 81)) + [127, 128, 129, 255, 256, 257, 1000, 4096, 5003, 20000, 32768]
out = []
for dtype in (torch.float32, torch.float64):
    for n in LENGTHS:
        x = torch.tensor([((i * 7919) % 2001 - 1000) * 2.0 ** ((i * 31) % 20 - 10) / 3 for i in range(n)], dtype=torch.float64).to(dtype)
        out.append(dict(dtype=str(dtype)[6:], n=n, sum=float(x.sum()), abs_sum=float(x.abs().sum())))
with gzip.GzipFile("testdata/torch-lbfgs/sums.json.gz", "wb", mtime=0) as f:
    f.write(json.dumps(dict(torch=torch.__version__, sums=out)).encode())
