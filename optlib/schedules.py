"""Learning-rate schedules: pure functions of the 0-based step, validated when built.

A schedule ``s`` is called with an integer step (``s(0)`` is the rate of the first step)
or with an integer array of steps, which one jitted kernel evaluates. Any optimizer
accepts a schedule as its ``lr``.

>>> import optlib as ol
>>> s = ol.schedules.cosine(0.1, T_max=100, eta_min=0.001)
>>> float(s(0)), float(s(100))
(0.1, 0.001)
>>> opt = ol.optim.GD(lr=s)

Which peer each schedule reproduces, and where the book's formula differs from it, is
stated in each docstring and pinned by ``tests/test_schedules.py``.
"""

import bisect
import math
from typing import NamedTuple

import numpy as np

from . import _validate as v
from ._kernels import schedules as _k


class Schedule:
    """A schedule evaluated by the kernel ``_k.value`` with id ``sid`` and numbers ``prm``."""

    def __init__(self, name, sid, prm, **kwargs):
        self.name = name
        self.sid = sid
        self.prm = np.asarray(prm, dtype=np.float64)
        self.kwargs = kwargs

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.name}({args})"

    #: The last valid step, for schedules defined on a finite run (one-cycle).
    last_step = None

    def __call__(self, step):
        steps, scalar = _steps(step)
        if scalar:  # one step: the scalar kernel, with no arrays to make
            return self._value(steps)
        out = np.empty(steps.shape)
        self._fill(steps.reshape(-1), out.reshape(-1))
        return out

    def _value(self, k):
        """Evaluate at one validated step ``k``, an int (also used by composites)."""
        self._check_last(k)
        return float(_k.value(self.sid, self.prm, k))

    def _fill(self, steps, out):
        """Evaluate at validated int64 ``steps`` into ``out`` (also used by composites)."""
        if self.last_step is not None and steps.size:
            self._check_last(steps.max())
        _k.values(self.sid, self.prm, steps, out)

    def _check_last(self, k):
        if self.last_step is not None and k > self.last_step:
            raise ValueError(f"step must be <= {self.last_step} for {self!r} (the run's "
                             f"length), got {k}")


#: The largest step a schedule accepts (steps stay exact in float64 below it).
MAX_STEP = v.MAX_STEP


def _steps(step):
    """Validate a step or an array of steps; returns (an int and True for one step, an
    int64 array and False for an array)."""
    if isinstance(step, (int, np.integer)) and not isinstance(step, bool):
        low = high = step = int(step)  # one step: no array, no reductions
    else:
        arr = np.asarray(step)
        if arr.dtype.kind not in "iu" or isinstance(step, (bool, np.bool_)):
            raise TypeError(f"step must be an integer or an integer array, got {step!r}")
        if arr.ndim == 0:
            low = high = step = int(arr)
        else:
            low, high = (arr.min(), arr.max()) if arr.size else (0, 0)
            step = arr.astype(np.int64, copy=False)
    if low < 0:
        raise ValueError(f"step must be >= 0 (steps count from 0), got {low}")
    if high > MAX_STEP:
        raise ValueError(f"step must be <= 2**53 = {MAX_STEP}, got {high}")
    return step, isinstance(step, int)


def _rate(name, value):
    return v.positive(name, value)


def constant(lr):
    """lr at every step."""
    lr = _rate("lr", lr)
    return Schedule("constant", _k.CONSTANT, [lr], lr=lr)


def inverse_time(lr0, decay_rate, decay_steps=1, staircase=False):
    r"""Time-based decay :math:`\eta_k = \eta_0 / (1 + r\,p)`, :math:`p = k / \text{decay\_steps}`.

    ``staircase=True`` floors ``p``. The seed's :math:`\eta_0/(1 + kt)` is
    ``decay_steps=1, decay_rate=k``. Same as Keras ``InverseTimeDecay``.
    """
    lr0 = _rate("lr0", lr0)
    decay_rate = v.real("decay_rate", decay_rate, low=0.0)
    decay_steps = v.integer("decay_steps", decay_steps, low=1, high=MAX_STEP)
    staircase = v.boolean("staircase", staircase)
    return Schedule("inverse_time", _k.INVERSE_TIME,
                    [lr0, decay_rate, decay_steps, float(staircase)],
                    lr0=lr0, decay_rate=decay_rate, decay_steps=decay_steps,
                    staircase=staircase)


def step_decay(lr0, step_size, gamma=0.1):
    r"""Step decay :math:`\eta_0\,\gamma^{\lfloor k / s \rfloor}` (torch ``StepLR``)."""
    lr0 = _rate("lr0", lr0)
    step_size = v.integer("step_size", step_size, low=1, high=MAX_STEP)
    gamma = v.positive("gamma", gamma)
    return Schedule("step_decay", _k.STEP, [lr0, step_size, gamma], lr0=lr0,
                    step_size=step_size, gamma=gamma)


def multi_step(lr0, milestones, gamma=0.1):
    r"""Multiply by :math:`\gamma` at each milestone step (torch ``MultiStepLR``).

    The rate changes *at* the milestone: with ``milestones=[30]``, steps 0-29 use lr0 and
    step 30 uses lr0 * gamma. (Keras ``PiecewiseConstantDecay`` changes one step later.)
    A milestone listed twice multiplies twice, as in torch.
    """
    lr0 = _rate("lr0", lr0)
    gamma = v.positive("gamma", gamma)
    ms = sorted(v.integer(f"milestones[{i}]", m, low=1, high=MAX_STEP)
                for i, m in enumerate(v.listed("milestones", milestones, "steps", "[30, 80]")))
    if not ms:
        raise ValueError("milestones must hold at least one step")
    return Schedule("multi_step", _k.MULTI_STEP, [lr0, gamma, *ms], lr0=lr0,
                    milestones=ms, gamma=gamma)


def exponential(lr0, gamma=None, k=None):
    r"""Exponential decay: :math:`\eta_0 \gamma^t` (torch ``ExponentialLR``) or :math:`\eta_0 e^{-kt}`.

    Give exactly one of ``gamma`` (the factor per step) and ``k`` (the continuous rate
    of the seed's formula). They describe the same schedule when
    :math:`\gamma = e^{-k}`, i.e. :math:`k = -\ln\gamma`.
    """
    lr0 = _rate("lr0", lr0)
    if (gamma is None) == (k is None):
        raise ValueError("exponential needs exactly one of gamma (factor per step) "
                         "and k (rate in exp(-k t))")
    if gamma is None:
        k = v.real("k", k, low=0.0, high=700.0)  # e^-k underflows to 0 near 745
        gamma = math.exp(-k)
    gamma = v.positive("gamma", gamma)
    return Schedule("exponential", _k.EXPONENTIAL, [lr0, gamma], lr0=lr0, gamma=gamma)


def cosine(lr0, T_max, eta_min=0.0, after="hold"):
    r"""Cosine annealing :math:`\eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})(1 + \cos(\pi k / T_{\max}))`.

    Equal to the closed form of torch ``CosineAnnealingLR`` up to ``T_max``. After it,
    ``after="hold"`` stays at ``eta_min`` (Keras ``CosineDecay``, optax), while
    ``after="periodic"`` continues the cosine, rising back towards lr0 over the next
    ``T_max`` steps, which is what torch does.
    """
    lr0 = _rate("lr0", lr0)
    T_max = v.integer("T_max", T_max, low=1, high=MAX_STEP)
    eta_min = v.real("eta_min", eta_min, low=0.0)
    if eta_min > lr0:
        raise ValueError(f"eta_min must be <= lr0 (the schedule decays), got eta_min={eta_min} "
                         f"> lr0={lr0}")
    v.choice("after", after, ("hold", "periodic"))
    return Schedule("cosine", _k.COSINE, [lr0, T_max, eta_min, float(after == "hold")],
                    lr0=lr0, T_max=T_max, eta_min=eta_min, after=after)


def cosine_restarts(lr0, T_0, T_mult=1, eta_min=0.0):
    r"""Cosine with warm restarts, SGDR (torch ``CosineAnnealingWarmRestarts``).

    Cycle :math:`i` lasts :math:`T_i = T_0 T_{\text{mult}}^i` steps; within it
    :math:`T_{\text{cur}}` runs 0, 1, ..., :math:`T_i - 1` and the rate follows the
    cosine from lr0 towards eta_min. Because :math:`T_{\text{cur}}` never equals
    :math:`T_i`, ``eta_min`` itself is never reached: the rate jumps back to lr0 one step
    before (the SGDR paper lets :math:`T_{\text{cur}}` reach :math:`T_i`).
    """
    lr0 = _rate("lr0", lr0)
    T_0 = v.integer("T_0", T_0, low=1, high=MAX_STEP)
    T_mult = v.integer("T_mult", T_mult, low=1, high=1000)
    eta_min = v.real("eta_min", eta_min, low=0.0)
    if eta_min > lr0:
        raise ValueError(f"eta_min must be <= lr0, got eta_min={eta_min} > lr0={lr0}")
    return Schedule("cosine_restarts", _k.COSINE_RESTARTS, [lr0, T_0, T_mult, eta_min],
                    lr0=lr0, T_0=T_0, T_mult=T_mult, eta_min=eta_min)


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def cyclic(base_lr, max_lr, step_size_up, step_size_down=None, mode="triangular", gamma=1.0):
    """Cyclical learning rates (Smith 2017; torch ``CyclicLR``).

    The rate climbs linearly from base_lr to max_lr in ``step_size_up`` steps and falls
    back in ``step_size_down`` (default: the same). ``triangular2`` halves the amplitude
    every cycle; ``exp_range`` multiplies it by ``gamma**k``.
    """
    base_lr = _rate("base_lr", base_lr)
    max_lr = _rate("max_lr", max_lr)
    if base_lr > max_lr:
        raise ValueError(f"base_lr must be <= max_lr, got base_lr={base_lr} > max_lr={max_lr}")
    up = v.integer("step_size_up", step_size_up, low=1, high=MAX_STEP)
    down = up if step_size_down is None else v.integer("step_size_down", step_size_down,
                                                       low=1, high=MAX_STEP)
    v.choice("mode", mode, _CYCLIC_MODES)
    gamma = v.real("gamma", gamma, low=0.0, high=1.0, low_inclusive=False)
    return Schedule("cyclic", _k.CYCLIC,
                    [base_lr, max_lr, up, down, _CYCLIC_MODES.index(mode), gamma],
                    base_lr=base_lr, max_lr=max_lr, step_size_up=up, step_size_down=down,
                    mode=mode, gamma=gamma)


def polynomial(lr0, total_steps, power=1.0, end_lr=0.0):
    r"""Polynomial decay :math:`(\eta_0 - \eta_{\text{end}})(1 - k/T)^p + \eta_{\text{end}}`, held after T.

    With ``end_lr=0`` this is torch ``PolynomialLR``; it is optax's
    ``polynomial_schedule`` in general.
    """
    lr0 = _rate("lr0", lr0)
    total_steps = v.integer("total_steps", total_steps, low=1, high=MAX_STEP)
    power = v.positive("power", power)
    end_lr = v.real("end_lr", end_lr, low=0.0)
    if end_lr > lr0:
        raise ValueError(f"end_lr must be <= lr0, got end_lr={end_lr} > lr0={lr0}")
    return Schedule("polynomial", _k.POLYNOMIAL, [lr0, total_steps, power, end_lr],
                    lr0=lr0, total_steps=total_steps, power=power, end_lr=end_lr)


def one_cycle(max_lr, total_steps, pct_start=0.3, anneal="cos", div_factor=25.0,
              final_div_factor=1e4, three_phase=False):
    """The one-cycle policy (Smith; torch ``OneCycleLR``, same step indexing).

    The rate rises from max_lr/div_factor to max_lr, reached at step
    ``pct_start*total_steps - 1``, then anneals to max_lr/(div_factor*final_div_factor)
    at step ``total_steps - 1``. ``three_phase`` returns to the initial rate at
    ``2*pct_start*total_steps - 2`` before the final descent. Valid steps are
    0 ... total_steps; torch raises beyond that, and so does this schedule. Step
    ``total_steps`` itself (which torch allows) extrapolates past the final rate: with
    ``anneal="linear"`` it is negative, and an optimizer refuses it, so run
    ``total_steps`` steps (0 ... total_steps - 1).
    """
    max_lr = _rate("max_lr", max_lr)
    total_steps = v.integer("total_steps", total_steps, low=2, high=MAX_STEP)
    pct_start = v.real("pct_start", pct_start, low=0.0, high=1.0, low_inclusive=False,
                       high_inclusive=False)
    v.choice("anneal", anneal, ("cos", "linear"))
    div_factor = v.real("div_factor", div_factor, low=1.0)
    final_div_factor = v.real("final_div_factor", final_div_factor, low=1.0)
    three_phase = v.boolean("three_phase", three_phase)
    ends = [pct_start * total_steps - 1] + ([2 * pct_start * total_steps - 2]
                                            if three_phase else []) + [total_steps - 1]
    if any(b <= a for a, b in zip([0.0] + ends, ends)):
        raise ValueError(f"pct_start={pct_start} with total_steps={total_steps} leaves a phase "
                         "with no steps; raise total_steps or move pct_start")
    s = Schedule("one_cycle", _k.ONE_CYCLE,
                 [max_lr, total_steps, pct_start, float(anneal == "cos"), div_factor,
                  final_div_factor, float(three_phase)],
                 max_lr=max_lr, total_steps=total_steps, pct_start=pct_start, anneal=anneal,
                 div_factor=div_factor, final_div_factor=final_div_factor,
                 three_phase=three_phase)
    s.last_step = total_steps
    return s


def linear(lr0, start_factor=1.0 / 3.0, end_factor=1.0, total_iters=5):
    """lr0 times a factor moving linearly from start_factor to end_factor (torch ``LinearLR``)."""
    lr0 = _rate("lr0", lr0)
    start_factor = v.real("start_factor", start_factor, low=0.0, high=1.0)
    end_factor = v.real("end_factor", end_factor, low=0.0, high=1.0)
    total_iters = v.integer("total_iters", total_iters, low=1, high=MAX_STEP)
    return Schedule("linear", _k.LINEAR, [lr0, start_factor, end_factor, total_iters],
                    lr0=lr0, start_factor=start_factor, end_factor=end_factor,
                    total_iters=total_iters)


class Sequential(Schedule):
    """Run ``schedules[i]`` from ``milestones[i-1]`` on, restarting its step count at 0.

    Same as torch ``SequentialLR``: at each milestone the next schedule starts from its
    own step 0.
    """

    def __init__(self, schedules, milestones):
        schedules = v.listed("schedules", schedules, "optlib schedules",
                             "[warmup_cosine(0.1, 5, 50), constant(0.01)]")
        if not schedules:
            raise ValueError("schedules must hold at least one schedule")
        for i, s in enumerate(schedules):
            if not isinstance(s, Schedule):
                raise TypeError(f"schedules[{i}] must be an optlib schedule, got {s!r}")
        ms = [v.integer(f"milestones[{i}]", m, low=1, high=MAX_STEP)
              for i, m in enumerate(v.listed("milestones", milestones, "steps", "[30, 80]"))]
        if len(ms) != len(schedules) - 1:
            raise ValueError(f"milestones must hold len(schedules) - 1 = {len(schedules) - 1} "
                             f"steps, got {len(ms)}")
        if ms != sorted(set(ms)):
            raise ValueError(f"milestones must be strictly increasing, got {ms}")
        super().__init__("Sequential", None, [], schedules=schedules, milestones=ms)
        self.schedules, self.milestones = schedules, ms

    def _value(self, k):
        i = bisect.bisect_right(self.milestones, k)  # milestones passed: the schedule
        return self.schedules[i]._value(k - self.milestones[i - 1] if i else k)

    def _fill(self, steps, out):
        part_of = np.searchsorted(self.milestones, steps, side="right")  # as _value
        starts = [0] + self.milestones
        for i, s in enumerate(self.schedules):  # each part only on its own steps
            mine = part_of == i
            if mine.any():
                part = np.empty(int(mine.sum()))
                s._fill(steps[mine] - starts[i], part)
                out[mine] = part


def warmup(schedule, warmup_steps, start_factor=0.0, total_steps=None):
    """Linear warmup over ``warmup_steps`` steps, then ``schedule`` from its step 0.

    The rate rises linearly from ``start_factor * schedule(0)`` to ``schedule(0)``
    (torch ``LinearLR(start_factor, 1.0, warmup_steps)`` chained with ``SequentialLR``;
    torch requires start_factor > 0). Pass ``total_steps`` to check that the warmup
    fits in the run.
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be an optlib schedule, got {schedule!r}")
    warmup_steps = v.integer("warmup_steps", warmup_steps, low=1, high=MAX_STEP)
    if total_steps is not None:
        total_steps = v.integer("total_steps", total_steps, low=1, high=MAX_STEP)
        if warmup_steps >= total_steps:
            raise ValueError(f"warmup_steps must be shorter than the run: warmup_steps="
                             f"{warmup_steps} >= total_steps={total_steps}")
    if not schedule(0) > 0:  # the ramp rises to schedule(0)
        raise ValueError(f"schedule must start above 0 to warm up to it, got schedule(0) = "
                         f"{schedule(0)} for {schedule!r}")
    ramp = linear(schedule(0), start_factor, 1.0, warmup_steps)
    out = Sequential([ramp, schedule], [warmup_steps])
    out.name = "warmup"
    out.kwargs = dict(schedule=schedule, warmup_steps=warmup_steps, start_factor=start_factor)
    return out


def warmup_cosine(peak_lr, warmup_steps, total_steps, final_fraction=0.1):
    """The "GPT-3 recipe": linear warmup from 0 to peak_lr, then cosine decay to
    ``final_fraction * peak_lr`` at ``total_steps``, held there afterwards."""
    peak_lr = _rate("peak_lr", peak_lr)
    total_steps = v.integer("total_steps", total_steps, low=2, high=MAX_STEP)
    warmup_steps = v.integer("warmup_steps", warmup_steps, low=1, high=MAX_STEP)
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_steps must be shorter than the run: warmup_steps="
                         f"{warmup_steps} >= total_steps={total_steps}")
    final_fraction = v.real("final_fraction", final_fraction, low=0.0, high=1.0)
    decay = cosine(peak_lr, total_steps - warmup_steps, final_fraction * peak_lr)
    return warmup(decay, warmup_steps, 0.0)


class ReduceOnPlateau:
    """Cut the rate by ``factor`` when a metric stops improving (torch ``ReduceLROnPlateau``).

    Stateful, unlike the schedules above: call ``step(metric)`` once per evaluation; it
    returns the rate to use next (also in ``.lr``). Improvement means ``metric <
    best*(1 - threshold)`` (mode "min", threshold_mode "rel"), ``< best - threshold``
    ("abs"), or the mirror images for mode "max". After more than ``patience``
    evaluations without improvement the rate becomes ``max(lr*factor, min_lr)`` (if that
    changes it by more than ``eps``), then ``cooldown`` evaluations pass before counting
    again. torch reduces after ``patience + 1`` bad evaluations; optax's
    ``reduce_on_plateau`` after ``patience``.
    """

    def __init__(self, lr, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        self.lr = _rate("lr", lr)
        self.mode = v.choice("mode", mode, ("min", "max"))
        self.factor = v.real("factor", factor, low=0.0, high=1.0, low_inclusive=False,
                             high_inclusive=False)
        self.patience = v.integer("patience", patience, low=0)
        self.threshold = v.real("threshold", threshold, low=0.0)
        self.threshold_mode = v.choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = v.integer("cooldown", cooldown, low=0)
        self.min_lr = v.real("min_lr", min_lr, low=0.0)
        self.eps = v.real("eps", eps, low=0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad = 0
        self.cooldown_left = 0
        self.history = [self.lr]

    def _better(self, a):
        t = self.threshold
        if self.mode == "min":
            return a < (self.best * (1 - t) if self.threshold_mode == "rel" else self.best - t)
        return a > (self.best * (1 + t) if self.threshold_mode == "rel" else self.best + t)

    def step(self, metric):
        metric = v.real("metric", metric)  # NaN or inf: a clear error, not a silent cut
        if self._better(metric):
            self.best = metric
            self.num_bad = 0
        else:
            self.num_bad += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.num_bad = 0
        if self.num_bad > self.patience:
            new = max(self.lr * self.factor, self.min_lr)
            if self.lr - new > self.eps:
                self.lr = new
            self.cooldown_left = self.cooldown
            self.num_bad = 0
        self.history.append(self.lr)
        return self.lr


class RangeTest(NamedTuple):
    """The result of :func:`lr_range_test`."""

    lr: np.ndarray  #: learning rate of each iteration run
    loss: np.ndarray  #: bias-corrected smoothed loss (fastai's AvgSmoothLoss)
    raw_loss: np.ndarray  #: minibatch loss of each iteration
    suggestion: float  #: the suggested learning rate (rule ``suggest``)
    suggest: str
    stopped_early: bool  #: True if the smoothed loss exceeded divergence_factor * best


def lr_range_test(model, params, data, start_lr=1e-7, end_lr=10.0, num_it=100,
                  batch_size=32, beta=0.98, divergence_factor=4.0, suggest="valley", seed=0):
    """The learning-rate range test (Smith 2017; fastai ``lr_find``).

    Trains a *copy* of ``params`` with gradient descent for up to ``num_it`` minibatches
    while the rate grows exponentially, ``start_lr * (end_lr/start_lr)**(i/num_it)``,
    recording the loss smoothed as ``avg = beta*avg + (1-beta)*loss`` and reported
    bias-corrected, ``avg / (1 - beta**(i+1))``. Stops once that exceeds
    ``divergence_factor`` times its best value. ``params`` is left unchanged.

    Suggestion rules: ``"valley"`` (fastai's default: a point in the longest stretch of
    decreasing loss), ``"steepest"`` (the steepest descent of the loss against log lr),
    ``"minimum"`` (a tenth of the rate at the lowest loss).
    """
    from . import models, optim

    if not isinstance(model, models.Model):
        raise TypeError(f"model must be an optlib.models model, got {type(model).__name__}")
    w = v.float_array("params", params, shape=(model.n_params,), copy=True)
    start_lr = _rate("start_lr", start_lr)
    end_lr = _rate("end_lr", end_lr)
    if start_lr >= end_lr:
        raise ValueError(f"start_lr must be < end_lr, got {start_lr} >= {end_lr}")
    num_it = v.integer("num_it", num_it, low=7)  # the rules read num_it//10 : -5
    beta = v.real("beta", beta, low=0.0, high=1.0, high_inclusive=False)
    divergence_factor = v.real("divergence_factor", divergence_factor, low=1.0,
                               low_inclusive=False)
    v.choice("suggest", suggest, ("valley", "steepest", "minimum"))
    models._check_data(data)
    w, X, y = model._check(w, data.X_train, data.y_train)  # shapes, dtypes, labels
    batch = v.integer("batch_size", batch_size, low=1, high=len(y))
    rng = np.random.default_rng(v.integer("seed", seed, low=0))

    lrs = start_lr * (end_lr / start_lr) ** (np.arange(num_it) / num_it)
    opt = optim.GD(lr=lambda k: lrs[k])
    state = opt.init(w)
    grad = np.empty_like(w)
    raw, smooth = [], []
    avg, best, stopped = 0.0, math.inf, False
    order = rng.permutation(len(y))
    pos = 0
    for i in range(num_it):
        if pos + batch > len(y):
            order, pos = rng.permutation(len(y)), 0
        idx = order[pos:pos + batch]
        pos += batch
        loss = model._kernel(w, np.ascontiguousarray(X[idx]), y[idx], grad)
        raw.append(loss)
        avg = beta * avg + (1 - beta) * loss
        smooth.append(avg / (1 - beta ** (i + 1)))
        if not math.isfinite(smooth[-1]) or smooth[-1] > divergence_factor * best:
            stopped = True
            break
        best = min(best, smooth[-1])
        state = opt.step(w, grad, state)
    n = len(smooth)
    lr_run, loss = lrs[:n], np.array(smooth)
    return RangeTest(lr_run, loss, np.array(raw), _suggest(lr_run, loss, suggest, num_it),
                     suggest, stopped)


def _suggest(lrs, losses, rule, num_it):
    """fastai's suggestion rules, applied like fastai to lrs/losses[num_it//10 : -5]."""
    lr, loss = lrs[num_it // 10:-5], losses[num_it // 10:-5]
    if len(loss) < 2:
        raise ValueError("the range test stopped too early to suggest a rate; "
                         "lower start_lr or raise divergence_factor")
    if rule == "minimum":
        return float(lr[np.argmin(loss)] / 10)
    if rule == "steepest":  # steepest fall of the loss per unit of log(lr)
        slope = np.diff(loss) / np.diff(np.log(lr))
        return float(lr[np.argmin(slope)])
    # valley: the longest decreasing subsequence, found in O(n^2) as fastai does
    n = len(loss)
    run = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if loss[i] < loss[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
            if run[max_end] < run[i]:
                max_end = i
                max_start = max_end - run[max_end]
    sections = (max_end - max_start) / 3
    return float(lr[max_start + int(sections) + int(sections / 2)])
