"""Run an optimizer on a test function and record the whole path.

>>> import optlib as ol
>>> path = ol.trajectory.run(ol.optim.GD(lr=1e-3), ol.functions.rosenbrock(), steps=5000)
>>> path.x.shape, path.loss.shape, path.lr.shape
((5001, 2), (5001,), (5000,))

For the built-in landscapes (:mod:`optlib.functions`) the whole loop is one jitted
kernel, cached on disk. Any other objective (an object with ``value(x)`` and
``grad(x)`` methods, e.g. your own landscape) takes a Python loop that calls the same
update kernel through ``opt.step``: slower, never cached, same numbers (the gradient
norms too, up to 8,191 coordinates; beyond, the norm adds its squares in another order).
"""

from typing import NamedTuple

import numpy as np

from . import _validate as v
from ._kernels import clipping as _clip
from ._kernels import trajectory as _k
from .chain import Chain
from .functions import TestFunction
from .optim import Optimizer


class Trajectory(NamedTuple):
    """The iterates of one run. After a divergence the remaining entries are NaN."""

    x: np.ndarray  #: iterates x_0 ... x_steps, shape (steps + 1, dim)
    loss: np.ndarray  #: f(x_k), shape (steps + 1,)
    lr: np.ndarray  #: learning rate used by step k, shape (steps,)
    grad_norm: np.ndarray  #: ||grad f(x_k)||_2 used by step k, shape (steps,)
    steps_taken: int  #: steps completed before stopping
    diverged: bool  #: True if the value or an iterate became inf/NaN
    state: tuple  #: the optimizer state after the last step

    def steps_to(self, tol, f_min=0.0):
        """First k with loss[k] - f_min <= tol, or None if the run never gets there."""
        tol = v.positive("tol", tol)
        hit = np.flatnonzero(self.loss - v.real("f_min", f_min) <= tol)
        return int(hit[0]) if hit.size else None


def run(opt, fn, x0=None, steps=100, dtype=np.float64):
    """Take ``steps`` steps of ``opt`` on ``fn`` from ``x0`` and return a :class:`Trajectory`.

    Parameters
    ----------
    opt : optlib.optim.Optimizer or optlib.chain.Chain
        A chain always takes the Python loop (its links are separate kernels).
    fn : optlib.functions.TestFunction, or any object with ``value(x)`` and ``grad(x)``
    x0 : array-like, optional
        Starting point (default ``fn.x0``). Not modified.
    steps : int >= 1
    dtype : np.float64 or np.float32
        Precision of the iterates and of the update.

    The run stops early, marking ``diverged``, once the value or an iterate is inf/NaN.
    """
    if not isinstance(opt, (Optimizer, Chain)):
        raise TypeError("opt must be an optlib.optim optimizer or an optlib.chain chain, "
                        f"got {type(opt).__name__}")
    if not (isinstance(fn, TestFunction) or (hasattr(fn, "value") and hasattr(fn, "grad"))):
        raise TypeError("fn must be an optlib.functions landscape or an object with "
                        f"value(x) and grad(x) methods, got {type(fn).__name__}")
    steps = v.integer("steps", steps, low=1, high=100_000_000)
    dtype = v.float_dtype("dtype", dtype)
    if x0 is None:
        x0 = getattr(fn, "x0", None)
        if x0 is None:
            raise ValueError("x0 is required for a function without a default start x0")
    x = v.float_array("x0", x0, ndim=1, copy=True).astype(dtype)
    dim = getattr(fn, "dim", x.size)
    if x.size != dim:
        raise ValueError(f"x0 must have {dim} entries for {fn!r}, got {x.size}")
    lrs = opt.lr_values(0, steps)

    xs = np.empty((steps + 1, x.size), dtype=dtype)  # NaN after the last step taken
    fs = np.empty(steps + 1)
    gnorms = np.empty(steps)
    state = opt.init(x)
    if isinstance(fn, TestFunction) and isinstance(opt, Optimizer):
        taken = _k.run(fn.fid, fn.prm, opt.rule, opt.hyper, x, *opt.slots(state, x.dtype),
                       lrs, 0, xs, fs, gnorms, np.empty_like(x), np.empty_like(x))
        state = state._replace(step=taken)
    else:
        taken, state = _python_loop(opt, fn, x, state, steps, xs, fs, gnorms)
    xs[taken + 1:], fs[taken + 1:], gnorms[taken:] = np.nan, np.nan, np.nan
    return Trajectory(xs, fs, lrs, gnorms, int(taken), bool(taken < steps or
                      not np.isfinite(fs[taken])), state)


_VALUE_RETURNS = "fn.value(x) must return one number"


def _python_loop(opt, fn, x, state, steps, xs, fs, gnorms):
    """The uncached path for a user's own objective: same kernel, Python loop."""
    xs[0] = x
    fs[0] = v.returned_number(_VALUE_RETURNS, fn.value(x.copy()))
    for k in range(steps):
        g = np.asarray(fn.grad(np.array(opt.grad_point(x, state))), dtype=x.dtype)
        gnorms[k] = _clip.norm(g.reshape(-1), 2.0)  # as the kernel (below 8,192 entries)
        state = opt.step(x, g, state)
        xs[k + 1] = x
        fs[k + 1] = v.returned_number(_VALUE_RETURNS, fn.value(x.copy()))
        if not (np.isfinite(fs[k + 1]) and np.all(np.isfinite(x))):
            return k + 1, state
    return steps, state
