"""Records extra torch.optim.lr_scheduler configurations for schedule's tests.

Run with torch 1.13.1 (Debian's python3-torch): /usr/bin/python3 record.py
It writes one <name>.json per configuration here, in the format of
../README.md. The Go tests only read the JSON files; they never run this.
"""
import json

import torch
from torch.optim import lr_scheduler as S

LAMBDAS = {
    "0.95**epoch": lambda epoch: 0.95 ** epoch,
    "0.9**epoch": lambda epoch: 0.9 ** epoch,
    "0.98": lambda epoch: 0.98,
}
SCALE_FNS = {"1/(1+0.1*x)": lambda x: 1 / (1 + 0.1 * x)}


def metrics(n):
    # A loss that improves, stalls, and improves again, with exact repeats.
    out = []
    for k in range(n):
        base = 1.0 / (1 + 0.05 * min(k, 30)) if k < 60 else 0.4 - 0.001 * (k - 60)
        out.append(base + (0.01 if k % 7 == 3 else 0.0))
    return out


def make(opt, cls, args):
    kw = dict(args)
    if "lr_lambda" in kw:
        fs = kw["lr_lambda"]
        kw["lr_lambda"] = [LAMBDAS[f] for f in fs] if isinstance(fs, list) else LAMBDAS[fs]
    if "scale_fn" in kw:
        kw["scale_fn"] = SCALE_FNS[kw["scale_fn"]]
    if cls in ("SequentialLR", "ChainedScheduler"):
        inner = [make(opt, c, a) for c, a in kw["schedulers"]]
        if cls == "ChainedScheduler":
            return S.ChainedScheduler(inner)
        return S.SequentialLR(opt, inner, milestones=kw["milestones"])
    return getattr(S, cls)(opt, **kw)


def record(name, optimizer, lrs, cls, args, steps=120, with_metrics=False):
    params = [[torch.zeros(1, requires_grad=True)] for _ in lrs]
    groups = [{"params": p, "lr": lr} for p, lr in zip(params, lrs)]
    if optimizer == "SGD":
        opt = torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
        mom = lambda g: g["momentum"]
    else:
        opt = torch.optim.Adam(groups, lr=lrs[0], betas=(0.9, 0.999))
        mom = lambda g: g["betas"][0]
    sched = make(opt, cls, args)
    ms = metrics(steps) if with_metrics else None
    lr_rows = [[g["lr"] for g in opt.param_groups]]
    mom_rows = [[mom(g) for g in opt.param_groups]]
    for k in range(steps):
        opt.step()
        if ms is not None:
            sched.step(ms[k])
        else:
            sched.step()
        lr_rows.append([g["lr"] for g in opt.param_groups])
        mom_rows.append([mom(g) for g in opt.param_groups])
    out = {
        "name": name, "torch": torch.__version__, "optimizer": optimizer,
        "group_lrs": lrs, "group_momentum": 0.9, "scheduler": cls, "args": args,
        "steps": steps, "metrics": ms, "lr": lr_rows, "momentum": mom_rows,
    }
    with open(name + ".json", "w") as f:
        json.dump(out, f)


record("step_default_gamma", "SGD", [0.1, 0.02], "StepLR", {"step_size": 3})
record("multistep_repeated", "SGD", [0.1], "MultiStepLR", {"milestones": [5, 5, 12, 40], "gamma": 0.5})
record("constant_default", "Adam", [0.001], "ConstantLR", {})
record("linear_decay", "SGD", [0.1, 0.05], "LinearLR", {"start_factor": 1.0, "end_factor": 0.2, "total_iters": 17})
record("exponential_2groups", "Adam", [0.003, 0.001], "ExponentialLR", {"gamma": 0.955})
record("polynomial_sqrt", "SGD", [0.1, 0.01], "PolynomialLR", {"total_iters": 30, "power": 0.5})
record("polynomial_default", "SGD", [0.1], "PolynomialLR", {})
record("cosine_periodic", "SGD", [0.1], "CosineAnnealingLR", {"T_max": 10, "eta_min": 0.002})
record("cosine_restarts_tmult3", "Adam", [0.001, 0.01], "CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 3, "eta_min": 1e-05})
record("cosine_restarts_tmult1", "SGD", [0.1], "CosineAnnealingWarmRestarts", {"T_0": 7})
record("lambda_per_group", "SGD", [0.1, 0.5], "LambdaLR", {"lr_lambda": ["0.95**epoch", "0.9**epoch"]})
record("cyclic_exp_range_2groups", "SGD", [0.1, 0.1], "CyclicLR",
       {"base_lr": [0.001, 0.0005], "max_lr": [0.1, 0.02], "step_size_up": 4, "step_size_down": 9,
        "mode": "exp_range", "gamma": 0.98, "base_momentum": [0.8, 0.85], "max_momentum": [0.9, 0.95]})
record("cyclic_scale_fn_cycle", "SGD", [0.01], "CyclicLR",
       {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 6, "scale_fn": "1/(1+0.1*x)", "scale_mode": "cycle"})
record("cyclic_scale_fn_iterations", "SGD", [0.01], "CyclicLR",
       {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5, "step_size_down": 3, "scale_fn": "1/(1+0.1*x)",
        "scale_mode": "iterations"})
record("cyclic_triangular2_adam_nomomentum", "Adam", [0.001], "CyclicLR",
       {"base_lr": 0.0001, "max_lr": 0.001, "step_size_up": 3, "mode": "triangular2", "cycle_momentum": False})
record("onecycle_cos_3phase_adam", "Adam", [0.001, 0.0001], "OneCycleLR",
       {"max_lr": [0.01, 0.002], "total_steps": 100, "pct_start": 0.35, "anneal_strategy": "cos",
        "three_phase": True, "base_momentum": 0.8, "max_momentum": 0.92}, steps=100)
record("onecycle_linear_nomomentum", "SGD", [0.1], "OneCycleLR",
       {"max_lr": 0.2, "total_steps": 90, "pct_start": 0.45, "anneal_strategy": "linear",
        "cycle_momentum": False, "div_factor": 10.0, "final_div_factor": 100.0}, steps=90)
record("onecycle_pct0", "SGD", [0.1], "OneCycleLR", {"max_lr": 0.1, "total_steps": 50, "pct_start": 0.0}, steps=50)
record("plateau_max_abs", "SGD", [0.1, 0.03], "ReduceLROnPlateau",
       {"mode": "max", "factor": 0.7, "patience": 2, "threshold": 0.001, "threshold_mode": "abs",
        "cooldown": 1, "min_lr": [0.001, 0.01]}, with_metrics=True)
record("plateau_min_abs_eps", "Adam", [0.001], "ReduceLROnPlateau",
       {"mode": "min", "factor": 0.5, "patience": 0, "threshold_mode": "abs", "min_lr": 0.0001, "eps": 1e-05},
       with_metrics=True)
record("plateau_default", "SGD", [0.1], "ReduceLROnPlateau", {}, with_metrics=True)
record("sequential_three", "SGD", [0.1, 0.01], "SequentialLR",
       {"schedulers": [["ConstantLR", {"factor": 0.5, "total_iters": 3}],
                       ["MultiStepLR", {"milestones": [0, 8, 30], "gamma": 0.5}],
                       ["PolynomialLR", {"total_iters": 20, "power": 2.0}]],
        "milestones": [6, 40]})
record("sequential_restarts", "SGD", [0.1], "SequentialLR",
       {"schedulers": [["LinearLR", {"start_factor": 0.1, "total_iters": 4}],
                       ["CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 2, "eta_min": 0.001}],
                       ["ExponentialLR", {"gamma": 0.9}]],
        "milestones": [4, 50]})
record("sequential_cosine_etamin", "Adam", [0.001], "SequentialLR",
       {"schedulers": [["MultiplicativeLR", {"lr_lambda": "0.98"}],
                       ["CosineAnnealingLR", {"T_max": 20, "eta_min": 3e-05}],
                       ["StepLR", {"step_size": 5, "gamma": 0.5}],
                       ["LambdaLR", {"lr_lambda": "0.9**epoch"}]],
        "milestones": [3, 30, 60]})
record("sequential_cyclic", "SGD", [0.1], "SequentialLR",
       {"schedulers": [["LinearLR", {"start_factor": 0.5, "total_iters": 5}],
                       ["CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}]],
        "milestones": [10]})
record("chained_three", "SGD", [0.1], "ChainedScheduler",
       {"schedulers": [["MultiplicativeLR", {"lr_lambda": "0.98"}],
                       ["MultiStepLR", {"milestones": [10, 20], "gamma": 0.5}],
                       ["ExponentialLR", {"gamma": 0.99}]]})
record("chained_sequential", "Adam", [0.001], "ChainedScheduler",
       {"schedulers": [["SequentialLR", {"schedulers": [["LinearLR", {"start_factor": 0.2, "total_iters": 5}],
                                                        ["ExponentialLR", {"gamma": 0.97}]],
                                         "milestones": [5]}],
                       ["StepLR", {"step_size": 25, "gamma": 0.5}]]})
