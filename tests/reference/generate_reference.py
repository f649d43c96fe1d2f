"""Regenerate the stored peer values the tests compare with (needs torch and Keras 3).

    pip install torch==2.13.0 keras
    KERAS_BACKEND=torch python tests/reference/generate_reference.py

Writes ``sgd_torch.npz``: for each run r, ``r/lr``, ``r/params0``, ``r/grads`` (the
gradient fed at each step) and ``r/params`` (torch's parameters after each step).

Writes ``schedules_torch.npz`` (see :func:`schedule_runs`): learning-rate sequences of
the real torch schedulers and Keras schedules, with the parameters that built them.

Writes ``momentum_torch.npz`` (see :func:`momentum_runs`): torch.optim.SGD with momentum,
dampening, Nesterov, weight decay and maximize, some under a MultiStepLR.

Writes ``adaptive_torch.npz`` (see :func:`adaptive_runs`): torch.optim.Adagrad, RMSprop,
Adam, AdamW and NAdam over their options, in float64 and float32, some under a scheduler.

Writes ``clipping_torch.npz`` (see :func:`clipping_runs`): torch.nn.utils.clip_grad_norm_
over norm types 1, 2, 3 and inf, thresholds below, at and above the norm, zero and
non-finite gradients (with and without error_if_nonfinite), and clip_grad_value_.

Writes ``gradscaler_torch.npz`` (see :func:`gradscaler_runs`): torch.amp.GradScaler on
CPU driving SGD through scripted sequences of finite, inf, -inf and NaN gradients.

Each file can be written alone: ``python tests/reference/generate_reference.py momentum``
(names: sgd, schedules, momentum, adaptive, clipping, gradscaler; none means all).
"""

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.optim import lr_scheduler

HERE = Path(__file__).parent


def sgd_runs():
    out = {}
    r = np.random.default_rng(2026)
    for run, (lr, n, steps) in enumerate([(0.1, 7, 300), (1e-3, 20, 100), (0.9, 3, 1000)]):
        p0 = r.normal(size=n)
        grads = r.normal(size=(steps, n))
        p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([p], lr=lr)
        params = []
        for g in grads:
            p.grad = torch.tensor(g)
            opt.step()
            params.append(p.detach().numpy().copy())
        out.update({f"run{run}/lr": np.array(lr), f"run{run}/params0": p0,
                    f"run{run}/grads": grads, f"run{run}/params": np.array(params)})
    np.savez_compressed(HERE / "sgd_torch.npz", **out)


# The schedule cases: (peer, lr0, kwargs, steps). kwargs are the peer's own arguments;
# tests/test_schedules.py maps each peer onto the optlib schedule. One source of truth:
# the cases are stored in the npz as JSON, the test reads them from there.
SCHEDULE_CASES = [
    ("torch.StepLR", 0.1, dict(step_size=30, gamma=0.1), 1000),
    ("torch.StepLR", 0.5, dict(step_size=7, gamma=0.5), 1000),
    ("torch.StepLR", 1.0, dict(step_size=3, gamma=0.9), 1000),
    ("torch.MultiStepLR", 0.1, dict(milestones=[30, 80], gamma=0.1), 1000),
    ("torch.MultiStepLR", 0.05, dict(milestones=[10, 10, 500], gamma=0.5), 1000),  # repeated
    ("torch.MultiStepLR", 1.0, dict(milestones=[1, 2, 3, 999], gamma=0.9), 1000),
    ("torch.ExponentialLR", 0.1, dict(gamma=0.99), 1000),
    ("torch.ExponentialLR", 1.0, dict(gamma=0.999), 1000),
    ("torch.ExponentialLR", 0.3, dict(gamma=0.95), 1000),
    ("torch.CosineAnnealingLR", 0.1, dict(T_max=300, eta_min=0.0), 1200),
    ("torch.CosineAnnealingLR", 0.05, dict(T_max=250, eta_min=1e-3), 1200),
    ("torch.CosineAnnealingLR", 1.0, dict(T_max=997, eta_min=0.01), 1200),
    # many periods: the recursive form's drift from the closed form passes 1e-12
    ("torch.CosineAnnealingLR", 0.1, dict(T_max=7, eta_min=0.0), 6000),
    ("torch.CosineAnnealingWarmRestarts", 0.1, dict(T_0=50, T_mult=1, eta_min=0.0), 1000),
    ("torch.CosineAnnealingWarmRestarts", 0.1, dict(T_0=10, T_mult=2, eta_min=1e-4), 1300),
    ("torch.CosineAnnealingWarmRestarts", 0.5, dict(T_0=7, T_mult=3, eta_min=0.0), 1200),
    ("torch.CyclicLR", None, dict(base_lr=0.001, max_lr=0.1, step_size_up=100,
                                  mode="triangular"), 1000),
    ("torch.CyclicLR", None, dict(base_lr=0.01, max_lr=0.05, step_size_up=30,
                                  step_size_down=70, mode="triangular"), 1000),
    ("torch.CyclicLR", None, dict(base_lr=0.001, max_lr=0.01, step_size_up=50,
                                  mode="triangular2"), 1000),
    ("torch.CyclicLR", None, dict(base_lr=0.002, max_lr=0.02, step_size_up=20,
                                  step_size_down=80, mode="triangular2"), 1000),
    ("torch.CyclicLR", None, dict(base_lr=0.001, max_lr=0.1, step_size_up=60,
                                  mode="exp_range", gamma=0.999), 1000),
    ("torch.CyclicLR", None, dict(base_lr=0.01, max_lr=0.3, step_size_up=25,
                                  step_size_down=40, mode="exp_range", gamma=0.9995), 1000),
    ("torch.PolynomialLR", 0.1, dict(total_iters=800, power=1.0), 1000),
    ("torch.PolynomialLR", 0.5, dict(total_iters=600, power=2.0), 1000),
    ("torch.PolynomialLR", 1.0, dict(total_iters=990, power=0.9), 1000),
    ("torch.LinearLR", 0.1, dict(start_factor=1 / 3, end_factor=1.0, total_iters=5), 1000),
    ("torch.LinearLR", 0.05, dict(start_factor=0.01, end_factor=1.0, total_iters=500), 1000),
    ("torch.LinearLR", 1.0, dict(start_factor=1.0, end_factor=0.1, total_iters=700), 1000),
    ("torch.OneCycleLR", None, dict(max_lr=0.1, total_steps=1000, pct_start=0.3,
                                    anneal_strategy="cos", three_phase=False,
                                    div_factor=25.0, final_div_factor=1e4), 1001),
    ("torch.OneCycleLR", None, dict(max_lr=0.5, total_steps=1003, pct_start=0.25,
                                    anneal_strategy="linear", three_phase=False,
                                    div_factor=10.0, final_div_factor=100.0), 1004),
    ("torch.OneCycleLR", None, dict(max_lr=0.1, total_steps=1000, pct_start=0.3,
                                    anneal_strategy="cos", three_phase=True,
                                    div_factor=25.0, final_div_factor=1e4), 1001),
    ("torch.OneCycleLR", None, dict(max_lr=1.0, total_steps=1201, pct_start=0.4,
                                    anneal_strategy="linear", three_phase=True,
                                    div_factor=20.0, final_div_factor=1e3), 1202),
    # SequentialLR([LinearLR(start_factor, 1, W), CosineAnnealingLR(T_max, eta_min)], [W])
    ("torch.SequentialLR", 0.1, dict(warmup_steps=100, start_factor=0.01, T_max=900,
                                     eta_min=0.0), 1200),
    ("torch.SequentialLR", 0.5, dict(warmup_steps=37, start_factor=0.1, T_max=500,
                                     eta_min=1e-3), 1200),
    # ReduceLROnPlateau: lr after each step(metric) on the stored metric sequence
    ("torch.ReduceLROnPlateau", 0.1, dict(metric="loss"), 1000),
    ("torch.ReduceLROnPlateau", 0.1, dict(metric="loss", threshold_mode="abs", threshold=1e-3,
                                          patience=5, cooldown=3, factor=0.5, min_lr=1e-3),
     1000),
    ("torch.ReduceLROnPlateau", 0.1, dict(metric="accuracy", mode="max", threshold=1e-3,
                                          patience=3, cooldown=10, factor=0.5), 1000),
    ("torch.ReduceLROnPlateau", 0.1, dict(metric="accuracy", mode="max", threshold_mode="abs",
                                          threshold=0.0, patience=0, factor=0.8,
                                          min_lr=1e-2), 1000),
    ("torch.ReduceLROnPlateau", 0.1, dict(metric="loss", patience=2, factor=0.5, eps=1e-3),
     1000),
    # Keras 3 schedules evaluated in float64 at integer steps 0 .. steps-1
    ("keras.InverseTimeDecay", 0.1, dict(decay_steps=1, decay_rate=0.5, staircase=False), 1000),
    ("keras.InverseTimeDecay", 0.1, dict(decay_steps=1, decay_rate=0.5, staircase=True), 1000),
    ("keras.InverseTimeDecay", 0.1, dict(decay_steps=10, decay_rate=0.5, staircase=False), 1000),
    ("keras.InverseTimeDecay", 0.2, dict(decay_steps=10, decay_rate=0.05, staircase=True), 1000),
    ("keras.ExponentialDecay", 0.1, dict(decay_steps=1, decay_rate=0.99), 1000),
    ("keras.ExponentialDecay", 1.0, dict(decay_steps=1, decay_rate=0.995), 1000),
    ("keras.CosineDecay", 0.1, dict(decay_steps=800, alpha=0.0), 1000),
    ("keras.CosineDecay", 0.5, dict(decay_steps=500, alpha=0.1), 1000),
    ("keras.PiecewiseConstantDecay", None, dict(boundaries=[30, 80],
                                                values=[0.1, 0.01, 0.001]), 1000),
    # Keras' default float32, to pin what the default precision costs
    ("keras32.InverseTimeDecay", 0.1, dict(decay_steps=1, decay_rate=0.5, staircase=False),
     1000),
]


def plateau_metrics(n=1000, seed=11):
    """A noisy, mostly decreasing loss with exact plateaus and spikes; accuracy mirrors it."""
    r = np.random.default_rng(seed)
    loss, level = [], 2.0
    while len(loss) < n:
        kind, length = r.choice(["down", "flat", "noisy", "spike"]), int(r.integers(3, 40))
        for _ in range(length):
            if kind == "down":
                level *= 1.0 - r.uniform(0.0, 0.02)
                loss.append(level)
            elif kind == "flat":
                loss.append(level)
            elif kind == "noisy":
                loss.append(level * (1.0 + r.normal(0.0, 2e-3)))
            else:
                loss.append(level * (1.0 + r.uniform(0.0, 0.3)))
    loss = np.array(loss[:n])
    return {"loss": loss, "accuracy": 1.0 - 0.4 * loss}


def _sgd(lr):
    p = torch.zeros(1, requires_grad=True)
    return torch.optim.SGD([p], lr=1.0 if lr is None else lr, momentum=0.0)


def _drive(opt, sched, steps, closed=False, last_step=None):
    """lr used by 0-based steps 0 .. steps-1: read param_groups[0]['lr'] before each step().

    ``closed`` also records torch's ``_get_closed_form_lr()`` at each step."""
    lrs, closed_lrs = [], []
    for k in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        if closed:
            closed_lrs.append(sched._get_closed_form_lr()[0])
        if k == last_step:
            break
        opt.step()  # no gradient: a no-op, but keeps torch's step-order check quiet
        sched.step()
    return np.array(lrs, dtype=np.float64), np.array(closed_lrs, dtype=np.float64)


def _torch_case(peer, lr0, kw, steps, metrics):
    name = peer.split(".")[1]
    opt = _sgd(lr0)
    if name == "ReduceLROnPlateau":
        kw = {k: val for k, val in kw.items() if k != "metric"}
        sched = lr_scheduler.ReduceLROnPlateau(opt, **kw)
        out = []
        for m in metrics[:steps]:
            sched.step(float(m))
            out.append(opt.param_groups[0]["lr"])
        return {"lr": np.array(out)}
    if name == "SequentialLR":
        W = kw["warmup_steps"]
        first = lr_scheduler.LinearLR(opt, kw["start_factor"], 1.0, W)
        second = lr_scheduler.CosineAnnealingLR(opt, kw["T_max"], kw["eta_min"])
        sched = lr_scheduler.SequentialLR(opt, [first, second], milestones=[W])
        return {"lr": _drive(opt, sched, steps)[0]}
    if name == "CyclicLR":
        kw = dict(kw, cycle_momentum=False)
    sched = getattr(lr_scheduler, name)(opt, **kw)
    # the closed form beside the recursive one where they can differ (not piecewise constant)
    closed = name in ("CosineAnnealingLR", "PolynomialLR", "LinearLR")
    last = kw["total_steps"] if name == "OneCycleLR" else None
    lrs, closed_lrs = _drive(opt, sched, steps, closed, last)
    if name == "OneCycleLR":  # torch refuses a step beyond total_steps
        assert len(lrs) == kw["total_steps"] + 1
        opt.step()
        try:
            sched.step()
        except ValueError:
            pass
        else:
            raise AssertionError("OneCycleLR accepted step total_steps + 1")
    return {"lr": lrs, "closed": closed_lrs} if closed else {"lr": lrs}


def _keras_case(peer, lr0, kw, steps):
    import keras

    family, name = peer.split(".")
    keras.config.set_floatx("float32" if family == "keras32" else "float64")
    try:
        if name == "PiecewiseConstantDecay":
            sched = keras.optimizers.schedules.PiecewiseConstantDecay(**kw)
        else:
            sched = getattr(keras.optimizers.schedules, name)(lr0, **kw)
        lrs = np.array([float(sched(k)) for k in range(steps)], dtype=np.float64)
    finally:
        keras.config.set_floatx("float32")
    return {"lr": lrs}


def schedule_runs():
    """Write ``schedules_torch.npz``.

    Keys: ``cases`` (JSON list of {id, peer, lr0, kwargs, steps}), ``versions`` (JSON),
    ``metrics/loss`` and ``metrics/accuracy`` (fed to ReduceLROnPlateau), and per case
    ``<id>/lr`` (index k = lr of 0-based step k; for ReduceLROnPlateau the lr after the
    k-th step(metric)) and, for torch schedulers with a closed form, ``<id>/closed``
    (torch's ``_get_closed_form_lr()`` at each step, beside the recursive ``step()``).
    """
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is first imported
    import keras  # here, so that sgd_runs does not need Keras

    metrics = plateau_metrics()
    out = {f"metrics/{k}": val for k, val in metrics.items()}
    cases, count = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deprecation warning would mean another code path
        for peer, lr0, kw, steps in SCHEDULE_CASES:
            n = count[peer] = count.get(peer, -1) + 1
            cid = f"{peer.split('.')[1]}-{n}" if peer.startswith("torch") else f"{peer}-{n}"
            if peer.startswith("torch"):
                arrays = _torch_case(peer, lr0, kw, steps, metrics.get(kw.get("metric")))
            else:
                arrays = _keras_case(peer, lr0, kw, steps)
            cases.append(dict(id=cid, peer=peer, lr0=lr0, kwargs=kw, steps=steps))
            out.update({f"{cid}/{key}": val for key, val in arrays.items()})
    out["cases"] = np.array(json.dumps(cases))
    out["versions"] = np.array(json.dumps({"torch": torch.__version__,
                                           "keras": keras.__version__}))
    np.savez_compressed(HERE / "schedules_torch.npz", **out)


# The momentum cases: torch.optim.SGD keyword arguments, the parameter count n, the
# number of steps and an optional MultiStepLR (milestones, gamma). Stored in the npz as
# JSON; tests/test_momentum.py reads them from there.
MOMENTUM_CASES = [
    dict(lr=0.1, momentum=0.9, n=4, steps=300),
    dict(lr=0.05, momentum=0.5, dampening=0.5, n=5, steps=300),
    dict(lr=0.02, momentum=0.99, dampening=1.0, n=3, steps=300),  # buffer frozen after step 1
    dict(lr=0.1, momentum=0.9, nesterov=True, n=4, steps=300),
    dict(lr=0.05, momentum=0.8, weight_decay=0.05, n=4, steps=300),
    dict(lr=0.1, momentum=0.7, maximize=True, n=3, steps=300),
    dict(lr=0.03, momentum=0.95, nesterov=True, weight_decay=0.01, maximize=True, n=5,
         steps=400),
    dict(lr=0.2, momentum=0.6, dampening=0.1, weight_decay=0.1, maximize=True, n=4,
         steps=300),
    dict(lr=0.1, momentum=0.0, weight_decay=0.02, n=3, steps=300),  # plain SGD + L2
    dict(lr=0.1, momentum=0.0, dampening=0.5, n=3, steps=300),  # dampening without momentum
    dict(lr=0.1, momentum=0.9, n=4, steps=400, milestones=[100, 250], gamma=0.1),
    dict(lr=0.3, momentum=0.9, nesterov=True, weight_decay=0.01, n=4, steps=400,
         milestones=[50, 50, 300], gamma=0.5),
    dict(lr=0.05, momentum=0.95, dampening=0.3, maximize=True, n=3, steps=300,
         milestones=[1, 150], gamma=0.2),
]
SGD_KEYS = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize")


def momentum_runs():
    """Write ``momentum_torch.npz``.

    Keys: ``cases`` (JSON list: id, the SGD keyword arguments with torch's defaults filled
    in, n, steps, milestones and gamma or null), ``versions`` (JSON), and per case
    ``<id>/params0`` (n), ``<id>/grads`` (steps, n: the gradient fed at step k),
    ``<id>/lr`` (steps: param_groups[0]['lr'] used by step k) and ``<id>/params``
    (steps, n: torch's parameters after step k). Gradients and starting points are
    multiples of 2**-10, exact in float32 too and cheap to store.
    """
    r = np.random.default_rng(3)
    out, cases = {}, []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i, spec in enumerate(MOMENTUM_CASES):
            spec = dict(spec)
            n, steps = spec.pop("n"), spec.pop("steps")
            milestones, gamma = spec.pop("milestones", None), spec.pop("gamma", None)
            kw = dict(dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False)
            kw.update(spec)
            cid = f"case{i}"
            p0 = r.integers(-2048, 2049, size=n) / 1024.0
            grads = r.integers(-4096, 4097, size=(steps, n)) / 1024.0
            p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
            opt = torch.optim.SGD([p], **kw)
            sched = (lr_scheduler.MultiStepLR(opt, milestones, gamma)
                     if milestones is not None else None)
            params, lrs = [], []
            for g in grads:
                lrs.append(opt.param_groups[0]["lr"])
                p.grad = torch.tensor(g)
                opt.step()
                if sched is not None:
                    sched.step()
                params.append(p.detach().numpy().copy())
            cases.append(dict(id=cid, **{k: kw[k] for k in SGD_KEYS}, n=n, steps=steps,
                              milestones=milestones, gamma=gamma))
            out.update({f"{cid}/params0": p0, f"{cid}/grads": grads,
                        f"{cid}/lr": np.array(lrs, dtype=np.float64),
                        f"{cid}/params": np.array(params, dtype=np.float64)})
    out["cases"] = np.array(json.dumps(cases))
    out["versions"] = np.array(json.dumps({"torch": torch.__version__}))
    np.savez_compressed(HERE / "momentum_torch.npz", **out)


# The adaptive cases: the torch.optim class, its keyword arguments (torch's defaults fill
# the rest), the dtype, an optional scheduler ("StepLR"/"MultiStepLR"/"ExponentialLR" with
# its arguments) and ``zero_coord`` (the last coordinate always gets a zero gradient, so
# that only weight decay moves it). Stored in the npz as JSON with every argument spelled
# out; tests/test_adaptive.py reads them from there.
ADAPTIVE_CASES = [
    dict(opt="Adagrad", kw=dict(lr=0.1)),
    dict(opt="Adagrad", kw=dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)),
    dict(opt="Adagrad", kw=dict(lr=0.1, weight_decay=0.05, eps=1e-3, maximize=True),
         zero_coord=True),
    dict(opt="Adagrad", kw=dict(lr=0.2, lr_decay=1e-3, weight_decay=0.01,
                                initial_accumulator_value=0.5, maximize=True),
         sched=dict(kind="StepLR", step_size=100, gamma=0.5)),
    dict(opt="RMSprop", kw=dict(lr=0.01)),
    dict(opt="RMSprop", kw=dict(lr=0.01, alpha=0.9, eps=1e-4, weight_decay=0.01),
         zero_coord=True),
    dict(opt="RMSprop", kw=dict(lr=0.005, momentum=0.9)),
    dict(opt="RMSprop", kw=dict(lr=0.01, centered=True)),
    dict(opt="RMSprop", kw=dict(lr=0.003, alpha=0.95, momentum=0.8, centered=True,
                                weight_decay=0.05, maximize=True)),
    dict(opt="RMSprop", kw=dict(lr=0.01, alpha=0.5, momentum=0.5, centered=True),
         sched=dict(kind="MultiStepLR", milestones=[80, 200], gamma=0.3)),
    dict(opt="Adam", kw=dict(lr=0.01)),
    dict(opt="Adam", kw=dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    dict(opt="Adam", kw=dict(lr=0.01, weight_decay=0.1), zero_coord=True),
    dict(opt="Adam", kw=dict(lr=0.01, amsgrad=True)),
    dict(opt="Adam", kw=dict(lr=0.005, betas=(0.5, 0.9), amsgrad=True, weight_decay=0.01,
                             maximize=True)),
    dict(opt="Adam", kw=dict(lr=0.05, betas=(0.0, 0.5), eps=1e-3)),  # edge betas
    dict(opt="Adam", kw=dict(lr=0.02, amsgrad=True),
         sched=dict(kind="StepLR", step_size=75, gamma=0.5)),
    dict(opt="AdamW", kw=dict(lr=0.01), zero_coord=True),  # torch's weight_decay 1e-2
    dict(opt="AdamW", kw=dict(lr=0.01, weight_decay=0.1, amsgrad=True), zero_coord=True),
    dict(opt="AdamW", kw=dict(lr=0.03, weight_decay=0.5, betas=(0.85, 0.98), maximize=True),
         sched=dict(kind="StepLR", step_size=100, gamma=0.1), zero_coord=True),
    dict(opt="AdamW", kw=dict(lr=0.01, weight_decay=0.0, eps=1e-5)),
    dict(opt="NAdam", kw=dict(lr=0.002)),
    dict(opt="NAdam", kw=dict(lr=0.01, momentum_decay=0.01, betas=(0.8, 0.99))),
    dict(opt="NAdam", kw=dict(lr=0.01, weight_decay=0.05), zero_coord=True),
    dict(opt="NAdam", kw=dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True,
                              maximize=True), zero_coord=True),
    dict(opt="NAdam", kw=dict(lr=0.02, momentum_decay=0.0, eps=1e-4)),
    dict(opt="NAdam", kw=dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
         sched=dict(kind="ExponentialLR", gamma=0.995)),
    # float32: torch's own float32 arithmetic (default dtype float32 for its scalars too)
    dict(opt="Adagrad", kw=dict(lr=0.1, lr_decay=0.01, weight_decay=0.01), dtype="float32"),
    dict(opt="RMSprop", kw=dict(lr=0.01, momentum=0.9, centered=True), dtype="float32"),
    dict(opt="Adam", kw=dict(lr=0.01, amsgrad=True, weight_decay=0.01), dtype="float32"),
    dict(opt="AdamW", kw=dict(lr=0.01, weight_decay=0.1), dtype="float32", zero_coord=True,
         sched=dict(kind="StepLR", step_size=100, gamma=0.5)),
    dict(opt="NAdam", kw=dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True),
         dtype="float32"),
]
ADAPTIVE_KEYS = {
    "Adagrad": ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps",
                "maximize"),
    "RMSprop": ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"),
    "Adam": ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"),
    "AdamW": ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"),
    "NAdam": ("lr", "betas", "eps", "weight_decay", "momentum_decay",
              "decoupled_weight_decay", "maximize"),
}
#: torch's state entries (optlib's state fields carry the same names)
ADAPTIVE_STATE = ("sum", "square_avg", "grad_avg", "momentum_buffer", "exp_avg",
                  "exp_avg_sq", "max_exp_avg_sq", "mu_product", "step")


def adaptive_grads(r, steps, n, zero_coord):
    """Gradients that are multiples of 2**-10 (exact in float32) whose size changes in
    blocks of 10-60 steps (|g| up to 4, 1/16 or 1/256, some exact zeros), so that the
    second moments fall as well as rise (AMSGrad's maximum matters) and eps matters."""
    out = np.empty((steps, n))
    k = 0
    while k < steps:
        length, top = int(r.integers(10, 61)), int(r.choice([4096, 64, 4]))
        block = r.integers(-top, top + 1, size=(min(length, steps - k), n))
        out[k:k + length] = block
        k += length
    if zero_coord:
        out[:, -1] = 0.0
    return out / 1024.0


def _adaptive_scheduler(opt, sched):
    if sched is None:
        return None
    kw = {k: val for k, val in sched.items() if k != "kind"}
    return getattr(lr_scheduler, sched["kind"])(opt, **kw)


def adaptive_runs():
    """Write ``adaptive_torch.npz``.

    Keys: ``cases`` (JSON list: id, opt (the torch.optim class name), kwargs (every
    argument of :data:`ADAPTIVE_KEYS` as torch's param_groups hold it, betas as a list),
    dtype, n, steps, sched (null or {kind, arguments}), zero_coord; ``kwargs["lr"]`` is
    the base rate), ``versions`` (JSON),
    and per case ``<id>/params0`` (n), ``<id>/grads`` (steps, n: the gradient fed at step
    k, multiples of 2**-10), ``<id>/lr`` (steps: param_groups[0]['lr'] used by step k),
    ``<id>/params`` (steps, n: torch's parameters after step k, in the case's dtype) and
    ``<id>/state/<name>`` (torch's state after the last step: every entry torch keeps,
    named as in optlib, ``mu_product`` and ``step`` as shape-(1,) float64).

    torch keeps NAdam's ``mu_product`` and every ``step`` as scalars of the *default*
    dtype, so the default dtype is set to the case's dtype while it runs.
    """
    r = np.random.default_rng(7)
    out, cases = {}, []
    old_default = torch.get_default_dtype()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for i, spec in enumerate(ADAPTIVE_CASES):
                dtype = spec.get("dtype", "float64")
                tdtype = getattr(torch, dtype)
                torch.set_default_dtype(tdtype)
                n, steps = spec.get("n", 3), spec.get("steps", 300)
                zero_coord = spec.get("zero_coord", False)
                cid = f"case{i}"
                p0 = r.integers(-2048, 2049, size=n) / 1024.0
                grads = adaptive_grads(r, steps, n, zero_coord)
                p = torch.tensor(p0, dtype=tdtype, requires_grad=True)
                opt = getattr(torch.optim, spec["opt"])([p], **spec["kw"])
                group = opt.param_groups[0]  # read now: a scheduler changes group["lr"]
                kwargs = {k: (list(group[k]) if k == "betas" else group[k])
                          for k in ADAPTIVE_KEYS[spec["opt"]]}
                sched = _adaptive_scheduler(opt, spec.get("sched"))
                params, lrs = [], []
                for g in grads:
                    lrs.append(opt.param_groups[0]["lr"])
                    p.grad = torch.tensor(g, dtype=tdtype)
                    opt.step()
                    if sched is not None:
                        sched.step()
                    params.append(p.detach().numpy().copy())
                cases.append(dict(id=cid, opt=spec["opt"], kwargs=kwargs, dtype=dtype, n=n,
                                  steps=steps, sched=spec.get("sched"),
                                  zero_coord=zero_coord))
                out.update({f"{cid}/params0": p0, f"{cid}/grads": grads,
                            f"{cid}/lr": np.array(lrs, dtype=np.float64),
                            f"{cid}/params": np.array(params, dtype=dtype)})
                for name, val in opt.state[p].items():
                    assert name in ADAPTIVE_STATE, name
                    arr = val.detach().numpy()
                    if arr.ndim == 0:  # step, mu_product: 0-d tensors of the default dtype
                        arr = np.array([float(arr)])
                    out[f"{cid}/state/{name}"] = arr.copy()
    finally:
        torch.set_default_dtype(old_default)
    out["cases"] = np.array(json.dumps(cases))
    out["versions"] = np.array(json.dumps({"torch": torch.__version__}))
    np.savez_compressed(HERE / "adaptive_torch.npz", **out)


# The clipping cases. Norm cases: (shapes, norm_type, regime, dtype); the regime fixes
# the gradient and max_norm (relative to torch's own total norm where it says so).
# Value cases: (arrays, clip_value, dtype). Stored in the npz as JSON beside the values;
# tests/test_clipping.py reads them from there.
CLIP_SHAPES = [[(3,), (2, 3), (4, 1, 2)], [(7,)], [(1,), (5, 5), (2, 2, 2, 2)], [(6,)]]
CLIP_REGIMES = [
    "far_below",    # max_norm = 10 * total: coef clamps to exactly 1
    "below",        # max_norm = total * (1 + 1e-9): within 1e-6 below, torch still shrinks
    "at",           # max_norm = total
    "above",        # max_norm = total * (1 - 1e-9)
    "max=0.1", "max=1", "max=5", "max=1000",  # fixed thresholds, gradients of norm ~0.1-20
    "zero",         # all-zero gradient
    "inf", "-inf", "nan", "nan+inf",  # non-finite entries, error_if_nonfinite=False
    "inf-raise", "nan-raise",          # the same with error_if_nonfinite=True
]
CLIP_NORM_TYPES = [1.0, 2.0, 3.0, "inf"]
CLIP_VALUE_CASES = [
    ([[0.5, -0.5, 0.4999, 0.5001, -0.5001, 0.0, -0.0]], 0.5, "float64"),
    ([[3.0, -7.0, 1e300, -1e-300], [[2.0, -2.0], [1.0, 0.25]]], 2.0, "float64"),
    ([[np.inf, -np.inf, np.nan, 1.0, -1.0]], 1.0, "float64"),
    ([[np.nan, 5.0], [[-np.inf]], [0.1, -0.1, 0.2]], 0.15, "float64"),
    ("normal", 1.0, "float64"),
    ("normal", 0.01, "float64"),
    ("normal", 1e3, "float64"),
    ("normal", 0.3, "float32"),
    ([[0.3, -0.7, np.inf, np.nan]], 0.5, "float32"),
]


def _clip_params(arrays, dtype):
    ps = []
    for a in arrays:
        p = torch.zeros(a.shape, dtype=dtype, requires_grad=True)
        p.grad = torch.tensor(a, dtype=dtype)
        ps.append(p)
    return ps


def _clip_grads(r, shapes, regime, dtype):
    scale = float(r.choice([0.05, 1.0, 3.0]))
    arrays = [r.normal(size=s) * scale for s in shapes]
    if regime == "zero":
        arrays = [np.zeros(s) for s in shapes]
    bad = {"inf": [np.inf], "-inf": [-np.inf], "nan": [np.nan], "nan+inf": [np.nan, np.inf],
           "inf-raise": [np.inf], "nan-raise": [np.nan]}.get(regime, [])
    for k, val in enumerate(bad):  # put them in different arrays, at random places
        a = arrays[(k + 1) % len(arrays)].reshape(-1)
        a[r.integers(a.size)] = val
    return [a.astype(dtype) for a in arrays]


def clipping_runs():
    """Write ``clipping_torch.npz``.

    Keys: ``norm_cases`` (JSON list: id, regime, norm_type (a float or "inf"),
    max_norm, error_if_nonfinite, dtype, single (the gradient was one tensor, not a
    list), shapes, raises (null, or the name of the exception torch raised)),
    ``value_cases`` (JSON list: id, clip_value, dtype, shapes), ``versions`` (JSON);
    per norm case ``<id>/in`` (the gradients, flattened and concatenated in the order of
    ``shapes``), ``<id>/out`` (the same after ``torch.nn.utils.clip_grad_norm_``; equal
    to the input when it raised) and ``<id>/total`` (its return value as float64; NaN
    when it raised); per value case ``<id>/in`` and ``<id>/out`` (after
    ``clip_grad_value_``, which returns None).
    """
    r = np.random.default_rng(4)
    out, norm_cases, value_cases = {}, [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        specs = [(shapes, p, regime, "float64") for p in CLIP_NORM_TYPES
                 for regime in CLIP_REGIMES for shapes in CLIP_SHAPES[:1]]
        specs += [(CLIP_SHAPES[1 + k % 3], p, regime, "float64")
                  for k, p in enumerate(CLIP_NORM_TYPES)
                  for regime in ("below", "at", "above", "max=1", "inf", "nan")]
        # entries 1e200: the L2 norm overflows to inf although every entry is finite
        specs += [(CLIP_SHAPES[0], 2.0, "overflow", "float64"),
                  (CLIP_SHAPES[0], 2.0, "overflow-raise", "float64"),
                  (CLIP_SHAPES[0], 2.0, "max=1", "float32"),
                  (CLIP_SHAPES[2], "inf", "max=0.1", "float32"),
                  (CLIP_SHAPES[2], 2.0, "below", "float32")]
        for i, (shapes, p, regime, dtype) in enumerate(specs):
            cid = f"norm{i}"
            tdtype = getattr(torch, dtype)
            if regime.startswith("overflow"):
                arrays = [np.full(s, 1e200) for s in shapes]
            else:
                arrays = _clip_grads(r, shapes, regime, dtype)
            tp = float("inf") if p == "inf" else p
            single = len(shapes) == 1 and shapes[0] == (6,)
            total = float(torch.nn.utils.get_total_norm(
                [torch.tensor(a) for a in arrays], tp))
            if regime.startswith("max="):
                max_norm = float(regime[4:])
            else:
                factor = {"far_below": 10.0, "below": 1 + 1e-9, "at": 1.0,
                          "above": 1 - 1e-9}.get(regime, 1.0)
                max_norm = total * factor if np.isfinite(total) and total > 0 else 1.0
            raising = regime.endswith("-raise")
            params = _clip_params(arrays, tdtype)
            raises = None
            try:
                ret = torch.nn.utils.clip_grad_norm_(params[0] if single else params,
                                                     max_norm, tp,
                                                     error_if_nonfinite=raising)
                ret = float(ret)
            except RuntimeError as exc:
                raises, ret = type(exc).__name__, np.nan
            assert raising == (raises is not None), (cid, regime)
            out[f"{cid}/in"] = np.concatenate([a.ravel() for a in arrays])
            out[f"{cid}/out"] = np.concatenate([pt.grad.numpy().ravel() for pt in params])
            if raises:
                assert np.array_equal(out[f"{cid}/in"], out[f"{cid}/out"], equal_nan=True)
            out[f"{cid}/total"] = np.array(ret, dtype=np.float64)
            norm_cases.append(dict(id=cid, regime=regime, norm_type=p, max_norm=max_norm,
                                   error_if_nonfinite=raising, dtype=dtype, single=single,
                                   shapes=[list(a.shape) for a in arrays], raises=raises))
        for i, (arrays, c, dtype) in enumerate(CLIP_VALUE_CASES):
            cid = f"value{i}"
            if arrays == "normal":
                arrays = [r.normal(size=s) * float(r.choice([0.01, 1.0, 10.0]))
                          for s in CLIP_SHAPES[i % 3]]
            arrays = [np.array(a, dtype=dtype) for a in arrays]
            params = _clip_params(arrays, getattr(torch, dtype))
            assert torch.nn.utils.clip_grad_value_(params, c) is None
            out[f"{cid}/in"] = np.concatenate([a.ravel() for a in arrays])
            out[f"{cid}/out"] = np.concatenate([pt.grad.numpy().ravel() for pt in params])
            value_cases.append(dict(id=cid, clip_value=c, dtype=dtype,
                                    shapes=[list(a.shape) for a in arrays]))
    out["norm_cases"] = np.array(json.dumps(norm_cases))
    out["value_cases"] = np.array(json.dumps(value_cases))
    out["versions"] = np.array(json.dumps({"torch": torch.__version__}))
    np.savez_compressed(HERE / "clipping_torch.npz", **out)


# The GradScaler cases: (init_scale, growth_factor, backoff_factor, growth_interval,
# steps, gradient size, {step: what its scaled gradient holds}). "big" is a finite
# 3e38 that only overflows when unscaled by a scale below 1. Stored as JSON in the npz.
SCALER_CASES = [
    (2.0**10, 2.0, 0.5, 3, 16, 4, {2: "inf", 6: "inf", 7: "nan", 11: "-inf"}),
    (2.0**16, 2.0, 0.5, 2000, 6, 5, {0: "nan", 1: "inf", 2: "nan", 3: "-inf"}),
    (3.0, 1.5, 0.25, 2, 14, 3, {4: "nan", 5: "inf", 9: "-inf"}),
    (0.25, 2.0, 0.5, 4, 10, 3, {1: "big", 2: "inf", 7: "big"}),
    (2.0**126, 2.0, 0.5, 2, 8, 3, {5: "inf"}),  # growth past float32's max is skipped
    # factors that float32 cannot hold: torch multiplies the float32 scale by the double
    # factor and rounds the product once (rounding the factor first can differ by an ulp)
    (7.0, 3.0, 0.3, 1, 12, 3, {1: "inf", 4: "nan", 5: "inf", 9: "-inf"}),
]


def gradscaler_runs():
    """Write ``gradscaler_torch.npz``.

    Keys: ``cases`` (JSON list: id, init_scale, growth_factor, backoff_factor,
    growth_interval, bad (step -> kind)), ``versions`` (JSON); per case ``<id>/w0``
    (the float32 parameters), ``<id>/scaled`` (the scaled gradient fed at each step: a
    float32 draw times ``get_scale()``, then the scripted entry), and after each step
    ``<id>/unscaled`` (``p.grad`` after ``scaler.step``), ``<id>/skipped`` (torch found
    inf/NaN and skipped SGD), ``<id>/scale`` and ``<id>/tracker`` (after
    ``scaler.update()``) and ``<id>/params``.
    """
    r = np.random.default_rng(7)
    out, cases = {}, []
    for i, (init, grow, back, interval, steps, n, bad) in enumerate(SCALER_CASES):
        cid = f"case{i}"
        w0 = r.normal(size=n).astype(np.float32)
        p = torch.nn.Parameter(torch.tensor(w0))
        opt = torch.optim.SGD([p], lr=0.1)
        ts = torch.amp.GradScaler("cpu", init_scale=init, growth_factor=grow,
                                  backoff_factor=back, growth_interval=interval)
        rec = {k: [] for k in ("scaled", "unscaled", "skipped", "scale", "tracker",
                               "params")}
        for k in range(steps):
            ts.scale(torch.ones(()))                  # what scaler.scale(loss) does
            g = r.normal(size=n).astype(np.float32)
            if init > 1e30:
                g *= np.float32(2.0**-120)            # keep g * scale finite
            scaled = g * np.float32(ts.get_scale())
            if k in bad:
                scaled[k % n] = {"inf": np.inf, "-inf": -np.inf, "nan": np.nan,
                                 "big": 3e38}[bad[k]]
            opt.zero_grad()
            p.grad = torch.tensor(scaled.copy())
            ts.step(opt)
            found = sum(float(f) for f in ts._found_inf_per_device(opt).values())
            rec["scaled"].append(scaled)
            rec["unscaled"].append(p.grad.numpy().copy())
            rec["skipped"].append(found > 0)
            ts.update()
            rec["scale"].append(ts.get_scale())
            rec["tracker"].append(ts._get_growth_tracker())
            rec["params"].append(p.detach().numpy().copy())
        out[f"{cid}/w0"] = w0
        for key, vals in rec.items():
            out[f"{cid}/{key}"] = np.array(vals)
        cases.append(dict(id=cid, init_scale=init, growth_factor=grow,
                          backoff_factor=back, growth_interval=interval,
                          bad={str(k): kind for k, kind in bad.items()}))
    out["cases"] = np.array(json.dumps(cases))
    out["versions"] = np.array(json.dumps({"torch": torch.__version__}))
    np.savez_compressed(HERE / "gradscaler_torch.npz", **out)


if __name__ == "__main__":
    print("torch", torch.__version__)
    writers = {"sgd": sgd_runs, "schedules": schedule_runs, "momentum": momentum_runs,
               "adaptive": adaptive_runs, "clipping": clipping_runs,
               "gradscaler": gradscaler_runs}
    for name in sys.argv[1:] or writers:
        writers[name]()
