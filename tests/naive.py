"""Slow, obviously correct references in plain NumPy (stumpy's tests/naive.py pattern).

Nothing here is jitted or clever: each function is the textbook formula, so that the
kernels can be checked against something a reader can verify by eye.
"""

import numpy as np


def rosenbrock(x, a=1.0, b=100.0):
    x = np.asarray(x, dtype=float)
    return float(np.sum(b * (x[1:] - x[:-1] ** 2) ** 2 + (a - x[:-1]) ** 2))


def beale(x):
    X, Y = x
    return (1.5 - X + X * Y) ** 2 + (2.25 - X + X * Y**2) ** 2 + (2.625 - X + X * Y**3) ** 2


def himmelblau(x):
    X, Y = x
    return (X**2 + Y - 11) ** 2 + (X + Y**2 - 7) ** 2


def booth(x):
    X, Y = x
    return (X + 2 * Y - 7) ** 2 + (2 * X + Y - 5) ** 2


def saddle(x):
    X, Y = x
    return X**2 + Y**4 / 4 - Y**2 / 2


def six_hump_camel(x):
    X, Y = x
    return (4 - 2.1 * X**2 + X**4 / 3) * X**2 + X * Y + (-4 + 4 * Y**2) * Y**2


def rastrigin(x):
    x = np.asarray(x, dtype=float)
    return 10 * x.size + np.sum(x**2 - 10 * np.cos(2 * np.pi * x))


def quadratic(x, A, c):
    d = np.asarray(x, dtype=float) - c
    return 0.5 * d @ A @ d


FORMULAS = {
    "rosenbrock": rosenbrock,
    "beale": beale,
    "himmelblau": himmelblau,
    "booth": booth,
    "saddle": saddle,
    "six_hump_camel": six_hump_camel,
    "rastrigin": rastrigin,
}


def fd_grad(f, x, h=1e-6):
    """Central finite differences of a scalar function."""
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def fd_jacobian(g, x, h=1e-6):
    """Central finite differences of a vector function: J[i, j] = d g_i / d x_j."""
    x = np.asarray(x, dtype=float)
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        cols.append((g(x + e) - g(x - e)) / (2 * h))
    return np.stack(cols, axis=1)


def gd(grad, x0, lrs):
    """Gradient descent, one Python step per learning rate."""
    x = np.array(x0, dtype=float)
    path = [x.copy()]
    for lr in lrs:
        x = x - lr * grad(x)
        path.append(x.copy())
    return np.array(path)


def softmax_cross_entropy(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def mlp_loss(w, X, y, h, k, l2=0.0):
    d = X.shape[1]
    W1 = w[: d * h].reshape(d, h)
    b1 = w[d * h: d * h + h]
    W2 = w[d * h + h: d * h + h + h * k].reshape(h, k)
    b2 = w[d * h + h + h * k:]
    logits = np.tanh(X @ W1 + b1) @ W2 + b2
    return softmax_cross_entropy(logits, y) + 0.5 * l2 * (np.sum(W1**2) + np.sum(W2**2))


def logistic_loss(w, X, y, l2=0.0):
    z = X @ w[:-1] + w[-1]
    return np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.sum(w[:-1] ** 2)


def linear_loss(w, X, y, l2=0.0):
    r = X @ w[:-1] + w[-1] - y
    return 0.5 * np.mean(r**2) + 0.5 * l2 * np.sum(w[:-1] ** 2)


def mlp_logits(w, X, h, k):
    """The logits tanh(X W1 + b1) W2 + b2 of the one-hidden-layer MLP (layout as mlp_loss)."""
    d = X.shape[1]
    W1 = w[: d * h].reshape(d, h)
    b1 = w[d * h: d * h + h]
    W2 = w[d * h + h: d * h + h + h * k].reshape(h, k)
    b2 = w[d * h + h + h * k:]
    return np.tanh(X @ W1 + b1) @ W2 + b2


def run_steps(opt, p0, grads, dtype=np.float64):
    """Feed a sequence of gradients through ``opt.step``; returns the parameters after
    each step (one row per step) and the final state."""
    w = np.array(p0, dtype=dtype)
    state = opt.init(w)
    out = np.empty((len(grads), w.size), dtype=dtype)
    for k, g in enumerate(grads):
        state = opt.step(w, g.astype(dtype), state)
        out[k] = w
    return out, state


def torch_steps(p, topt, grads, sched=None):
    """The live-torch counterpart of :func:`run_steps`: set ``p.grad`` to each gradient,
    step ``topt`` (then ``sched``), and return the parameters after each step."""
    import torch

    out = []
    for g in grads:
        p.grad = torch.tensor(g)
        topt.step()
        if sched is not None:
            sched.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


class Wrapped:
    """A built-in landscape seen through value/grad only (forces the Python loop)."""

    def __init__(self, fn):
        self.fn = fn

    def value(self, x):
        return self.fn.value(x)

    def grad(self, x):
        return self.fn.grad(x)
