"""The jitted optimisation loop on a built-in test function."""

import math

from numba import njit

from .functions import grad, value
from .optim import NESTEROV_LOOKAHEAD, apply_rule, grad_point

# The loop below takes the bodies of apply_rule, value and grad rather than calls to them
# (Numba inlines the source at its own IR level), so that LLVM sees their code inside
# the loop instead of calls passing several arrays every step: a call of value or grad
# on a 2-D point cost about 10 ns, several times the arithmetic, and with all three
# inlined a 2-D Adam step takes about 40 ns instead of 54. An inlined body is compiled
# with the *caller's* options; this loop, like the rules, has no reference counting and
# NumPy's error model (nothing in value or grad divides by a variable, so no result
# changes). (A loop compiled with Numba's defaults would do better to call apply_rule:
# inlined there, momentum on two numbers is 4x slower.) The price is compile time: the
# first call on a new machine takes about 0.3 s longer.
apply_rule_inlined = njit(inline="always", error_model="numpy", _nrt=False)(
    apply_rule.py_func)
value_inlined = njit(inline="always", error_model="numpy", _nrt=False)(value.py_func)
grad_inlined = njit(inline="always", error_model="numpy", _nrt=False)(grad.py_func)


@njit(cache=True, error_model="numpy", _nrt=False)
def run(fid, prm, rule, hyper, x, s0, s1, s2, lrs, step0, xs, fs, gnorms, g, at):
    """Take ``lrs.size`` steps from ``x`` (updated in place), recording every iterate.

    ``xs[k]`` and ``fs[k]`` receive the k-th iterate and its value, ``gnorms[k]`` the
    gradient norm used by step k. ``g`` and ``at`` are scratch arrays like ``x`` (the
    gradient, and Nesterov's look-ahead point): this kernel allocates nothing. Stops
    early, returning the number of steps taken, as soon as the value or an iterate stops
    being finite.
    """
    record(xs, 0, x)
    fs[0] = value_inlined(fid, prm, x)
    for k in range(lrs.size):
        if rule == NESTEROV_LOOKAHEAD:  # the gradient is taken at x - gamma v
            grad_point(rule, x, s0, hyper, at)
            grad_inlined(fid, prm, at, g)
        else:
            grad_inlined(fid, prm, x, g)
        sq = 0.0
        for i in range(g.size):
            sq += g[i] * g[i]
        gnorms[k] = math.sqrt(sq)
        apply_rule_inlined(rule, x, g, s0, s1, s2, hyper, lrs[k], step0 + k)
        record(xs, k + 1, x)
        f = value_inlined(fid, prm, x)
        fs[k + 1] = f
        if not (math.isfinite(f) and all_finite(x)):
            return k + 1
    return lrs.size


@njit(_nrt=False, inline="always")
def record(xs, k, x):
    """xs[k] <- x (a loop: a slice assignment needs Numba's reference counting).
    Inlined into ``run``, like the next one: a call passing two arrays costs more."""
    for i in range(x.size):
        xs[k, i] = x[i]


@njit(cache=True, _nrt=False, inline="always")
def all_finite(x):
    """Whether every entry of the 1-D array x is finite (``models.fit`` calls it too).
    It reads every entry: a loop that may stop early is not vectorised (3x slower on
    the 2,410 parameters of chapter 7's network)."""
    bad = False
    for i in range(x.size):
        bad |= not math.isfinite(x[i])
    return not bad
