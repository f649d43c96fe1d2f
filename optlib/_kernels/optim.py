"""Update rules, one kernel each, and the dispatcher every loop goes through.

A rule updates the flat parameter array ``p`` in place from the gradient ``g``; its
state arrays (velocity, moments) are ``s0, s1, s2`` (size-0 arrays when unused) and its
hyperparameters the float array ``hyper``. ``lr`` is the learning rate for this step
and ``step`` the 0-based count of steps taken before it.
"""

from numba import njit

GD, MOMENTUM, HEAVY_BALL, NESTEROV_LOOKAHEAD = range(4)


@njit(cache=True)
def gd_step(p, g, lr):
    """Plain gradient descent: p <- p - lr * g."""
    for i in range(p.size):
        p[i] -= lr * g[i]


@njit(cache=True)
def momentum_step(p, g, v, lr, mu, dampening, nesterov, weight_decay, maximize, step):
    """torch.optim.SGD with momentum: v <- mu v + (1 - dampening) g (v <- g on the first
    step), then p <- p - lr (g + mu v) with Nesterov, p <- p - lr v without."""
    for i in range(p.size):
        gi = -g[i] if maximize else g[i]
        gi += weight_decay * p[i]
        if step == 0:
            v[i] = gi
        else:
            v[i] = mu * v[i] + (1.0 - dampening) * gi
        d = gi + mu * v[i] if nesterov else v[i]
        p[i] -= lr * d


@njit(cache=True)
def heavy_ball_step(p, g, v, lr, gamma):
    """The textbook form: v <- gamma v + lr g, then p <- p - v (lr inside the velocity).

    For Nesterov's look-ahead form the same update runs, with g taken at p - gamma v.
    """
    for i in range(p.size):
        v[i] = gamma * v[i] + lr * g[i]
        p[i] -= v[i]


@njit(cache=True)
def apply_rule(rule, p, g, s0, s1, s2, hyper, lr, step):
    """Run rule number ``rule``; each later chapter adds its rules as new branches."""
    if rule == GD:
        gd_step(p, g, lr)
    elif rule == MOMENTUM:
        momentum_step(p, g, s0, lr, hyper[0], hyper[1], hyper[2] != 0.0, hyper[3],
                      hyper[4] != 0.0, step)
    elif rule == HEAVY_BALL or rule == NESTEROV_LOOKAHEAD:
        heavy_ball_step(p, g, s0, lr, hyper[0])
    else:
        raise ValueError("unknown update rule id")


@njit(cache=True)
def grad_point(rule, p, s0, hyper, out):
    """Where the rule wants its next gradient: p itself, or Nesterov's look-ahead point
    p - gamma v. Writes it into ``out``."""
    if rule == NESTEROV_LOOKAHEAD:
        for i in range(p.size):
            out[i] = p[i] - hyper[0] * s0[i]
    else:
        out[:] = p
