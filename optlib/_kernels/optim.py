"""Update rules, one kernel each, and the dispatcher every loop goes through.

A rule updates the flat parameter array ``p`` in place from the gradient ``g``; its
state arrays (velocity, moments) are ``s0, s1, s2`` (size-0 arrays when unused) and its
hyperparameters the float array ``hyper``. ``lr`` is the learning rate for this step
and ``step`` the 0-based count of steps taken before it.

Every rule first works out its scalar coefficients (bias corrections, ``1 - beta``,
``lr * weight_decay``) in float64, as Python would, and rounds each once to the
parameters' dtype with :func:`typed`; the loop over the entries then computes in that
dtype, as torch's kernels do. (Without the rounding, one float64 scalar in a float32
loop turns every operation into a float64 one: twice the work per vector register,
and the slowest float32 kernels ran 1.6-2x their memory floor.) For float64 arrays
:func:`typed` changes nothing.

Two habits keep each loop vectorisable (the performance appendix measures both):

* ``error_model="numpy"``: a division by zero gives inf or NaN as in NumPy instead of
  raising Python's ZeroDivisionError. The check for it is a branch out of the loop
  that stops LLVM from vectorising any loop that divides. No rule here divides by
  zero (every denominator is at least ``eps > 0``), so no result changes.
* A flag that only picks a *value* (``maximize``, ``nesterov``) may stay inside the
  loop: it becomes a select. A flag that decides which *arrays* are read or written
  (AMSGrad's maximum, RMSprop's centred average and momentum buffer) is tested once,
  outside, with one plain loop per case.

And one habit keeps each *call* cheap: ``_nrt=False`` compiles a kernel without Numba's
reference counting. These kernels allocate nothing, so they need none; with it, every
call that passes arrays pays atomic increments and decrements, which cost a 2-D
trajectory more than its arithmetic (the performance appendix times a loop of calls
both ways).
"""

import math

from numba import njit
from numba.extending import overload

GD, MOMENTUM, HEAVY_BALL, NESTEROV_LOOKAHEAD, ADAGRAD, RMSPROP, ADAM, NADAM = range(8)


def typed(x, arr):
    """The scalar ``x`` rounded to the dtype of the array ``arr``. (This body runs when
    a kernel's Python source runs, ``kernel.py_func``; jitted code runs the overload.)"""
    return arr.dtype.type(x)


@overload(typed, jit_options={"error_model": "numpy"})
def _typed(x, arr):
    dtype = arr.dtype
    return lambda x, arr: dtype(x)


@njit(cache=True, error_model="numpy", _nrt=False)
def lerp_weights(w, arr):
    """(w, 1 - w) in arr's dtype for :func:`lerp`: 1 - w is taken from the rounded w,
    as torch's lerp takes it (exact whenever lerp uses it, w >= 1/2)."""
    c_w = typed(w, arr)
    return c_w, typed(1.0, arr) - c_w


@njit(cache=True, error_model="numpy", _nrt=False)
def lerp(a, b, w, rest):
    """a + w (b - a), rounded as torch's lerp_ rounds it (from the nearer end);
    ``rest`` is 1 - w."""
    if w < 0.5:
        return a + w * (b - a)
    return b - (b - a) * rest


@njit(cache=True, error_model="numpy", _nrt=False)
def gd_step(p, g, lr):
    """Plain gradient descent: p <- p - lr * g."""
    c_lr = typed(lr, p)
    for i in range(p.size):
        p[i] -= c_lr * g[i]


@njit(cache=True, error_model="numpy", _nrt=False)
def momentum_step(p, g, v, lr, mu, dampening, nesterov, weight_decay, maximize, step):
    """torch.optim.SGD with momentum: v <- mu v + (1 - dampening) g (v <- g on the first
    step), then p <- p - lr (g + mu v) with Nesterov, p <- p - lr v without."""
    c_lr, c_mu, c_wd = typed(lr, p), typed(mu, p), typed(weight_decay, p)
    if mu == 0.0:  # torch keeps no buffer then: plain SGD, dampening unused
        for i in range(p.size):
            gi = -g[i] if maximize else g[i]
            gi += c_wd * p[i]
            p[i] -= c_lr * gi
        return
    c_g = typed(1.0 - dampening, p)
    for i in range(p.size):
        gi = -g[i] if maximize else g[i]
        gi += c_wd * p[i]
        if step == 0:
            v[i] = gi
        else:
            v[i] = c_mu * v[i] + c_g * gi
        d = gi + c_mu * v[i] if nesterov else v[i]
        p[i] -= c_lr * d


@njit(cache=True, error_model="numpy", _nrt=False)
def heavy_ball_step(p, g, v, lr, gamma):
    """The textbook form: v <- gamma v + lr g, then p <- p - v (lr inside the velocity).

    For Nesterov's look-ahead form the same update runs, with g taken at p - gamma v.
    """
    c_lr, c_gamma = typed(lr, p), typed(gamma, p)
    for i in range(p.size):
        v[i] = c_gamma * v[i] + c_lr * g[i]
        p[i] -= v[i]


@njit(cache=True, error_model="numpy", _nrt=False)
def adagrad_step(p, g, acc, lr, lr_decay, weight_decay, eps, maximize, step):
    """torch.optim.Adagrad: acc <- acc + g^2; p <- p - lr_t g / (sqrt(acc) + eps),
    with lr_t = lr / (1 + step * lr_decay)."""
    clr = typed(lr / (1.0 + step * lr_decay), p)
    c_wd, c_eps = typed(weight_decay, p), typed(eps, p)
    for i in range(p.size):
        gi = -g[i] if maximize else g[i]
        gi += c_wd * p[i]
        acc[i] += gi * gi
        p[i] -= clr * gi / (math.sqrt(acc[i]) + c_eps)


@njit(cache=True, error_model="numpy", _nrt=False)
def rms_grad(p, g, sq, i, alpha, rest, weight_decay, maximize):
    """RMSprop's gradient for entry i (sign, weight decay); updates its mean of g^2
    (``rest`` is 1 - alpha)."""
    gi = -g[i] if maximize else g[i]
    gi += weight_decay * p[i]
    sq[i] = alpha * sq[i] + rest * gi * gi
    return gi


@njit(cache=True, error_model="numpy", _nrt=False)
def rmsprop_step(p, g, sq, avg, buf, lr, alpha, eps, weight_decay, momentum, centered,
                 maximize):
    """torch.optim.RMSprop: sq <- alpha sq + (1 - alpha) g^2; divide g by sqrt(sq) + eps
    (sqrt(sq - avg^2) + eps when centered); optional momentum buffer on the result.
    One loop per case, so that no loop touches an array only sometimes."""
    c_lr, c_eps, c_wd, c_mom = (typed(lr, p), typed(eps, p), typed(weight_decay, p),
                                typed(momentum, p))
    c_alpha = typed(alpha, p)
    w, w_rest = lerp_weights(1.0 - alpha, p)
    if centered and momentum > 0.0:
        for i in range(p.size):
            gi = rms_grad(p, g, sq, i, c_alpha, w, c_wd, maximize)
            avg[i] = lerp(avg[i], gi, w, w_rest)
            denom = math.sqrt(sq[i] - avg[i] * avg[i]) + c_eps
            buf[i] = c_mom * buf[i] + gi / denom
            p[i] -= c_lr * buf[i]
    elif centered:
        for i in range(p.size):
            gi = rms_grad(p, g, sq, i, c_alpha, w, c_wd, maximize)
            avg[i] = lerp(avg[i], gi, w, w_rest)
            p[i] -= c_lr * gi / (math.sqrt(sq[i] - avg[i] * avg[i]) + c_eps)
    elif momentum > 0.0:
        for i in range(p.size):
            gi = rms_grad(p, g, sq, i, c_alpha, w, c_wd, maximize)
            buf[i] = c_mom * buf[i] + gi / (math.sqrt(sq[i]) + c_eps)
            p[i] -= c_lr * buf[i]
    else:
        for i in range(p.size):
            gi = rms_grad(p, g, sq, i, c_alpha, w, c_wd, maximize)
            p[i] -= c_lr * gi / (math.sqrt(sq[i]) + c_eps)


@njit(cache=True, error_model="numpy", _nrt=False)
def adam_coefficients(p, lr, b1, b2, weight_decay):
    """The scalars of Adam's moment updates in p's dtype: (1 - lr wd, wd, w = 1 - b1 and
    1 - w for the lerp, b2, 1 - b2)."""
    w1, w1_rest = lerp_weights(1.0 - b1, p)
    return (typed(1.0 - lr * weight_decay, p), typed(weight_decay, p), w1, w1_rest,
            typed(b2, p), typed(1.0 - b2, p))


@njit(cache=True, error_model="numpy", _nrt=False)
def bias_correction(b, t):
    """1 - b^t for 0 <= b < 1, bit for bit as Python's ``1 - b ** t`` (torch computes it
    so): the C library's pow of two floats. (Numba's ``b ** t`` and ``math.pow(b, t)``
    for an integer t multiply by repeated squaring instead; with b = 0.999, 1 - b ** t
    then differs in the last bit for 7,354 of the t up to 20,000, about 37 %, and for
    none above.)

    Once t (1 - b) > 40, b^t < e^(-t (1 - b)) < e^-40 < 2^-57, and 1 - b^t rounds to
    exactly 1, and the pow is skipped (the performance appendix times both sides).
    """
    if t * (1.0 - b) > 40.0:
        return 1.0
    return 1.0 - math.pow(b, float(t))


@njit(cache=True, error_model="numpy", _nrt=False)
def adam_step_scalars(p, lr, b1, b2, eps, step):
    """Adam's per-step scalars in p's dtype, with t = step + 1: the step size
    lr / (1 - b1^t), sqrt(1 - b2^t) and eps."""
    t = step + 1
    return (typed(lr / bias_correction(b1, t), p),
            typed(math.sqrt(bias_correction(b2, t)), p), typed(eps, p))


@njit(cache=True, error_model="numpy", _nrt=False)
def adam_moments(p, g, m, v, i, coef, decoupled, maximize):
    """Adam's weight decay and moment updates for entry i (Adam, AdamW, NAdam), with the
    scalars ``coef`` of :func:`adam_coefficients`: writes m[i] and v[i] and returns
    (p[i] after any decoupled decay, the gradient after weight decay, m[i], v[i]).

    p[i] is only read: the caller writes it once, with the step. (When this helper also
    stored p[i] under the flag, the loop held a conditional store besides the final
    one, and the Adam kernel ran markedly slower for it, even with the flag off.)"""
    decay, wd, w1, w1_rest, b2, w2 = coef
    pi = p[i]
    gi = -g[i] if maximize else g[i]
    gi = gi if decoupled else gi + wd * pi
    mi = lerp(m[i], gi, w1, w1_rest)
    vi = b2 * v[i] + w2 * gi * gi
    m[i], v[i] = mi, vi
    return pi * decay if decoupled else pi, gi, mi, vi


@njit(cache=True, error_model="numpy", _nrt=False)
def adam_step(p, g, m, v, vmax, lr, b1, b2, eps, weight_decay, amsgrad, decoupled,
              maximize, step):
    """torch.optim.Adam / AdamW: moments m, v; bias corrections 1 - b^t with t = step + 1;
    p <- p - lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). AMSGrad uses the running max of the
    raw v. Weight decay is coupled (g + wd p) or decoupled (p (1 - lr wd), AdamW)."""
    step_size, bc2_sqrt, c_eps = adam_step_scalars(p, lr, b1, b2, eps, step)
    coef = adam_coefficients(p, lr, b1, b2, weight_decay)
    if amsgrad:
        for i in range(p.size):
            pi, _, mi, vi = adam_moments(p, g, m, v, i, coef, decoupled, maximize)
            if vi > vmax[i] or vi != vi:  # torch.maximum: a NaN on either side is kept
                vmax[i] = vi
            p[i] = pi - step_size * mi / (math.sqrt(vmax[i]) / bc2_sqrt + c_eps)
    else:
        for i in range(p.size):
            pi, _, mi, vi = adam_moments(p, g, m, v, i, coef, decoupled, maximize)
            p[i] = pi - step_size * mi / (math.sqrt(vi) / bc2_sqrt + c_eps)


@njit(cache=True, error_model="numpy", _nrt=False)
def nadam_step(p, g, m, v, mu_product, lr, b1, b2, eps, weight_decay, psi, decoupled,
               maximize, step):
    """torch.optim.NAdam: Adam with a Nesterov look-ahead on the first moment and the
    momentum schedule mu_t = b1 (1 - 0.96^(t psi) / 2). ``mu_product[0]`` holds prod mu_t
    (in float64 for either dtype)."""
    t = step + 1
    bc2 = typed(bias_correction(b2, t), p)
    mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
    mu_product[0] *= mu
    prod = mu_product[0]
    prod_next = prod * mu_next
    c1 = typed(lr * (1.0 - mu) / (1.0 - prod), p)
    c2 = typed(lr * mu_next / (1.0 - prod_next), p)
    c_eps = typed(eps, p)
    coef = adam_coefficients(p, lr, b1, b2, weight_decay)
    for i in range(p.size):
        pi, gi, mi, vi = adam_moments(p, g, m, v, i, coef, decoupled, maximize)
        denom = math.sqrt(vi / bc2) + c_eps
        p[i] = (pi - c1 * gi / denom) - c2 * mi / denom


@njit(cache=True, error_model="numpy", _nrt=False)
def apply_rule(rule, p, g, s0, s1, s2, hyper, lr, step):
    """Run rule number ``rule``; each later chapter adds its rules as new branches."""
    if rule == GD:
        gd_step(p, g, lr)
    elif rule == MOMENTUM:
        momentum_step(p, g, s0, lr, hyper[0], hyper[1], hyper[2] != 0.0, hyper[3],
                      hyper[4] != 0.0, step)
    elif rule == HEAVY_BALL or rule == NESTEROV_LOOKAHEAD:
        heavy_ball_step(p, g, s0, lr, hyper[0])
    elif rule == ADAGRAD:
        adagrad_step(p, g, s0, lr, hyper[0], hyper[1], hyper[2], hyper[3] != 0.0, step)
    elif rule == RMSPROP:
        rmsprop_step(p, g, s0, s1, s2, lr, hyper[0], hyper[1], hyper[2], hyper[3],
                     hyper[4] != 0.0, hyper[5] != 0.0)
    elif rule == ADAM:
        adam_step(p, g, s0, s1, s2, lr, hyper[0], hyper[1], hyper[2], hyper[3],
                  hyper[4] != 0.0, hyper[5] != 0.0, hyper[6] != 0.0, step)
    elif rule == NADAM:
        nadam_step(p, g, s0, s1, s2, lr, hyper[0], hyper[1], hyper[2], hyper[3], hyper[4],
                   hyper[5] != 0.0, hyper[6] != 0.0, step)
    else:
        raise ValueError("unknown update rule id")


@njit(cache=True, error_model="numpy", _nrt=False)
def grad_point(rule, p, s0, hyper, out):
    """Where the rule wants its next gradient: p itself, or Nesterov's look-ahead point
    p - gamma v. Writes it into ``out``."""
    if rule == NESTEROV_LOOKAHEAD:
        gamma = typed(hyper[0], p)
        for i in range(p.size):
            out[i] = p[i] - gamma * s0[i]
    else:
        for i in range(p.size):  # a loop: a slice copy costs more than a 2-D step
            out[i] = p[i]
