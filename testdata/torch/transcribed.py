"""Records NAdam and RAdam trajectories with torch 2.11's semantics.

Torch 1.13.1 (the torch available here) lacks NAdam's and RAdam's maximize
and decoupled_weight_decay, and its NAdam multiplies mu twice into
mu_product_next (fixed in torch 2.0). This script restates the update of
torch 2.11's single-tensor NAdam and RAdam (torch/optim/nadam.py and
radam.py, foreach=False, capturable=False, differentiable=False) step for
step with torch 1.13.1's tensor operations, so every elementwise operation
is torch's own kernel, and runs it on the inputs of the recorded 1.13 files.

With bug113=True the NAdam restatement uses 1.13's mu_product_next; it then
reproduces the recorded 1.13 files exactly, which checks the restatement and
the reading of the inputs.

Run with Debian's python3-torch: /usr/bin/python3 transcribed.py SHARED_DIR
"""
import gzip
import json
import os
import sys

import torch


def nadam(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
          momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False, bug113=False):
    beta1, beta2 = betas
    exp_avg, exp_avg_sq = torch.zeros_like(p), torch.zeros_like(p)
    mu_product, step_t = torch.tensor(1.0), torch.tensor(0.0)
    out = []
    for grad in grads:
        grad = -grad if maximize else grad
        step_t += 1
        step = step_t.item()
        bias_correction2 = 1 - beta2 ** step
        if weight_decay != 0:
            if decoupled_weight_decay:
                p.mul_(1 - lr * weight_decay)
            else:
                grad = grad.add(p, alpha=weight_decay)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product *= mu
        if bug113:
            exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        else:
            exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = exp_avg_sq.div(bias_correction2).sqrt()
        if bug113:
            mu_product_next = (mu_product * mu * mu_next).item()
        else:
            mu_product_next = mu_product.item() * mu_next
        denom.add_(eps)
        p.addcdiv_(grad, denom, value=(-lr * (1.0 - mu) / (1.0 - mu_product.item())))
        p.addcdiv_(exp_avg, denom, value=(-lr * mu_next) / (1.0 - mu_product_next))
        out.append(p.clone())
    return out


def radam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
          decoupled_weight_decay=False, maximize=False):
    beta1, beta2 = betas
    exp_avg, exp_avg_sq = torch.zeros_like(p), torch.zeros_like(p)
    step_t = torch.tensor(0.0)
    out = []
    for grad in grads:
        grad = -grad if maximize else grad
        step_t += 1
        step = step_t.item()
        if weight_decay != 0:
            if decoupled_weight_decay:
                p.mul_(1 - lr * weight_decay)
            else:
                grad = grad.add(p, alpha=weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        bias_corrected_exp_avg = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive_lr = (bias_correction2 ** 0.5) / exp_avg_sq.sqrt().add_(eps)
            p.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)
        else:
            p.add_(bias_corrected_exp_avg * lr, alpha=-1.0)
        out.append(p.clone())
    return out


def load(path):
    with gzip.open(path, "rt") as f:
        return json.load(f)


def run(rule, base, name, hyper, bug113=False):
    dtype = {"float32": torch.float32, "float64": torch.float64}[base["dtype"]]
    p = torch.tensor(base["params0"], dtype=dtype)
    grads = [torch.tensor(g, dtype=dtype) for g in base["grads"]]
    kw = dict(hyper)
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    if bug113:
        kw["bug113"] = True
    traj = {"nadam": nadam, "radam": radam}[rule](p, grads, **kw)
    rec = dict(base)
    rec.update(name=name, hyper=hyper, params=[[x for x in t.tolist()] for t in traj],
               torch="2.11 single-tensor code restated on torch " + torch.__version__)
    return rec


def main():
    shared = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    configs = [
        ("nadam", "nadam_plain", "nadam_plain", {"lr": 0.002}),
        ("nadam", "nadam_wd_decay", "nadam_wd_decay",
         {"lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.01, "momentum_decay": 0.01, "eps": 1e-06}),
        ("nadam", "nadam_wd_decay", "nadam_decoupled_maximize",
         {"lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.05, "decoupled_weight_decay": True, "maximize": True}),
        ("radam", "radam_wd", "radam_decoupled_maximize",
         {"lr": 0.01, "betas": [0.9, 0.95], "weight_decay": 0.05, "decoupled_weight_decay": True, "maximize": True}),
        ("radam", "radam_plain", "radam_maximize", {"lr": 0.001, "maximize": True}),
    ]
    for dt in ("float32", "float64"):
        # The restatement with 1.13's mu_product_next must give the 1.13 files.
        for cfg in ("nadam_plain", "nadam_wd_decay"):
            base = load(os.path.join(shared, "%s_%s.json.gz" % (cfg, dt)))
            rec = run("nadam", base, cfg, base["hyper"], bug113=True)
            worst = max(abs(a - b) / max(1, abs(b)) for ra, rb in zip(rec["params"], base["params"])
                        for a, b in zip(ra, rb))
            print("1.13 check %s %s: worst relative difference %g" % (cfg, dt, worst))
            assert worst == 0, "restatement does not reproduce torch 1.13"
        for rule, src, name, hyper in configs:
            base = load(os.path.join(shared, "%s_%s.json.gz" % (src, dt)))
            rec = run(rule, base, name, hyper)
            rec["optimizer"] = {"nadam": "NAdam", "radam": "RAdam"}[rule]
            path = os.path.join(here, "%s_211_%s.json.gz" % (name, dt))
            with gzip.GzipFile(path, "wb", mtime=0) as f:
                f.write(json.dumps(rec).encode())
            print("wrote", path)


if __name__ == "__main__":
    main()
