"""Records torch.optim.swa_utils.SWALR schedules for schedule's tests.

Run with torch 1.13.1 (Debian's python3-torch): /usr/bin/python3 record.py
It writes one <name>.json per configuration here, in the format of
../torch-schedules/README.md with two optional fields (see README.md):
"first", another scheduler built before SWALR on the same optimizer, and
"first_steps", how many of the steps are its. The Go tests only read the
JSON files; they never run this.
"""
import json

import torch
from torch.optim import lr_scheduler
from torch.optim.swa_utils import SWALR

LAMBDAS = {"0.98": lambda epoch: 0.98}


def build(opt, cls, args):
    """The scheduler [cls, args] names, its inner ones first, as user code builds them."""
    kw = dict(args)
    if cls == "SWALR":
        return SWALR(opt, **kw)
    if "lr_lambda" in kw:
        kw["lr_lambda"] = LAMBDAS[kw["lr_lambda"]]
    if "schedulers" in kw:
        kw["schedulers"] = [build(opt, c, a) for c, a in kw["schedulers"]]
    if cls == "ChainedScheduler":
        return lr_scheduler.ChainedScheduler(kw["schedulers"])
    return getattr(lr_scheduler, cls)(opt, **kw)


def record(name, optimizer, lrs, cls, args, steps=40, first=None, first_steps=0):
    params = [torch.zeros(1, requires_grad=True) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    if optimizer == "SGD":
        opt = torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
        momentum = lambda g: g["momentum"]
    else:
        opt = torch.optim.Adam(groups, lr=lrs[0], betas=(0.9, 0.999))
        momentum = lambda g: g["betas"][0]
    # torch's SWA recipe: the schedulers are built together at the start;
    # the first one steps until the SWA phase, SWALR from then on.
    before = build(opt, *first) if first else None
    sched = build(opt, cls, args)
    lr = [[g["lr"] for g in opt.param_groups]]
    mom = [[momentum(g) for g in opt.param_groups]]
    for k in range(steps):
        opt.step()
        (before if k < first_steps else sched).step()
        lr.append([g["lr"] for g in opt.param_groups])
        mom.append([momentum(g) for g in opt.param_groups])
    out = {
        "name": name, "torch": torch.__version__, "optimizer": optimizer, "group_lrs": lrs,
        "group_momentum": 0.9, "scheduler": cls, "args": args, "first": first,
        "first_steps": first_steps, "steps": steps, "metrics": None, "lr": lr, "momentum": mom,
    }
    with open(name + ".json", "w") as f:
        json.dump(out, f)


record("swalr_cos_default", "SGD", [0.1], "SWALR", {"swa_lr": 0.05})
record("swalr_cos_5_2groups", "Adam", [0.01, 0.001], "SWALR",
       {"swa_lr": [0.002, 0.0005], "anneal_epochs": 5, "anneal_strategy": "cos"})
record("swalr_linear_5_2groups", "SGD", [0.1, 0.03], "SWALR",
       {"swa_lr": [0.01, 0.05], "anneal_epochs": 5, "anneal_strategy": "linear"})
record("swalr_cos_0", "SGD", [0.1], "SWALR", {"swa_lr": 0.02, "anneal_epochs": 0, "anneal_strategy": "cos"})
record("swalr_linear_0", "Adam", [0.001, 0.002], "SWALR",
       {"swa_lr": 0.0003, "anneal_epochs": 0, "anneal_strategy": "linear"})
record("swalr_cos_1", "SGD", [0.1], "SWALR", {"swa_lr": 0.02, "anneal_epochs": 1, "anneal_strategy": "cos"})
record("swalr_linear_1", "SGD", [0.1], "SWALR", {"swa_lr": 0.02, "anneal_epochs": 1, "anneal_strategy": "linear"})
record("swalr_cos_up", "SGD", [0.01], "SWALR", {"swa_lr": 0.1, "anneal_epochs": 7, "anneal_strategy": "cos"})
record("swalr_after_cosine", "SGD", [0.1, 0.01], "SWALR",
       {"swa_lr": 0.005, "anneal_epochs": 5, "anneal_strategy": "cos"},
       steps=50, first=["CosineAnnealingLR", {"T_max": 40}], first_steps=25)
record("swalr_after_multiplicative", "Adam", [0.003], "SWALR",
       {"swa_lr": 0.0005, "anneal_epochs": 20, "anneal_strategy": "linear"},
       steps=60, first=["MultiplicativeLR", {"lr_lambda": "0.98"}], first_steps=30)
record("swalr_in_sequential", "SGD", [0.1], "SequentialLR",
       {"schedulers": [["CosineAnnealingLR", {"T_max": 20}],
                       ["SWALR", {"swa_lr": 0.01, "anneal_epochs": 6, "anneal_strategy": "cos"}]],
        "milestones": [15]})
record("swalr_chained", "SGD", [0.1], "ChainedScheduler",
       {"schedulers": [["ExponentialLR", {"gamma": 0.95}],
                       ["SWALR", {"swa_lr": 0.01, "anneal_epochs": 4, "anneal_strategy": "linear"}]]})
