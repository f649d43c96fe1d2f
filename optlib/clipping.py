"""Gradient clipping: by global norm, per array, and by value. All clip *in place*.

``grads`` is one float array or a list of them (one per parameter group). Every function
returns the size the gradient had *before* clipping, which is what training logs plot.

================================  ==========================================  =================
rule                              scale applied                               peer
================================  ==========================================  =================
``clip_grad_norm`` (default)      ``min(1, max_norm / (total + 1e-6))``        torch ``clip_grad_norm_``
``clip_grad_norm(exact=True)``    ``max_norm / max(total, max_norm)``          optax, TensorFlow
``clip_by_norm`` (per array)      ``max_norm / max(norm_i, max_norm)``         tf ``clip_by_norm``
``clip_grad_value``               clamp each entry to ``[-c, c]``              torch ``clip_grad_value_``
================================  ==========================================  =================

Non-finite gradients: with ``error_if_nonfinite=True`` a NaN or infinite total norm raises
before anything is changed. Otherwise the rule is applied as the peers do: torch's scale
``max_norm / (inf + 1e-6)`` is 0, so finite entries become 0 and infinite ones NaN; the
exact rule (TensorFlow's) turns every entry into NaN. A NaN norm makes everything NaN.
"""

import math

import numpy as np

from . import _validate as v
from ._kernels import clipping as _k

TORCH_EPS = 1e-6


def _arrays(grads, inplace=True):
    """A list of C-contiguous float arrays, from one array or a list: arrays clipped in
    place, or (``inplace=False``) only read."""
    if not isinstance(grads, (np.ndarray, list, tuple)):
        raise TypeError("grads must be a NumPy float array or a list of them (clipped in "
                        f"place), got {type(grads).__name__}")
    items = [grads] if isinstance(grads, np.ndarray) else list(grads)
    if not items:
        raise ValueError("grads must hold at least one array")
    for i, g in enumerate(items):
        name = "grads" if isinstance(grads, np.ndarray) else f"grads[{i}]"
        if inplace:
            v.updatable(name, g, finite=False)
        elif not isinstance(g, np.ndarray):
            raise TypeError(f"{name} must be a NumPy float array, got {type(g).__name__}")
        else:
            v.float_array(name, g, finite=False)
    return items


def _norm_type(norm_type):
    if norm_type in ("inf", np.inf, math.inf):
        return math.inf
    try:
        return v.real("norm_type", norm_type, low=1.0)
    except (TypeError, ValueError) as e:  # a message naming both kinds of allowed value
        raise type(e)("norm_type must be a real number p >= 1, or inf (also 'inf'), got "
                      f"{norm_type!r}") from None


def global_norm(grads, norm_type=2.0):
    """The norm of all arrays together: the norm of the per-array norms."""
    p = _norm_type(norm_type)
    norms = np.array([_k.norm(g.reshape(-1), p) for g in _arrays(grads, inplace=False)])
    return float(_k.norm(norms, p))


def clip_grad_norm(grads, max_norm, norm_type=2.0, exact=False, error_if_nonfinite=False):
    """Scale all arrays together so that their global norm is at most ``max_norm``.

    Default: torch's rule, ``coef = min(1, max_norm / (total + 1e-6))`` applied always
    (so a norm just below ``max_norm`` is shrunk by a hair, and the clipped norm is
    ``max_norm * total / (total + 1e-6)``, a hair below ``max_norm``). ``exact=True``:
    optax's and TensorFlow's rule, no epsilon, the clipped norm is exactly ``max_norm``
    and gradients under it are untouched. Returns the total norm before clipping.
    ``max_norm=math.inf`` clips nothing and returns the norm (torch's idiom for logging
    it); an infinite norm still turns the gradients into NaN, as in torch.
    """
    items = _arrays(grads)
    max_norm = v.real("max_norm", max_norm, low=0.0, low_inclusive=False, inf=True)
    exact = v.boolean("exact", exact)
    error_if_nonfinite = v.boolean("error_if_nonfinite", error_if_nonfinite)
    total = global_norm(items, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise ValueError(f"the total norm of the gradients is {total}; "
                         "error_if_nonfinite=True refuses to clip it")
    return _apply_rule(items, total, max_norm, exact)


def _apply_rule(items, total, max_norm, exact):
    """Scale the flat-able arrays ``items``, whose global norm is ``total``, by the rule's
    coefficient (checked arguments; ``optlib.chain.clip_by_global_norm`` calls it on its
    own flat update); returns ``total``."""
    if exact:  # (written so that max_norm = inf leaves a finite-norm gradient as it is)
        coef = 1.0 if total <= max_norm else max_norm / total  # NaN total: NaN
        if math.isinf(total):
            coef = math.nan  # TensorFlow: inf norm gives NaN everywhere
    else:
        coef = min(max_norm / (total + TORCH_EPS), 1.0) if not math.isnan(total) else math.nan
    if exact and coef == 1.0:
        return total
    for g in items:
        _k.scale(g.reshape(-1), coef)
    return total


def clip_by_norm(grads, max_norm, norm_type=2.0):
    """Clip each array on its own to norm at most ``max_norm`` (tf ``clip_by_norm``, no
    epsilon). Returns the list of norms before clipping."""
    items = _arrays(grads)
    max_norm = v.positive("max_norm", max_norm)
    p = _norm_type(norm_type)
    norms = []
    for g in items:
        n = float(_k.norm(g.reshape(-1), p))
        norms.append(n)
        if n > max_norm or math.isnan(n):  # inf: finite entries -> 0, infinite -> NaN (tf)
            _k.scale(g.reshape(-1), max_norm / n)
    return norms


def clip_grad_value(grads, clip_value):
    """Clamp every entry to ``[-clip_value, clip_value]`` (torch ``clip_grad_value_``).

    This changes the gradient's *direction* as well as its size. Returns the largest
    absolute entry before clipping (the inf-norm).
    """
    items = _arrays(grads)
    c = v.positive("clip_value", clip_value)
    return float(np.max([_k.clamp(g.reshape(-1), c) for g in items]))  # NaN propagates
