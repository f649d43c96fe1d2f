"""Losses and hand-derived gradients of the small models, one kernel each.

Parameters are one flat vector ``w``; each kernel writes the gradient of the mean loss
over the rows of ``X`` into ``grad`` and returns the loss. ``l2`` adds (l2/2)*||W||^2
over the weights (not the biases). Given an empty ``grad`` a kernel returns the loss
alone, skipping the backward pass (evaluation during training): the same loss, bit for
bit.

The tanh of the hidden units is :func:`tanh`, written out below rather than
``np.tanh``: Numba turns ``np.tanh`` into one call of the C library's tanh per entry
(about 13 ns here; the RNN spent about two thirds of its training time there),
while plain arithmetic in a loop is vectorised by LLVM (about 2 ns). The softmax's
exponentials are :func:`exp`, written out for the same reason. Their loops,
:func:`tanh_inplace` and :func:`exp_inplace`, are compiled with
``error_model="numpy"``: Python's check for a division by zero is a branch out of the
loop that stops the vectorisation (see :mod:`optlib._kernels.optim`).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# tanh on |x| < 0.625 is x + x^3 P(x^2)/Q(x^2), and exp on |r| <= ln(2)/2 is
# 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)): the minimax coefficients of Moshier's Cephes
# library (tanh.c, exp.c), accurate far below a double's rounding on those intervals.
_TANH_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TANH_Q = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)
_EXP_P = (1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1)
_EXP_Q = (3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1,
          2.00000000000000000009e0)
_LN2_HI, _LN2_LO = 6.93145751953125e-1, 1.42860682030941723212e-6  # n * _LN2_HI is exact


@intrinsic
def pow2(typingctx, n):
    """2.0 ** n for an integer -1022 <= n <= 1023: the double whose exponent field holds
    n + 1023 and whose mantissa bits are 0, made by an add, a shift and a reading of
    the 64 bits as a double, which LLVM vectorises. (``float(1 << n)`` does the same
    with arithmetic, but only for 0 <= n <= 62; ``math.ldexp`` is a library call.)"""
    if not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        n64 = context.cast(builder, args[0], sig.args[0], types.int64)
        bits = builder.shl(builder.add(n64, ir.Constant(i64, 1023)), ir.Constant(i64, 52))
        return builder.bitcast(bits, ir.DoubleType())
    return types.float64(n), codegen


@njit(inline="always", error_model="numpy")
def exp(x):
    """e^x in float64 from arithmetic LLVM can vectorise; the same bits on every machine.
    Measured within 2 ulp of the exact value, 1.67 at worst, and correctly rounded for
    most x (tests/test_models.py).

    x = n ln 2 + r with n = round(x / ln 2), so |r| <= ln(2)/2; e^r from the rational
    function above, times 2^n in two halves (each a power of two :func:`pow2` can
    make; below 2^-1022 the result is subnormal and rounds once, in the second
    product). x is first clamped to [-746, 710], beyond which e^x is 0 or inf anyway.
    """
    x = np.float64(x)  # (float(x) would keep a float32 a float32)
    # NaN -> -746 (int() of NaN is undefined: machines disagree), returned as NaN below
    u = -746.0 if not x > -746.0 else x if x < 710.0 else 710.0
    n = int(math.floor(u * 1.4426950408889634 + 0.5))
    r = (u - n * _LN2_HI) - n * _LN2_LO  # n * _LN2_HI is exact
    rr = r * r
    e0, e1, e2 = _EXP_P
    f0, f1, f2, f3 = _EXP_Q
    px = r * ((e0 * rr + e1) * rr + e2)
    e_r = 1.0 + 2.0 * (px / ((((f0 * rr + f1) * rr + f2) * rr + f3) - px))
    half = n >> 1
    y = e_r * pow2(half) * pow2(n - half)
    return y if x == x else x


@njit(inline="always", error_model="numpy")
def tanh(x):
    """tanh(x) in float64 from arithmetic LLVM can vectorise; the same bits on every
    machine (plain IEEE operations in a fixed order). Measured within 1.5 ulp of the
    exact value: the worst case found, 1.497 ulp, lies just above 0.625, where the
    second branch starts (tests/test_models.py sweeps it).

    Below |x| = 0.625 x + x^3 P(x^2)/Q(x^2); above, 1 - 2 / (e^(2|x|) + 1) with
    :func:`exp` (|x| is capped at 20, where tanh is 1 to double precision).
    """
    x = np.float64(x)
    ax = abs(x)
    z = ax * ax
    p0, p1, p2 = _TANH_P
    q0, q1, q2 = _TANH_Q
    small = ax + ax * z * (((p0 * z + p1) * z + p2) / (((z + q0) * z + q1) * z + q2))
    # NaN -> 0.625, so that the exp below never sees it
    big = 1.0 - 2.0 / (exp(2.0 * (0.625 if not ax > 0.625 else ax if ax < 20.0 else 20.0))
                       + 1.0)
    return math.copysign(big if ax >= 0.625 else small, x)  # NaN takes the small branch


@njit(cache=True, error_model="numpy")
def tanh_inplace(a):
    """a[...] = tanh(a) for a C-contiguous array, in float64, rounded once to a's dtype."""
    flat = a.reshape(a.size)
    for i in range(flat.size):
        flat[i] = tanh(flat[i])


@njit(cache=True, error_model="numpy")
def exp_inplace(a):
    """a[...] = e^a for a C-contiguous array, in float64, rounded once to a's dtype."""
    flat = a.reshape(a.size)
    for i in range(flat.size):
        flat[i] = exp(flat[i])


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
def _mlp_forward(w, X, n_hidden, n_out):
    """(A, Z): the hidden activations tanh(X W1 + b1) and the logits A W2 + b2.

    Each product is written straight into its array (``np.dot``'s third argument) and
    each bias added in a loop, where ``X @ W1 + b1`` allocates a second array and passes
    over it again. With the like changes in the backward pass this took about a fifth
    off the gradient of a 32-row minibatch when it was written (9.8 to 8.0 us, 64-16-10).
    """
    n, d = X.shape
    h, k = n_hidden, n_out
    o1 = d * h
    o2 = o1 + h
    o3 = o2 + h * k
    A = np.empty((n, h), dtype=w.dtype)
    np.dot(X, w[:o1].reshape(d, h), A)
    for i in range(n):
        for j in range(h):
            A[i, j] += w[o1 + j]
    tanh_inplace(A)
    Z = np.empty((n, k), dtype=w.dtype)
    np.dot(A, w[o2:o3].reshape(h, k), Z)
    for i in range(n):
        for c in range(k):
            Z[i, c] += w[o3 + c]
    return A, Z


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
    A, Z = _mlp_forward(w, X, h, k)   # (n, h) hidden activations, (n, k) logits
    loss = 0.0
    for i in range(n):                # softmax and dL/dZ in place: shift each row by its
        zmax = Z[i, 0]                # maximum (so no exp overflows), exponentiate all
        for c in range(1, k):         # rows in one vectorised loop, then normalise. (A
            zmax = max(zmax, Z[i, c])  # loop: Z[i].max() made a view per row, 30 ns.)
        loss -= Z[i, y[i]] - zmax
        for c in range(k):
            Z[i, c] -= zmax
    exp_inplace(Z)
    for i in range(n):
        s = 0.0
        for c in range(k):
            s += Z[i, c]
        loss += math.log(s)
        if grad.size:
            for c in range(k):
                Z[i, c] /= s * n
            Z[i, y[i]] -= 1.0 / n
    loss /= n
    for lo, hi in ((0, o1), (o2, o3)):  # the weight matrices W1 and W2, not the biases
        for j in range(lo, hi):
            loss += 0.5 * l2 * w[j] * w[j]
    if grad.size == 0:
        return loss
    gb1 = grad[o1:o2]
    gb2 = grad[o3:]
    np.dot(A.T, Z, grad[o2:o3].reshape(h, k))              # dL/dW2
    gb2[:] = 0.0
    for i in range(n):
        for c in range(k):
            gb2[c] += Z[i, c]
    D = np.empty((n, h), dtype=w.dtype)
    np.dot(Z, w[o2:o3].reshape(h, k).T, D)
    gb1[:] = 0.0
    for i in range(n):                # back through tanh, elementwise to keep the dtype
        for j in range(h):
            D[i, j] *= 1.0 - A[i, j] * A[i, j]
            gb1[j] += D[i, j]
    np.dot(X.T, D, grad[:o1].reshape(d, h))                # dL/dW1
    for lo, hi in ((0, o1), (o2, o3)):
        for j in range(lo, hi):
            grad[j] += l2 * w[j]
    return loss


@njit(cache=True)
def mlp_logits(w, X, n_hidden, n_out):
    return _mlp_forward(w, X, n_hidden, n_out)[1]


@njit(cache=True)
def _rnn_states(w, X, n_hidden, keep):
    """(H, last): the hidden states of the RNN over X, H[t] after input t, H[0] = 0, and
    the last state. With ``keep`` all T + 1 of them, shape (T + 1, n, h), as
    backpropagation needs; otherwise only the last two, shape (2, n, h), state t in
    H[t % 2], so that evaluating a large set does not allocate T copies of its states.

    Per step one product, written into the state's row (``np.dot``'s third argument),
    then the bias and the inputs' share added in a loop: few inputs (two in the adding
    problem) make that a handful of multiply-adds per entry, where a product of their
    own cost a library call, a copy of the step's inputs and a new array each.
    """
    n, T, d = X.shape
    h = n_hidden
    o1 = d * h
    o2 = o1 + h * h
    W_xh = w[:o1].reshape(d, h)
    W_hh = w[o1:o2].reshape(h, h)
    b_h = w[o2:o2 + h]
    H = np.empty((T + 1 if keep else 2, n, h), dtype=w.dtype)
    H[0] = 0.0
    for t in range(T):
        Ht = H[t + 1] if keep else H[(t + 1) % 2]
        np.dot(H[t] if keep else H[t % 2], W_hh, Ht)
        for i in range(n):
            for j in range(h):
                Ht[i, j] += b_h[j]
            for c in range(d):
                x = X[i, t, c]
                for j in range(h):
                    Ht[i, j] += x * W_xh[c, j]
        tanh_inplace(Ht)
    return H, H[T] if keep else H[T % 2]


@njit(cache=True)
def _rnn_readout(w, last, n_out):
    """The output last W_hy + b_y of the RNN from its last states ``last`` (n, h)."""
    h = last.shape[1]
    o4 = w.size - n_out               # W_hy (h, k) ends where b_y (k) starts
    out = np.dot(last, w[o4 - h * n_out:o4].reshape(h, n_out))
    for i in range(out.shape[0]):
        for c in range(n_out):
            out[i, c] += w[o4 + c]
    return out


@njit(cache=True)
def rnn(w, X, y, n_hidden, l2, grad):
    """A tanh RNN read out from its last state; loss mean((out - y)^2)/2 over sequences.

    X has shape (n, T, d); y shape (n, k). Layout of ``w``: W_xh (d, h), W_hh (h, h),
    b_h (h), W_hy (h, k), b_y (k), each row major. Gradients by backpropagation through
    time: the inputs' and biases' gradients accumulated step by step, the recurrent
    weights' in one product over all steps at the end.
    """
    n, T, d = X.shape
    h = n_hidden
    k = y.shape[1]
    o1 = d * h
    o2 = o1 + h * h
    o3 = o2 + h
    o4 = o3 + h * k
    W_hy = w[o3:o4].reshape(h, k)
    keep = grad.size > 0
    H, last = _rnn_states(w, X, h, keep)
    r = _rnn_readout(w, last, k)      # the output, then the residual out - y
    loss = 0.0
    for i in range(n):
        for c in range(k):
            r[i, c] -= y[i, c]
            loss += r[i, c] * r[i, c]
    loss = 0.5 * loss / n
    for lo, hi in ((0, o2), (o3, o4)):  # L2 on the weight matrices, not the biases
        for j in range(lo, hi):
            loss += 0.5 * l2 * w[j] * w[j]
    if not keep:
        return loss
    gW_xh = grad[:o1].reshape(d, h)
    gb_h = grad[o2:o3]
    gb_y = grad[o4:]
    gW_xh[:, :] = 0.0
    gb_h[:] = 0.0
    gb_y[:] = 0.0
    for i in range(n):
        for c in range(k):
            r[i, c] /= n
            gb_y[c] += r[i, c]
    np.dot(last.T, r, grad[o3:o4].reshape(h, k))                  # dL/dW_hy
    # contiguous copies of the transposed weights: the order of the products' additions
    # chapter 4's chaotic seed study was checked with (views change the last bits)
    W_hhT = np.ascontiguousarray(w[o1:o2].reshape(h, h).T)
    D = np.empty((T, n, h), dtype=w.dtype)  # D[t - 1]: dL/d(step t's pre-activation)
    dh = np.dot(r, np.ascontiguousarray(W_hy.T))                    # dL/dH[T]
    for t in range(T, 0, -1):
        Dt = D[t - 1]
        for i in range(n):
            for j in range(h):        # back through tanh, elementwise to keep the dtype
                Dt[i, j] = dh[i, j] * (1.0 - H[t, i, j] * H[t, i, j])
                gb_h[j] += Dt[i, j]
            for c in range(d):
                x = X[i, t - 1, c]
                for j in range(h):
                    gW_xh[c, j] += x * Dt[i, j]
        if t > 1:
            np.dot(Dt, W_hhT, dh)                                   # dL/dH[t - 1]
    # dL/dW_hh = sum over steps of H[t - 1]^T D[t - 1]: one product over all of them
    np.dot(H[:T].reshape(T * n, h).T, D.reshape(T * n, h), grad[o1:o2].reshape(h, h))
    for lo, hi in ((0, o2), (o3, o4)):
        for j in range(lo, hi):
            grad[j] += l2 * w[j]
    return loss


@njit(cache=True)
def rnn_output(w, X, n_hidden, n_out):
    return _rnn_readout(w, _rnn_states(w, X, n_hidden, False)[1], n_out)
