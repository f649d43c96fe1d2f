"""Update rules, one kernel each, and the dispatcher every loop goes through.

A rule updates the flat parameter array ``p`` in place from the gradient ``g``; its
state arrays (velocity, moments) are ``s0, s1, s2`` (size-0 arrays when unused) and its
hyperparameters the float array ``hyper``. ``lr`` is the learning rate for this step
and ``step`` the 0-based count of steps taken before it.
"""

from numba import njit

GD = 0


@njit(cache=True)
def gd_step(p, g, lr):
    """Plain gradient descent: p <- p - lr * g."""
    for i in range(p.size):
        p[i] -= lr * g[i]


@njit(cache=True)
def apply_rule(rule, p, g, s0, s1, s2, hyper, lr, step):
    """Run rule number ``rule``; later chapters add their rules as new branches."""
    if rule == GD:
        gd_step(p, g, lr)
    else:
        raise ValueError("unknown update rule id")
