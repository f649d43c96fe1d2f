"""Losses and hand-derived gradients of the small models, one kernel each.

Parameters are one flat vector ``w``; each kernel writes the gradient of the mean loss
over the rows of ``X`` into ``grad`` and returns the loss. ``l2`` adds (l2/2)*||W||^2
over the weights (not the biases). Given an empty ``grad`` a kernel returns the loss
alone, skipping the backward pass (evaluation during training): the same loss, bit for
bit.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _mean_plus_l2(loss, w, n, d, l2, grad):
    """Turn sums over n rows into means and add (l2/2)||w[:d]||^2 (the bias w[d] is free)."""
    loss /= n
    for j in range(d + 1 if grad.size else 0):
        grad[j] /= n
    for j in range(d):
        loss += 0.5 * l2 * w[j] * w[j]
        if grad.size:
            grad[j] += l2 * w[j]
    return loss


@njit(cache=True)
def linear_regression(w, X, y, l2, grad):
    """Mean of (x.w[:d] + w[d] - y)^2 / 2."""
    n, d = X.shape
    grad[:] = 0.0
    loss = 0.0
    for i in range(n):
        r = w[d] - y[i]
        for j in range(d):
            r += X[i, j] * w[j]
        loss += 0.5 * r * r
        if grad.size:
            for j in range(d):
                grad[j] += r * X[i, j]
            grad[d] += r
    return _mean_plus_l2(loss, w, n, d, l2, grad)


@njit(cache=True)
def logistic_regression(w, X, y, l2, grad):
    """Mean binary cross-entropy of sigmoid(x.w[:d] + w[d]) against labels y in {0, 1}."""
    n, d = X.shape
    grad[:] = 0.0
    loss = 0.0
    for i in range(n):
        z = w[d]
        for j in range(d):
            z += X[i, j] * w[j]
        # log(1 + e^z) - y z, computed without overflow
        loss += max(z, 0.0) + math.log1p(math.exp(-abs(z))) - y[i] * z
        if grad.size:
            p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
            r = p - y[i]
            for j in range(d):
                grad[j] += r * X[i, j]
            grad[d] += r
    return _mean_plus_l2(loss, w, n, d, l2, grad)


@njit(cache=True)
def mlp(w, X, y, n_hidden, n_out, l2, grad):
    """One tanh hidden layer, softmax output, mean cross-entropy against integer labels.

    Layout of ``w``: W1 (d, h) row major, b1 (h), W2 (h, k) row major, b2 (k).
    """
    n, d = X.shape
    h, k = n_hidden, n_out
    o1 = d * h
    o2 = o1 + h
    o3 = o2 + h * k
    W1 = w[:o1].reshape(d, h)
    b1 = w[o1:o2]
    W2 = w[o2:o3].reshape(h, k)
    b2 = w[o3:]

    A = np.tanh(X @ W1 + b1)          # (n, h) hidden activations
    Z = A @ W2 + b2                   # (n, k) logits
    loss = 0.0
    for i in range(n):                # softmax and dL/dZ in place
        zmax = Z[i].max()
        loss -= Z[i, y[i]] - zmax
        s = 0.0
        for c in range(k):
            Z[i, c] = math.exp(Z[i, c] - zmax)
            s += Z[i, c]
        loss += math.log(s)
        for c in range(k):
            Z[i, c] /= s * n
        Z[i, y[i]] -= 1.0 / n
    loss /= n
    for lo, hi in ((0, o1), (o2, o3)):  # the weight matrices W1 and W2, not the biases
        for j in range(lo, hi):
            loss += 0.5 * l2 * w[j] * w[j]
    if grad.size == 0:
        return loss
    gW1 = grad[:o1].reshape(d, h)
    gb1 = grad[o1:o2]
    gW2 = grad[o2:o3].reshape(h, k)
    gb2 = grad[o3:]
    gW2[:, :] = A.T @ Z
    gb2[:] = Z.sum(axis=0)
    D = Z @ W2.T                      # back through tanh, elementwise to keep the dtype
    for i in range(n):
        for j in range(h):
            D[i, j] *= 1.0 - A[i, j] * A[i, j]
    gW1[:, :] = X.T @ D
    gb1[:] = D.sum(axis=0)
    for lo, hi in ((0, o1), (o2, o3)):
        for j in range(lo, hi):
            grad[j] += l2 * w[j]
    return loss


@njit(cache=True)
def mlp_logits(w, X, n_hidden, n_out):
    n, d = X.shape
    o1 = d * n_hidden
    o2 = o1 + n_hidden
    o3 = o2 + n_hidden * n_out
    A = np.tanh(X @ w[:o1].reshape(d, n_hidden) + w[o1:o2])
    return A @ w[o2:o3].reshape(n_hidden, n_out) + w[o3:]


@njit(cache=True)
def rnn(w, X, y, n_hidden, l2, grad):
    """A tanh RNN read out from its last state; loss mean((out - y)^2)/2 over sequences.

    X has shape (n, T, d); y shape (n, k). Layout of ``w``: W_xh (d, h), W_hh (h, h),
    b_h (h), W_hy (h, k), b_y (k), each row major. Gradients by backpropagation through
    time, accumulated over the T steps.
    """
    n, T, d = X.shape
    h = n_hidden
    k = y.shape[1]
    o1 = d * h
    o2 = o1 + h * h
    o3 = o2 + h
    o4 = o3 + h * k
    W_xh = w[:o1].reshape(d, h)
    W_hh = w[o1:o2].reshape(h, h)
    b_h = w[o2:o3]
    W_hy = w[o3:o4].reshape(h, k)
    b_y = w[o4:]

    H = np.zeros((T + 1, n, h), dtype=w.dtype)   # H[0] = 0, H[t] after input t
    for t in range(T):
        H[t + 1] = np.tanh(np.ascontiguousarray(X[:, t, :]) @ W_xh + H[t] @ W_hh + b_h)
    out = H[T] @ W_hy + b_y
    r = out - y
    loss = 0.5 * np.sum(r * r) / n
    for lo, hi in ((0, o2), (o3, o4)):  # L2 on the weight matrices, not the biases
        for j in range(lo, hi):
            loss += 0.5 * l2 * w[j] * w[j]
    if grad.size == 0:
        return loss
    grad[:] = 0.0
    gW_xh = grad[:o1].reshape(d, h)
    gW_hh = grad[o1:o2].reshape(h, h)
    gb_h = grad[o2:o3]
    gW_hy = grad[o3:o4].reshape(h, k)
    gb_y = grad[o4:]
    r /= n
    gW_hy[:, :] = H[T].T @ r
    gb_y[:] = r.sum(axis=0)
    dh = r @ W_hy.T
    for t in range(T, 0, -1):
        da = dh.copy()                    # back through tanh, elementwise to keep the dtype
        for i in range(n):
            for j in range(h):
                da[i, j] *= 1.0 - H[t, i, j] * H[t, i, j]
        gW_xh += np.ascontiguousarray(X[:, t - 1, :]).T @ da
        gW_hh += H[t - 1].T @ da
        gb_h += da.sum(axis=0)
        dh = da @ W_hh.T
    for lo, hi in ((0, o2), (o3, o4)):
        for j in range(lo, hi):
            grad[j] += l2 * w[j]
    return loss


@njit(cache=True)
def rnn_output(w, X, n_hidden, n_out):
    n, T, d = X.shape
    h = n_hidden
    o1 = d * h
    o2 = o1 + h * h
    o3 = o2 + h
    o4 = o3 + h * n_out
    state = np.zeros((n, h), dtype=w.dtype)
    for t in range(T):
        state = np.tanh(np.ascontiguousarray(X[:, t, :]) @ w[:o1].reshape(d, h)
                        + state @ w[o1:o2].reshape(h, h) + w[o2:o3])
    return state @ w[o3:o4].reshape(h, n_out) + w[o4:]
