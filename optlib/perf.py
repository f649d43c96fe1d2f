"""Measuring optlib's speed on this machine: the timing helper, the bandwidth floor and
the benchmarks that ``benchmarks/run.py`` prints and the performance appendix runs.

A shared machine is noisy, so nothing here trusts one timing: every measurement is
repeated, and a comparison is a *ratio* of two timings taken side by side, round after
round, reported as its median and its range over the rounds.

An optimizer step is memory bound. Per parameter it reads and writes a few words (Adam
reads p, g, m, v and writes p, m, v: 7 words, 28 bytes in float32), so no kernel can be
faster than that traffic divided by the memory bandwidth. The bandwidth is measured in
the same round by :func:`optlib._kernels.perf.stream`, the STREAM triad written in
place (3 words per entry); a kernel's *floor* is its words / 3 times the triad's time.

>>> import optlib as ol
>>> rows = ol.perf.step_table(10**5, repeat=3, names=["SGD"], torch=False)
>>> rows[0]["kernel"], rows[0]["words"]
('SGD', 3)
"""

import contextlib
import math
import os
import pkgutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from . import _validate as v
from . import (clipping, explorables, functions, models, optim, plotting, schedules,
               trajectory)
from ._kernels import models as _km
from ._kernels import optim as _ko
from ._kernels import perf as _k

LR, MU, ALPHA, BETAS, EPS, WD = 1e-3, 0.9, 0.99, (0.9, 0.999), 1e-8, 1e-2
MAX_NORM = 1e30  # clipping benchmark: the scale (1.0) is applied, g keeps its size
CHECK_MAX_NORM = 1.0  # clipping check: below the norm (~30 on 1000 entries), it clips


class Timing(NamedTuple):
    """The median and the range of repeated samples (seconds, or a ratio)."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, samples):
        return cls(statistics.median(samples), min(samples), max(samples))


def measure(fn, repeat=7, number=1):
    """Seconds per call of ``fn``: ``repeat`` samples of ``number`` calls each, after
    one warm-up call (compilation, first touch of memory); a :class:`Timing`."""
    if not callable(fn):
        raise TypeError(f"fn must be a function to time, got {fn!r}")
    repeat = v.integer("repeat", repeat, low=1)
    number = v.integer("number", number, low=1)
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return Timing.of(samples)


def rounds(fns, repeat=7):
    """Time every function of the dict ``fns`` once per round, ``repeat`` rounds, so
    that each round's timings share the machine's momentary load. Returns a dict of
    per-round sample arrays (seconds)."""
    if not (isinstance(fns, Mapping) and fns and all(map(callable, fns.values()))):
        raise TypeError("fns must be a non-empty dict of functions to time, e.g. "
                        f"{{'numpy': f, 'optlib': g}}, got {fns!r:.80}")
    repeat = v.integer("repeat", repeat, low=1)
    for fn in fns.values():
        fn()
    out = {name: np.empty(repeat) for name in fns}
    for r in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[name][r] = time.perf_counter() - t0
    return out


# --- the step kernels: optlib, NumPy array expressions, torch ----------------------

def _np_sgd(p, g, s, t):
    p -= LR * g


def _np_momentum(p, g, s, t):
    v = s[0]
    v *= MU
    v += g
    p -= LR * v


def _np_nesterov(p, g, s, t):
    v = s[0]
    v *= MU
    v += g
    p -= LR * (g + MU * v)


def _np_heavy_ball(p, g, s, t):
    v = s[0]
    v *= MU
    v += LR * g
    p -= v


def _np_adagrad(p, g, s, t):
    acc = s[0]
    acc += g * g
    p -= LR * g / (np.sqrt(acc) + 1e-10)


def _np_rmsprop(p, g, s, t):
    sq = s[0]
    sq *= ALPHA
    sq += (1 - ALPHA) * g * g
    p -= LR * g / (np.sqrt(sq) + EPS)


def _np_adam(p, g, s, t, wd=0.0):
    m, v = s[0], s[1]
    b1, b2 = BETAS
    if wd:  # AdamW's decoupled decay: a pass of its own, as in torch's foreach form
        p *= 1 - LR * wd
    m += (1 - b1) * (g - m)
    v *= b2
    v += (1 - b2) * g * g
    p -= LR / (1 - b1**t) * m / (np.sqrt(v) / math.sqrt(1 - b2**t) + EPS)


def _np_adamw(p, g, s, t):
    _np_adam(p, g, s, t, WD)


def _np_clip(g, max_norm):
    total = np.linalg.norm(g)
    g *= min(max_norm / (total + 1e-6), 1.0)


#: name: (words moved per parameter, optlib optimizer or None for clipping, NumPy step,
#: torch.optim class name and keyword arguments, or None)
STEP_CASES = {
    "SGD": (3, lambda: optim.GD(LR), _np_sgd, ("SGD", {})),
    "momentum (torch form)": (5, lambda: optim.Momentum(LR, MU), _np_momentum,
                              ("SGD", {"momentum": MU})),
    "momentum (textbook form)": (5, lambda: optim.HeavyBall(LR, MU), _np_heavy_ball,
                                 None),
    "Nesterov": (5, lambda: optim.Momentum(LR, MU, nesterov=True), _np_nesterov,
                 ("SGD", {"momentum": MU, "nesterov": True})),
    "Adagrad": (5, lambda: optim.Adagrad(LR), _np_adagrad, ("Adagrad", {})),
    "RMSprop": (5, lambda: optim.RMSprop(LR, ALPHA, EPS), _np_rmsprop,
                ("RMSprop", {"alpha": ALPHA, "eps": EPS})),
    "Adam": (7, lambda: optim.Adam(LR, BETAS, EPS), _np_adam, ("Adam", {})),
    "AdamW": (7, lambda: optim.AdamW(LR, BETAS, EPS, WD), _np_adamw,
              ("AdamW", {"weight_decay": WD})),
    "clip global norm": (3, None, _np_clip, None),
}


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def has_torch():
    """Whether torch is importable (optional: without it, its columns are left out)."""
    return _torch() is not None


def _data(n, dtype, seed=0):
    r = np.random.default_rng(seed)
    return r.normal(size=n).astype(dtype), r.normal(size=n).astype(dtype)


class _Runner:
    """One implementation of one case on its own copy of the data, taking steps."""

    def __init__(self, name, impl, p, g, torch_mod=None, max_norm=MAX_NORM):
        self.p, self.g, self.max_norm = p.copy(), g.copy(), max_norm
        words, make, np_step, torch_spec = STEP_CASES[name]
        if impl == "optlib" and make is None:
            self.call = lambda: clipping.clip_grad_norm(self.g, max_norm)
        elif impl == "numpy" and make is None:
            self.call = lambda: np_step(self.g, max_norm)
        elif impl == "optlib":
            opt = make()
            self.state = opt.init(self.p)

            def call():
                self.state = opt.step(self.p, self.g, self.state)
            self.call = call
        elif impl == "numpy":
            slots = [np.zeros_like(self.p) for _ in range(2)]
            self.t = 0

            def call():
                self.t += 1
                np_step(self.p, self.g, slots, self.t)
            self.call = call
        else:
            self.call = self._torch_call(name, impl, torch_mod, torch_spec)

    def _torch_call(self, name, impl, torch, spec):
        tp = torch.from_numpy(self.p)
        tp.grad = torch.from_numpy(self.g)
        flag = {"torch foreach": {"foreach": True},
                "torch fused": {"fused": True}}[impl]
        if spec is None and STEP_CASES[name][1] is None and impl == "torch foreach":
            clip = torch.nn.utils.clip_grad_norm_
            return lambda: clip([tp], self.max_norm, foreach=True)
        if spec is None:
            return None
        cls, kwargs = spec
        try:  # some options fail only on the first step: probe on a scratch tensor
            probe = torch.zeros(8, dtype=tp.dtype, requires_grad=True)
            probe.grad = torch.ones_like(probe)
            getattr(torch.optim, cls)([probe], lr=LR, **kwargs, **flag).step()
        except (RuntimeError, ValueError, TypeError):
            return None
        return getattr(torch.optim, cls)([tp], lr=LR, **kwargs, **flag).step


IMPLS = ("optlib", "numpy", "torch foreach", "torch fused")


def step_table(n=10**7, dtypes=(np.float32, np.float64), repeat=7, names=None,
               torch=True, threads=1):
    """Time every step kernel against NumPy, torch and the bandwidth floor.

    Returns one dict per (kernel, dtype): ``kernel, dtype, words, n, floor`` (a
    :class:`Timing` of the floor in seconds) and, per implementation in :data:`IMPLS`
    that exists, ``time`` and ``ratio`` (to the floor, per round) Timings and ``gbs``
    (effective GB/s at the median). ``check`` holds each implementation's largest
    difference from optlib's parameters after two steps from the same start, relative
    to the largest parameter; ``optlib/fused`` (when torch has a fused form) optlib's
    time over torch's fused time, round by round. torch runs with ``threads`` threads
    (optlib's kernels use one).
    """
    n = v.integer("n", n, low=8)
    dtypes = [v.float_dtype("dtypes", d) for d in
              v.listed("dtypes", dtypes, "dtypes", "(np.float32, np.float64)")]
    repeat = v.integer("repeat", repeat, low=1)
    names = list(STEP_CASES) if names is None else v.listed("names", names, "kernel names",
                                                             "['Adam', 'SGD']")
    for name in names:
        v.choice("names", name, tuple(STEP_CASES))
    torch_mod = _torch() if torch else None
    saved = torch_mod.get_num_threads() if torch_mod is not None else None
    try:
        if torch_mod is not None:
            torch_mod.set_num_threads(threads)
        return _step_rows(n, dtypes, repeat, names, torch_mod)
    finally:
        if torch_mod is not None:
            torch_mod.set_num_threads(saved)


def _step_rows(n, dtypes, repeat, names, torch_mod):
    rows = []
    for dtype in dtypes:
        p, g = _data(n, dtype)
        a, b = np.ones(n, dtype), np.ones(n, dtype)
        # the triad's scalar in the arrays' type: a Python float would make a float32
        # triad compute in float64 (converting every entry), a slower "floor"
        zero = a.dtype.type(0.0)
        for name in names:
            words = STEP_CASES[name][0]
            impls = IMPLS if torch_mod is not None else IMPLS[:2]
            runners = {i: _Runner(name, i, p, g, torch_mod) for i in impls}
            runners = {i: r for i, r in runners.items() if r.call is not None}
            check = _check(name, p[:1000], g[:1000], list(runners), torch_mod)
            fns = {"floor": lambda: _k.stream(a, b, zero)}
            fns.update({i: r.call for i, r in runners.items()})
            samples = rounds(fns, repeat)
            floor = samples["floor"] * words / 3
            row = dict(kernel=name, dtype=np.dtype(dtype).name, words=words, n=n,
                       floor=Timing.of(floor), check=check)
            for impl in runners:
                t = samples[impl]
                gbs = words * n * p.itemsize / statistics.median(t) / 1e9
                row[impl] = dict(time=Timing.of(t), ratio=Timing.of(t / floor),
                                 gbs=gbs)
            if "optlib" in runners and "torch fused" in runners:  # round by round
                row["optlib/fused"] = Timing.of(samples["optlib"] / samples["torch fused"])
            rows.append(row)
    return rows


def _check(name, p, g, impls, torch_mod):
    """Largest difference from optlib's parameters after two steps, relative to their
    largest entry (clipping: from optlib's clipped gradient, clipped at CHECK_MAX_NORM,
    below its norm, so that the scaling is exercised)."""
    runners = {i: _Runner(name, i, p, g, torch_mod, CHECK_MAX_NORM) for i in impls}
    for r in runners.values():
        for _ in range(2):
            r.g[:] = g  # torch's foreach Nesterov overwrites the gradient it is given
            r.call()
    ref = runners["optlib"].g if STEP_CASES[name][1] is None else runners["optlib"].p
    out = {}
    for impl, r in runners.items():
        got = r.g if STEP_CASES[name][1] is None else r.p
        out[impl] = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
    return out


def format_table(rows, brief=False):
    """The rows of :func:`step_table` as a text table: per implementation the median
    time, its effective GB/s and its ratio to the floor as median [low-high]; with
    ``brief``, only the median ratio to the floor (narrow enough for a book page)."""
    impls = [i for i in IMPLS if any(i in r for r in rows)]
    fused = "torch fused" in impls
    if brief:
        short = {"torch foreach": "foreach", "torch fused": "fused"}
        head = f"{'kernel':25s}{'dtype':>8s}" + "".join(f"{short.get(i, i):>9s}"
                                                       for i in impls)
        head += f"{'vs fused':>10s}" if fused else ""
    else:
        head = f"{'kernel':26s}{'dtype':>8s}{'floor ms':>10s}"
        for i in impls:
            head += f" | {i + ' ms':>16s} {'GB/s':>5s} {'x floor':>16s}"
        head += f" | {'optlib/fused':>18s}" if fused else ""
    lines = [head, "-" * len(head)]
    for r in rows:
        if brief:
            line = f"{r['kernel']:25s}{r['dtype']:>8s}"
            for i in impls:
                line += f"{r[i]['ratio'].median:8.2f}x" if i in r else f"{'-':>9s}"
        else:
            line = f"{r['kernel']:26s}{r['dtype']:>8s}{1e3 * r['floor'].median:10.2f}"
            for i in impls:
                if i not in r:
                    line += f" | {'-':>40s}"
                    continue
                t, q = r[i]["time"], r[i]["ratio"]
                line += (f" | {1e3 * t.median:16.2f} {r[i]['gbs']:5.1f} "
                         f"{q.median:6.2f} [{q.low:.2f}-{q.high:.2f}]")
        if fused:
            q = r.get("optlib/fused")
            if brief:
                line += f"{q.median:10.2f}" if q else f"{'-':>10s}"
            else:
                line += (f" | {q.median:5.2f} [{q.low:.2f}-{q.high:.2f}]" if q
                         else f" | {'-':>18s}")
        lines.append(line)
    return "\n".join(lines)


def parallel_adam(n=10**7, dtype=np.float32, repeat=7, torch=True):
    """Adam's step on one thread and on all threads: the triad, optlib's serial kernel
    against its parallel twin, and torch's fused Adam with 1 thread against all.

    Returns ({name: Timing in seconds}, {pair: Timing of the per-round speed-up}, the
    number of threads, and whether the two optlib kernels agree bitwise after the same
    number of steps). numba and torch run in separate rounds: each keeps its own pool
    of threads spinning for a while after a parallel loop, which would slow the other.
    """
    from numba import get_num_threads

    n = v.integer("n", n, low=8)
    dtype = v.float_dtype("dtype", dtype)
    repeat = v.integer("repeat", repeat, low=1)
    p, g = _data(n, dtype)
    serial, parallel = ([p.copy(), g, np.zeros_like(p), np.zeros_like(p)]
                        for _ in range(2))
    empty = np.empty(0, dtype)
    count = {"serial": 0, "parallel": 0}

    def run(name):
        if name == "serial":
            _ko.adam_step(*serial, empty, LR, *BETAS, EPS, 0.0, False, False, False,
                          count[name])
        else:
            _k.adam_step_parallel(*parallel, LR, *BETAS, EPS, 0.0, False, False,
                                  count[name])
        count[name] += 1

    a, b = np.ones(n, dtype), np.ones(n, dtype)
    zero = a.dtype.type(0.0)  # as in step_table: the triad in the arrays' type
    samples = rounds({"triad, 1 thread": lambda: _k.stream(a, b, zero),
                      "triad, all threads": lambda: _k.stream_parallel(a, b, zero),
                      "optlib Adam, 1 thread": lambda: run("serial"),
                      "optlib Adam, all threads": lambda: run("parallel")}, repeat)
    pairs = {"triad": ("triad, 1 thread", "triad, all threads"),
             "optlib Adam": ("optlib Adam, 1 thread", "optlib Adam, all threads")}
    torch_mod = _torch() if torch else None
    if torch_mod is not None:
        tp = torch_mod.from_numpy(p.copy())
        tp.grad = torch_mod.from_numpy(g.copy())
        step = torch_mod.optim.Adam([tp], lr=LR, fused=True).step
        threads = torch_mod.get_num_threads()

        def on(k):
            def call():
                torch_mod.set_num_threads(k)
                try:
                    step()
                finally:
                    torch_mod.set_num_threads(threads)
            return call
        samples.update(rounds({"torch fused Adam, 1 thread": on(1),
                               "torch fused Adam, all threads": on(threads)}, repeat))
        pairs["torch fused Adam"] = ("torch fused Adam, 1 thread",
                                     "torch fused Adam, all threads")
    equal = count["serial"] == count["parallel"] and all(
        np.array_equal(x, y) for x, y in zip(serial, parallel))
    times = {k: Timing.of(s) for k, s in samples.items()}
    speedups = {k: Timing.of(samples[one] / samples[many])
                for k, (one, many) in pairs.items()}
    return times, speedups, get_num_threads(), bool(equal)


# --- whole-loop comparisons ---------------------------------------------------------

def python_adam_rosenbrock(x0, steps, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, a=1.0,
                           b=100.0):
    """Adam on the 2-D Rosenbrock function in plain Python floats, recording every
    iterate, value and gradient norm as ``trajectory.run`` does: the loop a reader
    would write. Returns (xs, fs, gnorms)."""
    x, y = v.float_array("x0", x0, shape=(2,)).tolist()
    steps = v.integer("steps", steps, low=1)
    lr, eps = v.positive("lr", lr), v.positive("eps", eps)
    b1, b2 = (v.real(name, b, low=0.0, high=1.0, high_inclusive=False)
              for name, b in (("b1", b1), ("b2", b2)))
    a, b = v.real("a", a), v.real("b", b)
    m = [0.0, 0.0]
    s = [0.0, 0.0]
    xs, fs, gnorms = [(x, y)], [b * (y - x * x) ** 2 + (a - x) ** 2], []
    for k in range(steps):
        grad = (-4.0 * b * x * (y - x * x) - 2.0 * (a - x), 2.0 * b * (y - x * x))
        gnorms.append(math.sqrt(grad[0] * grad[0] + grad[1] * grad[1]))
        t = k + 1
        new = []
        for i, (w, gi) in enumerate(zip((x, y), grad)):
            m[i] = b1 * m[i] + (1 - b1) * gi
            s[i] = b2 * s[i] + (1 - b2) * gi * gi
            denom = math.sqrt(s[i]) / math.sqrt(1 - b2**t) + eps
            new.append(w - lr / (1 - b1**t) * m[i] / denom)
        x, y = new
        xs.append((x, y))
        fs.append(b * (y - x * x) ** 2 + (a - x) ** 2)
    return np.array(xs), np.array(fs), np.array(gnorms)


class _Objective:
    """A built-in landscape hidden behind plain methods: ``trajectory.run`` then takes
    its Python loop (NumPy arrays, one ``opt.step`` per step), as for a user's
    function."""

    def __init__(self, fn):
        self.fn, self.x0 = fn, fn.x0

    def value(self, x):
        return self.fn.value(x)

    def grad(self, x):
        return self.fn.grad(x)


def hand_adam_rosenbrock(steps, x0=None, lr=LR):
    """:func:`optlib._kernels.perf.adam_rosenbrock`, the hand-specialised jitted loop,
    for ``steps`` steps from ``x0`` (default the function's start): (xs, fs, gnorms)."""
    steps = v.integer("steps", steps, low=1)
    lr = v.positive("lr", lr)
    fn = functions.rosenbrock()
    x0 = v.float_array("x0", fn.x0 if x0 is None else x0, shape=(2,), copy=True)
    xs, fs, gnorms = np.empty((steps + 1, 2)), np.empty(steps + 1), np.empty(steps)
    _k.adam_rosenbrock(x0.astype(np.float64), lr, *BETAS, EPS, *fn.prm, xs, fs, gnorms)
    return xs, fs, gnorms


def trajectory_speedup(steps=100_000, repeat=3, numpy_steps=10_000):
    """Adam on Rosenbrock for ``steps`` steps: the jitted ``trajectory.run`` against a
    pure-Python loop over floats, against ``trajectory.run``'s own Python loop over
    NumPy arrays (timed for ``numpy_steps`` steps and scaled), against the ceiling,
    a jitted loop written by hand for this one case (:func:`hand_adam_rosenbrock`), and
    against the floor of any loop with this arithmetic: that loop's chain of dependent
    operations alone, nothing recorded (:func:`optlib._kernels.perf.adam_rosenbrock_chain`).

    Every implementation runs once per round (``repeat`` rounds, :func:`rounds`).
    Returns {name: Timing}, {name: Timing of its time over ``trajectory.run``'s in the
    same round} (and ``"pure Python / chain alone"``, likewise), the largest
    |difference| between the jitted and the
    pure-Python iterates over the first 1000 steps (later they drift apart slowly: the
    reader's ``b1 m + (1 - b1) g`` and torch's lerp, which the kernel follows, round
    differently from step 375 on, and Adam on Rosenbrock amplifies it), and whether the
    hand-written loop recorded exactly what ``trajectory.run`` recorded."""
    steps = v.integer("steps", steps, low=1)
    repeat = v.integer("repeat", repeat, low=1)
    numpy_steps = v.integer("numpy_steps", numpy_steps, low=1)
    fn = functions.rosenbrock()
    opt = optim.Adam(LR)
    m = min(steps, numpy_steps)
    x0 = fn.x0.astype(np.float64)
    samples = rounds({
        "optlib trajectory.run": lambda: trajectory.run(opt, fn, steps=steps),
        "hand-written jitted loop": lambda: hand_adam_rosenbrock(steps),
        "dependency chain alone": lambda: _k.adam_rosenbrock_chain(  # from the start
            x0.copy(), LR, 1.0, *BETAS, EPS, *fn.prm, steps),           # every round
        "pure Python floats": lambda: python_adam_rosenbrock(fn.x0, steps),
        "Python loop of opt.step": lambda: trajectory.run(opt, _Objective(fn), steps=m)},
        repeat)
    samples["Python loop of opt.step"] *= steps / m  # timed for m steps, scaled
    fast = samples["optlib trajectory.run"]
    times = {name: Timing.of(t) for name, t in samples.items()}
    ratios = {name: Timing.of(t / fast) for name, t in samples.items() if t is not fast}
    ratios["pure Python / chain alone"] = Timing.of(samples["pure Python floats"]
                                                    / samples["dependency chain alone"])
    run = trajectory.run(opt, fn, steps=steps)
    xs, _, _ = python_adam_rosenbrock(fn.x0, steps)
    diff = float(np.abs(run.x - xs)[:1001].max())
    same = all(np.array_equal(a, b) for a, b in
               zip(hand_adam_rosenbrock(steps), (run.x, run.loss, run.grad_norm)))
    return times, ratios, diff, same


def _python_cosine(k, lr0, T, eta_min):
    return eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * min(k, T) / T)) / 2


def _python_step(k, lr0, s, gamma):
    return lr0 * gamma ** (k // s)


def schedule_speedups(n=10**6, repeat=5):
    """Evaluating a schedule at ``n`` steps: one array call against a Python loop over
    the scalar formula (and, for one-cycle, over the scalar API: 20,000 calls, scaled to
    n), side by side in each of ``repeat`` rounds. Returns {name: (Timing array call,
    Timing Python loop for n steps, Timing of their ratio round by round)}."""
    n = v.integer("n", n, low=1000)
    steps = np.arange(n)
    cases = {
        "cosine": (schedules.cosine(0.1, n, 1e-4),
                   lambda k: _python_cosine(k, 0.1, n, 1e-4)),
        "step decay": (schedules.step_decay(0.1, 1000, 0.5),
                       lambda k: _python_step(k, 0.1, 1000, 0.5)),
        "one-cycle (scalar API calls)": (schedules.one_cycle(0.1, n), None),
    }
    out = {}
    for name, (sched, scalar) in cases.items():
        m = n
        if scalar is None:  # the scalar call path, one step at a time: extrapolated
            scalar, m = sched, min(n, 20_000)
        np.testing.assert_allclose(sched(steps[:1000]),
                                   [scalar(k) for k in range(1000)], rtol=1e-12)
        t = rounds({"array": lambda: sched(steps),
                    "loop": lambda: [scalar(k) for k in range(m)]}, repeat)
        loop = t["loop"] * n / m
        out[name] = (Timing.of(t["array"]), Timing.of(loop), Timing.of(loop / t["array"]))
    return out


def tanh_times(n=10**5, repeat=7, seed=0):
    """Nanoseconds per entry of tanh over ``n`` float64 entries (normal, sd 2), three
    ways timed round by round: Numba's tanh (a C library call per entry), optlib's
    :func:`optlib._kernels.models.tanh` (the models' hidden units) and NumPy's
    ``np.tanh`` (NumPy's own vectorised code). Each call first copies the input into the
    work array (the same copy for all three). Returns ({name: Timing}, the largest
    difference between optlib's and NumPy's result in units of the last place)."""
    n = v.integer("n", n, low=1)
    x = np.random.default_rng(v.integer("seed", seed, low=0)).normal(scale=2.0, size=n)
    work = np.empty_like(x)

    def run(fn):
        def call():
            work[:] = x
            fn(work)
        return call

    fns = {"Numba np.tanh (C library)": run(_k.tanh_libm),
           "optlib tanh (vectorised)": run(_km.tanh_inplace),
           "NumPy np.tanh": run(lambda a: np.tanh(a, out=a))}
    samples = rounds(fns, repeat)
    ours, numpy_tanh = x.copy(), np.tanh(x)
    _km.tanh_inplace(ours)
    ulps = float(np.max(np.abs(ours - numpy_tanh) / np.spacing(np.abs(numpy_tanh))))
    return {name: Timing.of([1e9 * t / n for t in s.tolist()])
            for name, s in samples.items()}, ulps


def widget_times(repeat=5):
    """The compute part of one slider update of each widget in :mod:`optlib.widgets`
    (what runs before drawing). Returns {widget: Timing}."""
    return {name: measure(fn, repeat) for name, fn in _widget_work().items()}


@contextlib.contextmanager
def _wrapped_models(wrap):
    """While the block runs, every ``_kernel`` and ``_predict`` of the models in
    :mod:`optlib.models` is replaced by ``wrap(name, method)``; put back after, also
    when the block raises."""
    saved = [(cls, name, cls.__dict__[name]) for cls in vars(models).values()
             if isinstance(cls, type) and issubclass(cls, models.Model)
             for name in ("_kernel", "_predict") if name in cls.__dict__]
    try:
        for cls, name, method in saved:
            setattr(cls, name, wrap(name, method))
        yield
    finally:
        for cls, name, method in saved:
            setattr(cls, name, method)


def model_share(fn, repeat=3):
    """The share of ``fn``'s time spent inside the models' own computations (every
    ``_kernel`` and ``_predict`` of :mod:`optlib.models`; a call inside another counts
    once), per run of ``fn``, over ``repeat`` runs after a warm-up: a :class:`Timing`.
    The rest is the Python around them (the training loop, the optimizer's steps).
    For ``fn`` on one thread: calls from several threads at once would overlap."""
    repeat = v.integer("repeat", repeat, low=1)
    spent, depth = [0.0], [0]

    def timed(name, method):
        def call(*args):
            depth[0] += 1
            t0 = time.perf_counter()
            try:
                return method(*args)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent[0] += time.perf_counter() - t0
        return call

    shares = []
    with _wrapped_models(timed):
        fn()
        for _ in range(repeat):
            spent[0] = 0.0
            t0 = time.perf_counter()
            fn()
            shares.append(spent[0] / (time.perf_counter() - t0))
    return Timing.of(shares)


def kernel_calls(fn):
    """The model kernel calls that ``fn`` makes, in order: (model, shape of X, whether
    a gradient was asked for)."""
    calls = []

    def count(name, method):
        if name != "_kernel":
            return method

        def call(model, params, X, y, grad):
            calls.append((model, X.shape, grad.size > 0))
            return method(model, params, X, y, grad)
        return call

    with _wrapped_models(count):
        fn()
    return calls


def model_shares(repeat=3):
    """:func:`model_share` of each widget that trains a network: {widget: Timing}."""
    work = _widget_work()
    return {name: model_share(work[name], repeat)
            for name in ("schedule_explorer", "clipping_explorer", "recipe_explorer")}


def _widget_work():
    """{widget: the computation behind one of its slider moves}."""
    quad, rosen = functions.get("quadratic"), functions.rosenbrock()
    q50 = functions.quadratic(cond=50.0, angle=0.5)
    racers = {"gd": 1e-3, "momentum": 1e-3, "adam": 1e-2}
    work = {
        "lr_explorer": lambda: trajectory.run(optim.GD(lr=0.1), quad, [1.0, 1.5],
                                              steps=100),
        "momentum_explorer": lambda: trajectory.run(optim.HeavyBall(1.0 / q50.L, 0.8),
                                                    q50, steps=100),
        "race_explorer": lambda: explorables.race_runs(rosen, racers, 1000),
        "schedule_explorer": lambda: explorables.digits_run("cosine", 0.5, 2,
                                                            epochs=10),
        "clipping_explorer": lambda: explorables.adding_run(0.3, epochs=10,
                                                            full_train_loss=False),
        "second_order_explorer": lambda: explorables.second_order_run(
            functions.himmelblau(), "Newton (modified)", [0.0, 0.0]),
        "recipe_explorer": lambda: explorables.recipe_run("adamw + warmup + cosine",
                                                          3e-3, epochs=5),
    }
    return work


def rnn_flops(n_hidden, n_out, length, train_seqs, eval_seqs):
    """Floating-point operations in the matrix products of the RNN kernel
    (:func:`optlib._kernels.models.rnn`): training on ``train_seqs`` sequences (forward
    and backward) and evaluating ``eval_seqs`` (forward only), of ``length`` steps each.
    Only the products, 2 per multiply-add: a lower bound of the arithmetic (the inputs'
    share, tanh and the elementwise work come on top, in loops)."""
    h, k = n_hidden, n_out
    forward = length * h * h + h * k  # the recurrence at every step, then the output
    # the output's weights and dL/dH[T]; dL/dW_hh over all steps; dL/dH[t - 1] for t > 1
    backward = 2 * h * k + length * h * h + (length - 1) * h * h
    return 2 * (train_seqs * (forward + backward) + eval_seqs * forward)


def matmul_rates(sizes=(32, 512), repeat=5):
    """GFLOP/s of products of two float64 square matrices of each size, made inside
    compiled code as the models' kernels make them (Numba calling OpenBLAS, on one
    thread, in a fresh interpreter), best of ``repeat`` rounds. Returns {size: GFLOP/s}."""
    sizes = [v.integer("sizes", n, low=1, high=4096) for n in sizes]
    repeat = v.integer("repeat", repeat, low=1)
    code = ("import time, numpy as np\n"
            "from optlib._kernels.perf import matmul_repeat\n"
            f"for n in {sizes!r}:\n"
            "    a, b = np.random.rand(n, n), np.random.rand(n, n)\n"
            "    calls = max(1, 10**8 // n**3)\n"
            "    matmul_repeat(a, b, 1)\n"
            "    best = []\n"
            f"    for _ in range({repeat}):\n"
            "        t = time.perf_counter()\n"
            "        matmul_repeat(a, b, calls)\n"
            "        best.append((time.perf_counter() - t) / calls)\n"
            "    print(n, 2 * n**3 / min(best) / 1e9)\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    lines = _fresh_python(code, env).split("\n")
    return {int(a): float(b) for a, b in (line.split() for line in lines if line)}


def clipping_widget_floor():
    """What one move of the clipping widget computes (the work :func:`widget_times`
    times): (GFLOP in the matrix products of the RNN kernel calls it makes, counted
    with :func:`kernel_calls` and :func:`rnn_flops`, a :func:`matmul_rates` dict, the
    milliseconds those products alone take at each rate)."""
    flops = 0
    for model, (n, length, _), with_grad in kernel_calls(_widget_work()["clipping_explorer"]):
        train, evaluate = (n, 0) if with_grad else (0, n)
        flops += rnn_flops(model.n_hidden, model.n_out, length, train, evaluate)
    rates = matmul_rates()
    return flops / 1e9, rates, {n: 1e3 * flops / (r * 1e9) for n, r in rates.items()}


def draw_time(repeat=5):
    """For scale beside :func:`widget_times`: drawing what the schedule widget shows after
    a move (its two panels, with the same plotting code) and encoding it as the PNG that
    a notebook displays. Returns a Timing."""
    import io

    import matplotlib.pyplot as plt

    repeat = v.integer("repeat", repeat, low=1)
    lr, hist = explorables.digits_run("cosine", 0.5, 2, epochs=10)

    def draw():
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        plotting.schedule_panels(axes, lr, hist.train_loss, label="cosine")
        fig.suptitle("cosine")
        fig.tight_layout()
        fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)

    return measure(draw, repeat)


# --- start-up: import and compile times, in fresh interpreters ----------------------

#: What each chapter runs first: the calls whose kernels compile (``compile_times``).
CHAPTERS = {
    "1 gradient descent": "ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(),"
                          " steps=10)",
    "2 schedules (+ MLP)": "ol.schedules.cosine(0.1, 100)(np.arange(10)); "
                           "ol.explorables.digits_run('cosine', 0.5, 2, epochs=1)",
    "3 momentum": "ol.trajectory.run(ol.optim.Momentum(0.01, nesterov=True), "
                  "ol.functions.rosenbrock(), steps=10); "
                  "ol.trajectory.run(ol.optim.NesterovLookahead(0.01), "
                  "ol.functions.rosenbrock(), steps=10)",
    "4 clipping (+ RNN)": "ol.clipping.clip_grad_norm(np.ones(10), 1.0); "
                          "ol.explorables.adding_run(1.0, epochs=1)",
    "5 adaptive": "o = ol.optim.Adam(); w = np.ones(10); o.step(w, w, o.init(w)); "
                  "ol.trajectory.run(ol.optim.Adam(0.01), ol.functions.beale(), "
                  "steps=10)",
    "6 second order": "ol.second_order.lbfgs(ol.functions.rosenbrock(dim=10)); "
                      "ol.second_order.newton(ol.functions.himmelblau())",
    "7 pipeline (+ chain)": "ol.explorables.recipe_run('adamw + warmup + cosine', "
                            "3e-3, epochs=1)",
}


def _fresh_python(code, env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return out.stdout


def blas_threads(epochs=1):
    """Chapter 4's RNN (many small matrix products through OpenBLAS) trained for
    ``epochs`` epochs in fresh interpreters, with OpenBLAS limited to one thread and
    with its default (one per core). Returns {setting: seconds} and whether the two
    runs' final test losses are bitwise equal."""
    epochs = v.integer("epochs", epochs, low=1)
    code = ("import time, optlib as ol; ol.explorables.adding_run(0.3, epochs=1); "
            "t = time.perf_counter(); "
            f"h = ol.explorables.adding_run(0.3, epochs={epochs}); "
            "print(time.perf_counter() - t, repr(float(h.test_loss[-1])))")
    default = {k: x for k, x in os.environ.items()
               if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    runs = {"OpenBLAS on 1 thread": dict(default, OPENBLAS_NUM_THREADS="1"),
            "OpenBLAS default threads": default}
    out = {name: _fresh_python(code, env).split() for name, env in runs.items()}
    losses = {r[1] for r in out.values()}
    return {name: float(r[0]) for name, r in out.items()}, len(losses) == 1


def import_time(repeat=5, modules=()):
    """Seconds for ``import optlib`` in a fresh interpreter (a :class:`Timing` over
    ``repeat`` interpreters), and whether that import loaded numba (it must not: nothing
    compiles at import). ``modules``: optlib modules imported too, in the same timing
    (e.g. ``MODULES``, everything the chapters load; they do load numba)."""
    repeat = v.integer("repeat", repeat, low=1)
    modules = v.listed("modules", modules, "optlib module names", "['optim', 'models']")
    for m in modules:
        v.choice("modules", m, MODULES)
    names = ", ".join(["optlib"] + [f"optlib.{m}" for m in modules])
    code = (f"import sys, time; t = time.perf_counter(); import {names}; "
            "print(time.perf_counter() - t, 'numba' in sys.modules)")
    runs = [_fresh_python(code, dict(os.environ)).split() for _ in range(repeat)]
    return Timing.of([float(r[0]) for r in runs]), any(r[1] == "True" for r in runs)


def compile_times(chapters=None):
    """First-call seconds of each chapter's kernels (``CHAPTERS``): cold, in a fresh
    interpreter with an empty ``NUMBA_CACHE_DIR`` of its own, then in a second fresh
    interpreter with the on-disk cache the first one filled. Numba and every optlib
    module are imported before the clock starts, so each figure is the compilation (or
    the loading from the cache) and the run of a few small calls. ``chapters``: names
    from ``CHAPTERS`` (default all). Returns {chapter: (cold, cached)}."""
    chapters = list(CHAPTERS) if chapters is None else v.listed(
        "chapters", chapters, "chapter names from CHAPTERS", f"[{next(iter(CHAPTERS))!r}]")
    for name in chapters:
        v.choice("chapters", name, tuple(CHAPTERS))
    modules = ", ".join(f"optlib.{m}" for m in MODULES)
    out = {}
    for name in chapters:
        code = (f"import time, numba, numpy as np, optlib as ol, {modules}\n"
                f"t = time.perf_counter(); {CHAPTERS[name]}; "
                "print(time.perf_counter() - t)\n")
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
            out[name] = tuple(float(_fresh_python(code, env)) for _ in ("cold", "cached"))
    return out


#: optlib's public modules, imported before :func:`compile_times` starts its clock.
MODULES = tuple(sorted(m.name for m in pkgutil.iter_modules([os.path.dirname(__file__)])
                       if not m.name.startswith("_")))
