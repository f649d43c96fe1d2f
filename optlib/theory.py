"""Closed-form convergence rates on quadratics, for checking experiments against theory.

On f(w) = 1/2 (w - w*)^T A (w - w*) every eigen-direction of A evolves on its own.
Gradient descent multiplies the error along an eigenvalue lam by (1 - lr*lam) per step.
The heavy ball (momentum) iterates the 2x2 matrix

    [[1 + gamma - lr*lam, -gamma],
     [1,                    0   ]]

on (e_k, e_{k-1}); its spectral radius is the per-step rate along that direction.
"""

import numpy as np

from . import _validate as v


def _reals(name, values, low=None):
    """A float array of ``values`` (a number or an array-like of them, not booleans),
    all finite and, if ``low`` is given, >= low."""
    try:
        if isinstance(values, np.ma.MaskedArray):  # np.asarray would drop the mask
            raise TypeError
        arr = np.asarray(values)
        if arr.dtype.kind not in "iuf":  # None, strings, booleans, complex
            raise TypeError
        arr = arr.astype(float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be real numbers, got {values!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {values!r}")
    if low is not None and np.any(arr < low):
        raise ValueError(f"{name} must be >= {low}, got {values!r}")
    return arr


def _eigs(eigenvalues):
    lam = v.float_array("eigenvalues", np.atleast_1d(_reals("eigenvalues", eigenvalues)),
                        ndim=1, copy=True)
    if np.any(lam <= 0):
        raise ValueError(f"eigenvalues must be > 0, got {lam}")
    return lam


def gd_rate(lr, eigenvalues):
    """max_i |1 - lr * lam_i|: gradient descent's contraction per step (< 1: converges)."""
    lr = _reals("lr", lr, low=0.0)
    lam = _eigs(eigenvalues)
    return np.max(np.abs(1.0 - lr[..., None] * lam), axis=-1)


def heavy_ball_rate(lr, momentum, eigenvalues):
    """The heavy ball's contraction per step: the largest spectral radius, over the
    eigenvalues, of its 2x2 iteration matrix. ``lr`` and ``momentum`` broadcast."""
    lr, momentum = _reals("lr", lr, low=0.0), _reals("momentum", momentum)
    try:
        lr, gamma = np.broadcast_arrays(lr, momentum)
    except ValueError:
        raise ValueError(f"lr and momentum must broadcast together, got shapes {lr.shape} "
                         f"and {momentum.shape}") from None
    if not np.all((gamma >= 0) & (gamma < 1)):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    lam = _eigs(eigenvalues)
    b = 1.0 + gamma[..., None] - lr[..., None] * lam   # roots of z^2 - b z + gamma = 0
    disc = b * b - 4.0 * gamma[..., None]
    sq = np.sqrt(np.abs(disc))
    radius = np.where(disc >= 0, (np.abs(b) + sq) / 2.0, np.sqrt(gamma[..., None]))
    return radius.max(axis=-1)


def heavy_ball_optimal(mu, L):
    """Polyak's optimal (lr, momentum, rate) for eigenvalues in [mu, L]:
    lr = 4/(sqrt L + sqrt mu)^2, momentum = rate^2, rate = (sqrt k - 1)/(sqrt k + 1)."""
    mu = v.positive("mu", mu)
    L = v.positive("L", L)
    if mu > L:
        raise ValueError(f"mu must be <= L, got mu={mu} > L={L}")
    rate = (np.sqrt(L) - np.sqrt(mu)) / (np.sqrt(L) + np.sqrt(mu))
    return 4.0 / (np.sqrt(L) + np.sqrt(mu)) ** 2, rate**2, rate
