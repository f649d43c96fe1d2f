r"""Optimizers built from parts: a chain of gradient transformations (optax's shape).

A *link* turns an update into another one: clip it, add noise, accumulate momentum,
divide by a running RMS, add weight decay, multiply by the learning rate. A
:func:`chain` runs its links in order, starting from the gradient; the result is the
update that is *added* to the parameters.

>>> import numpy as np, optlib as ol
>>> opt = ol.chain.chain(ol.chain.clip_by_global_norm(1.0),
...                      ol.chain.trace(0.9),
...                      ol.chain.scale_by_learning_rate(0.1))
>>> w = np.array([3.0, -4.0])
>>> state = opt.init(w)
>>> state = opt.step(w, 2 * w, state)       # clip |g| = 10 to 1, then momentum, then -lr
>>> np.round(w, 4), state.step, np.round(state.links[1].trace, 4)
(array([ 2.94, -3.92]), 1, array([ 0.6, -0.8]))

A chain has the three parts of :class:`optlib.optim.Optimizer` and takes its place in
:func:`optlib.models.fit` and :func:`optlib.trajectory.run`:

* ``init(params)`` returns a :class:`ChainState`: ``step`` (steps taken) and ``links``,
  one ``NamedTuple`` per link holding that link's arrays (print them, plot them).
* ``update(grads, state, params)`` returns ``(updates, new_state)``; ``updates`` is a
  new array, ``grads`` is left as it was, the state's arrays are updated in place.
* ``step(params, grads, state)`` is ``update`` followed by :func:`apply_updates`: it
  overwrites ``params`` in place and returns the new state.

Conventions: the sign lives in the last link (``scale_by_learning_rate(lr)`` multiplies
by ``-lr``); one step count serves every link (schedules see the 0-based step, Adam's
bias correction ``t = step + 1``; optax keeps one count per link, always equal);
float32 and float64 as in :mod:`optlib.optim`.

The classic optimizers as chains (``tests/test_chain.py`` checks each against
:mod:`optlib.optim` step by step):

=============================  ==========================================================
``optim.GD(lr)``               ``chain(scale_by_learning_rate(lr))``
``optim.Momentum(lr, mu, ...)``  ``chain(add_decayed_weights(wd), trace(mu, nesterov),
                               scale_by_learning_rate(lr))``
``optim.Adagrad(lr)``          ``chain(scale_by_adagrad(), scale_by_learning_rate(lr))``
``optim.RMSprop(lr)``          ``chain(scale_by_rms(), scale_by_learning_rate(lr))``
``optim.Adam(lr)``             ``chain(scale_by_adam(), scale_by_learning_rate(lr))``
``optim.AdamW(lr, wd)``        ``chain(scale_by_adam(), add_decayed_weights(wd),
                               scale_by_learning_rate(lr))``
=============================  ==========================================================
"""

import math
from typing import NamedTuple

import numpy as np

from . import _validate as v
from . import clipping
from ._kernels import clipping as _clip
from ._kernels import transforms as _k
from .optim import Optimizer, check_beta, check_momentum


class Empty(NamedTuple):
    """The state of a link that keeps nothing."""


class Link(v.FixedSettings):
    """A gradient transformation. Subclasses set ``State`` and ``apply``; the settings
    their constructors validate are fixed after (as an optimizer's), but a link's rate.

    ``prepare(step, params)`` works out what the link needs for this step (a rate, a
    factor), refusing a step it cannot take; the chain prepares every link before any
    link runs, so a refused step changes nothing. ``apply(u, state, params, step,
    prepared)`` then rewrites the flat update ``u`` in place (and the state's arrays)
    and returns the new state; ``prepared`` is what ``prepare`` returned.
    """

    State = Empty

    def __repr__(self):  # a validated property keeps its value as _name
        args = ", ".join(f"{k.lstrip('_')}={val!r}" for k, val in self.__dict__.items())
        return f"{type(self).__name__}({args})"

    def init(self, params):
        return self.State(*(np.zeros_like(params) for _ in self.State._fields))

    def check_state(self, state, ref, ref_name="params"):
        """``state`` must be this link's state, its arrays laid out like ``ref``."""
        if not isinstance(state, self.State):
            raise TypeError(f"the state of {self!r} must be a {self.State.__name__}, "
                            f"got {type(state).__name__}")
        for name in self.State._fields:
            arr = getattr(state, name)
            if isinstance(arr, np.ndarray):
                if not arr.flags.c_contiguous:
                    raise ValueError(f"{self.State.__name__}.{name} must be C-contiguous")
                if not arr.flags.writeable:
                    raise ValueError(f"{self.State.__name__}.{name} is updated in place but "
                                     "is read-only")
                v.same_layout(f"{self.State.__name__}.{name}", arr, ref_name, ref)

    def prepare(self, step, params):
        """What ``apply`` needs at step ``step`` (None here); ``params`` may be None."""
        return None


def _flat(arr):
    return arr.reshape(-1)


class ClipState(NamedTuple):
    norm: float  #: the size of the update before clipping, at the last step


class clip_by_global_norm(Link):
    """Scale the update so its L2 norm is at most ``max_norm``
    (:func:`optlib.clipping.clip_grad_norm`: torch's rule, or ``exact=True`` for optax's;
    ``math.inf`` clips nothing, the state still records the norm)."""

    State = ClipState

    def __init__(self, max_norm, exact=False):
        self.max_norm = v.real("max_norm", max_norm, low=0.0, low_inclusive=False, inf=True)
        self.exact = v.boolean("exact", exact)

    def init(self, params):
        return ClipState(math.nan)

    def prepare(self, step, params):
        return self.max_norm, self.exact

    def apply(self, u, state, params, step, prepared):
        # u is the chain's own flat update, checked once: no need to check it again.
        # clip_grad_norm's norm of the one array's norm, sqrt(n * n), is n itself: in
        # binary floating point sqrt(fl(x * x)) == |x| unless x * x overflows (this n
        # cannot) or underflows (a norm below 1.5e-154 could differ in its last bits)
        total = float(_clip.norm(u, 2.0))
        return ClipState(clipping._apply_rule([u], total, *prepared))


class clip_by_value(Link):
    """Clamp every entry of the update to ``[-clip_value, clip_value]``
    (:func:`optlib.clipping.clip_grad_value`)."""

    State = ClipState

    def __init__(self, clip_value):
        self.clip_value = v.positive("clip_value", clip_value)

    def init(self, params):
        return ClipState(math.nan)

    def apply(self, u, state, params, step, prepared):
        return ClipState(clipping.clip_grad_value(u, self.clip_value))


class add_decayed_weights(Link):
    r"""Weight decay: :math:`u \leftarrow u + \lambda w`. Before the scaling links it is
    torch's coupled L2 (SGD, Adam's ``weight_decay``); after ``scale_by_adam`` and before
    ``scale_by_learning_rate`` it is AdamW's decoupled decay."""

    def __init__(self, weight_decay):
        self.weight_decay = v.real("weight_decay", weight_decay, low=0.0)

    def prepare(self, step, params):
        if params is None:
            raise ValueError("add_decayed_weights needs params: call update(grads, state, "
                             "params)")

    def apply(self, u, state, params, step, prepared):
        _k.add_scaled(u, _flat(params), self.weight_decay)
        return state


class TraceState(NamedTuple):
    trace: np.ndarray  #: the momentum buffer (torch's ``momentum_buffer``)


class trace(Link):
    r"""Momentum in torch's form: :math:`b \leftarrow \mu b + (1 - \tau) u` (:math:`b = u`
    at the first step), then :math:`u \leftarrow b`, or :math:`u + \mu b` with
    ``nesterov``. Followed by ``scale_by_learning_rate`` this is ``torch.optim.SGD``."""

    State = TraceState

    def __init__(self, decay=0.9, nesterov=False, dampening=0.0):
        self.decay = check_momentum("decay", decay)
        self.nesterov = v.boolean("nesterov", nesterov)
        self.dampening = v.real("dampening", dampening, low=0.0, high=1.0)
        if self.nesterov and (self.decay <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True needs decay > 0 and dampening = 0, got "
                             f"decay={self.decay}, dampening={self.dampening}")

    def apply(self, u, state, params, step, prepared):
        _k.trace(u, _flat(state.trace), self.decay, self.dampening, self.nesterov,
                 step == 0)
        return state


class RMSState(NamedTuple):
    square_avg: np.ndarray  #: moving average of u^2


class scale_by_rms(Link):
    r"""RMSprop's scaling (torch): :math:`s \leftarrow \alpha s + (1 - \alpha) u^2`,
    :math:`u \leftarrow u / (\sqrt{s} + \epsilon)`, no bias correction, ε outside."""

    State = RMSState

    def __init__(self, alpha=0.99, eps=1e-8):
        self.alpha = check_beta("alpha", alpha)
        self.eps = v.positive("eps", eps)

    def apply(self, u, state, params, step, prepared):
        _k.scale_by_rms(u, _flat(state.square_avg), self.alpha, self.eps)
        return state


class AdagradState(NamedTuple):
    sum: np.ndarray  #: running sum of u^2


class scale_by_adagrad(Link):
    r"""AdaGrad's scaling: :math:`s \leftarrow s + u^2`, :math:`u \leftarrow u / (\sqrt{s}
    + \epsilon)`; the sum starts at ``initial_accumulator_value`` (torch)."""

    State = AdagradState

    def __init__(self, eps=1e-10, initial_accumulator_value=0.0):
        self.eps = v.positive("eps", eps)
        self.initial_accumulator_value = v.real("initial_accumulator_value",
                                                initial_accumulator_value, low=0.0)

    def init(self, params):
        return AdagradState(np.full_like(params, self.initial_accumulator_value))

    def apply(self, u, state, params, step, prepared):
        _k.scale_by_adagrad(u, _flat(state.sum), self.eps)
        return state


class AdamState(NamedTuple):
    exp_avg: np.ndarray  #: first moment m
    exp_avg_sq: np.ndarray  #: second moment v


class scale_by_adam(Link):
    r"""Adam's direction :math:`\hat m / (\sqrt{\hat v} + \epsilon)` with the bias
    corrections of step ``t = step + 1``; ε added after bias-correcting
    :math:`\sqrt{v}` (torch, optax)."""

    State = AdamState

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8):
        self.b1 = check_beta("b1", b1)
        self.b2 = check_beta("b2", b2)
        self.eps = v.positive("eps", eps)

    def apply(self, u, state, params, step, prepared):
        _k.scale_by_adam(u, _flat(state.exp_avg), _flat(state.exp_avg_sq), self.b1,
                         self.b2, self.eps, step)
        return state


class NoiseState(NamedTuple):
    seed: int  #: the draw of step k comes from default_rng((seed, k))
    std: float  #: the standard deviation used at the last step


class add_noise(Link):
    r"""Annealed Gaussian noise (Neelakantan et al. 2015):
    :math:`u \leftarrow u + \mathcal N(0, \sigma_k^2)` with
    :math:`\sigma_k^2 = \eta / (1 + k)^\gamma`, ``k`` the 0-based step (optax's
    ``add_noise``: variance ``eta`` at the first step). ``gamma=0`` keeps it constant.

    Reproducible: the draw of step ``k`` is ``default_rng((seed, k)).standard_normal``,
    a function of the seed and the step only, so a run can be replayed from any step.
    """

    State = NoiseState

    def __init__(self, eta, gamma=0.55, seed=0):
        self.eta = v.real("eta", eta, low=0.0)
        self.gamma = v.real("gamma", gamma, low=0.0)
        self.seed = v.integer("seed", seed, low=0)

    def init(self, params):
        return NoiseState(self.seed, math.nan)

    def std(self, step):
        """The noise's standard deviation at the 0-based ``step``."""
        return math.sqrt(self.eta / (1.0 + step) ** self.gamma)

    def apply(self, u, state, params, step, prepared):
        z = np.random.default_rng((state.seed, step)).standard_normal(u.size)
        std = self.std(step)
        _k.add_scaled(u, z.astype(u.dtype, copy=False), std)
        return state._replace(std=std)


class scale(Link):
    """Multiply the update by a constant ``factor`` (any sign)."""

    def __init__(self, factor):
        self.factor = v.real("factor", factor)

    def apply(self, u, state, params, step, prepared):
        _clip.scale(u, self.factor)
        return state


class scale_by_schedule(Link):
    """Multiply the update by ``schedule(step)``, a callable of the 0-based step."""

    def __init__(self, schedule):
        if not callable(schedule):
            raise TypeError(f"schedule must be a callable of the step, got {schedule!r}")
        self.schedule = schedule

    def factor(self, step):
        out = self.schedule(step)
        try:
            value = float(out)
        except (TypeError, ValueError):
            raise TypeError(f"schedule must return one number for a step; at step {step} it "
                            f"returned {out!r:.80}") from None
        if not math.isfinite(value):
            raise ValueError(f"schedule must give finite values; at step {step} it gave "
                             f"{value!r}")
        return value

    def prepare(self, step, params):
        return self.factor(step)

    def apply(self, u, state, params, step, prepared):
        _clip.scale(u, prepared)
        return state


class scale_by_learning_rate(Link):
    """The last link: multiply by ``-lr``, a float or a schedule of the 0-based step
    (validated like :mod:`optlib.optim`'s ``lr``)."""

    def __init__(self, lr):
        self.lr = lr

    lr = Optimizer.lr  # the same validated property, rate evaluation and rate table
    settable = Optimizer.settable
    lr_at = Optimizer.lr_at
    lr_values = Optimizer.lr_values

    def prepare(self, step, params):
        return self.lr_at(step)

    def apply(self, u, state, params, step, prepared):
        _clip.scale(u, -prepared)
        return state


class ChainState(NamedTuple):
    """Steps taken, and the state of each link, in chain order."""

    step: int
    links: tuple


class Chain:
    """Links run in order; see the module docstring. Build it with :func:`chain`."""

    def __init__(self, links):
        self.links = tuple(links)

    def __repr__(self):
        return "chain(" + ", ".join(map(repr, self.links)) + ")"

    @property
    def name(self):
        return " -> ".join(type(link).__name__ for link in self.links)

    def init(self, params):
        params = v.float_array("params", params)
        return ChainState(0, tuple(link.init(params) for link in self.links))

    def _check_step(self, params, grads, state, inplace=True):
        """The arrays and each link's state, checked before any link runs (what each
        link computes for the step is checked by ``_run_links``, before any link runs
        too). ``inplace``: ``params`` will be updated (``step``), not only read."""
        if not isinstance(state, ChainState) or len(state.links) != len(self.links):
            raise TypeError(f"state must be the ChainState that this chain's init() "
                            f"returned ({len(self.links)} links), got {state!r:.80}")
        v.integer("state.step", state.step, low=0, high=v.MAX_STEP)
        grads = v.float_array("grads", grads, finite=False)
        if params is not None:
            check = v.updatable if inplace else v.float_array
            params = check("params", params, finite=False)
            v.same_layout("grads", grads, "params", params)
        for link, s in zip(self.links, state.links):  # before any kernel writes
            link.check_state(s, grads, "grads")
        return params, grads

    def update(self, grads, state, params=None):
        """The update for ``grads`` (a new array) and the new state; ``grads`` is kept."""
        params, grads = self._check_step(params, grads, state, inplace=False)
        u = np.array(grads, order="C", copy=True)
        links = self._run_links(_flat(u), state.links, params, state.step)
        return u, ChainState(state.step + 1, links)

    def _run_links(self, u, links, params, step):
        """Each link on the flat update ``u``, in place, in order; their new states.
        Every link is prepared first: a step refused by any link changes nothing."""
        prepared = [link.prepare(step, params) for link in self.links]
        return tuple(link.apply(u, s, params, step, p)
                     for link, s, p in zip(self.links, links, prepared))

    def step(self, params, grads, state):
        """One step: ``params += update``, in place; returns the new state."""
        if params is None:
            raise TypeError("params must be the parameter array to update, got None")
        params, grads = self._check_step(params, grads, state)
        return self._updater(params, grads, state)(state.step)

    def _updater(self, params, grads, state, lrs=None):
        """``update(step)``, as :meth:`optlib.optim.Optimizer._updater`: one step on
        arrays checked once by the caller; returns the state after it. ``lrs`` is not
        used: the chain's learning-rate link computes its own rate."""
        u = np.empty(grads.shape, dtype=grads.dtype)
        flat_u, flat_p = _flat(u), _flat(params)
        links = state.links

        def update(step):
            nonlocal links
            np.copyto(u, grads)
            links = self._run_links(flat_u, links, params, step)
            _k.add_scaled(flat_p, flat_u, 1.0)  # apply_updates, checked once
            return ChainState(step + 1, links)
        return update

    def grad_point(self, params, state):
        """Where the next gradient is taken: ``params`` (no link looks ahead)."""
        return params

    def lr_values(self, start, count):
        """The rates of the ``scale_by_learning_rate`` link for ``count`` steps from
        ``start`` (what training logs record), or NaN when the chain has none.

        Every ``scale_by_schedule`` link is asked for its factors at those steps too, so
        that a run (``models.fit``, ``trajectory.run``) refuses a bad one before its first
        step, as an optimizer's ``lr_values`` refuses a bad rate."""
        for link in self.links:
            if isinstance(link, scale_by_schedule):
                for k in range(start, start + count):
                    link.factor(k)
        links = [k for k in self.links if isinstance(k, scale_by_learning_rate)]
        if len(links) != 1:
            return np.full(count, math.nan)
        return links[0].lr_values(start, count)


def chain(*links):
    """A :class:`Chain` of the given links, run left to right."""
    if not links:
        raise ValueError("chain needs at least one link")
    for i, link in enumerate(links):
        if not isinstance(link, Link):
            raise TypeError(f"links[{i}] must be an optlib.chain link (e.g. trace(0.9)), "
                            f"got {link!r}")
    return Chain(links)


def apply_updates(params, updates):
    """``params += updates``, in place (optax's ``apply_updates``)."""
    params = v.updatable("params", params, finite=False)
    updates = v.same_layout("updates", v.float_array("updates", updates, finite=False),
                            "params", params)
    _k.add_scaled(_flat(params), _flat(updates), 1.0)
    return params


def sgld(lr, seed=0):
    r"""Stochastic gradient Langevin dynamics (Welling & Teh 2011) at a constant step
    size: :math:`w \leftarrow w - \tfrac{\eta}{2} g + \mathcal N(0, \eta)`.

    ``chain(scale_by_learning_rate(lr / 2), add_noise(lr, gamma=0, seed))``: with ``g``
    the gradient of :math:`-\log p(w \mid \text{data})` its iterates sample (for small
    ``lr``) the posterior instead of settling at its mode.
    """
    lr = v.positive("lr", lr)
    return chain(scale_by_learning_rate(lr / 2), add_noise(lr, gamma=0.0, seed=seed))
