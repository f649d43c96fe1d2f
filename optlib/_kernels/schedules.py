"""Learning-rate schedules as jitted functions of the 0-based step, selected by id.

Each schedule is one small function ``f(prm, k)`` of its numbers ``prm`` (in the order
its public constructor documents, see :mod:`optlib.schedules`) and the step ``k``.
``value`` evaluates one step; ``values`` picks the function once and loops over an
array of steps, so the loop stays tight enough for the compiler to optimise.
"""

import math

from numba import njit

(CONSTANT, INVERSE_TIME, STEP, MULTI_STEP, EXPONENTIAL, COSINE, COSINE_RESTARTS, CYCLIC,
 POLYNOMIAL, ONE_CYCLE, LINEAR) = range(11)


@njit(cache=True)
def constant(prm, k):
    return prm[0]


@njit(cache=True)
def inverse_time(prm, k):  # lr0, rate, decay_steps, staircase
    p = k / prm[2]
    if prm[3] != 0.0:
        p = math.floor(p)
    return prm[0] / (1.0 + prm[1] * p)


@njit(cache=True)
def step(prm, k):  # lr0, step_size, gamma
    return prm[0] * math.pow(prm[2], k // int(prm[1]))


@njit(cache=True)
def multi_step(prm, k):  # lr0, gamma, milestones...
    passed = 0
    for i in range(2, prm.size):
        if prm[i] <= k:  # bisect_right: a milestone counts from its own step on
            passed += 1
    return prm[0] * math.pow(prm[1], passed)


@njit(cache=True)
def exponential(prm, k):  # lr0, gamma
    return prm[0] * math.pow(prm[1], k)


@njit(cache=True)
def cosine(prm, k):  # lr0, T_max, eta_min, hold
    t = min(k, prm[1]) if prm[3] != 0.0 else k
    return prm[2] + (prm[0] - prm[2]) * (1.0 + math.cos(math.pi * t / prm[1])) / 2.0


@njit(cache=True)
def cosine_restarts(prm, k):  # lr0, T_0, T_mult, eta_min
    t_i = int(prm[1])
    t_cur = k % t_i if prm[2] == 1.0 else k
    while t_cur >= t_i:  # torch's integer step(): restart when T_cur reaches T_i
        t_cur -= t_i
        t_i *= int(prm[2])
    return prm[3] + (prm[0] - prm[3]) * (1.0 + math.cos(math.pi * t_cur / t_i)) / 2.0


@njit(cache=True)
def cyclic(prm, k):  # base, max, up, down, mode (0 tri, 1 tri2, 2 exp_range), gamma
    total = prm[2] + prm[3]
    ratio = prm[2] / total
    cycle = math.floor(1.0 + k / total)
    x = 1.0 + k / total - cycle
    s = x / ratio if x <= ratio else (x - 1.0) / (ratio - 1.0)
    if prm[4] == 0.0:
        f = 1.0
    elif prm[4] == 1.0:
        f = 1.0 / 2.0 ** (cycle - 1.0)
    else:
        f = math.pow(prm[5], k)
    return prm[0] + (prm[1] - prm[0]) * s * f


@njit(cache=True)
def polynomial(prm, k):  # lr0, total_steps, power, end_lr
    c = min(k, prm[1])
    return (prm[0] - prm[3]) * (1.0 - c / prm[1]) ** prm[2] + prm[3]


@njit(cache=True)
def _cos_anneal(start, end, pct):
    """From ``start`` (pct = 0) to ``end`` (pct = 1) along half a cosine."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


@njit(cache=True)
def one_cycle(prm, k):  # max_lr, total, pct_start, cos?, div, final_div, three_phase
    initial = prm[0] / prm[4]
    final = initial / prm[5]
    total = prm[1]
    e1 = float(prm[2] * total) - 1.0
    if prm[6] != 0.0:
        ends = (e1, float(2.0 * prm[2] * total) - 2.0, total - 1.0)
        starts = (initial, prm[0], initial)
        stops = (prm[0], initial, final)
        n = 3
    else:
        ends = (e1, total - 1.0, 0.0)
        starts = (initial, prm[0], 0.0)
        stops = (prm[0], final, 0.0)
        n = 2
    begin = 0.0
    for i in range(n):  # torch's phase search: the first phase whose end is >= k
        if k <= ends[i] or i == n - 1:
            pct = (k - begin) / (ends[i] - begin)
            if prm[3] != 0.0:
                return _cos_anneal(starts[i], stops[i], pct)
            return (stops[i] - starts[i]) * pct + starts[i]
        begin = ends[i]
    return final


@njit(cache=True)
def linear(prm, k):  # lr0, start_factor, end_factor, total_iters (torch LinearLR)
    return prm[0] * (prm[1] + (prm[2] - prm[1]) * min(prm[3], k) / prm[3])


@njit(cache=True)
def value(sid, prm, k):
    """The learning rate at 0-based step ``k`` (an integer >= 0)."""
    if sid == CONSTANT:
        return constant(prm, k)
    if sid == INVERSE_TIME:
        return inverse_time(prm, k)
    if sid == STEP:
        return step(prm, k)
    if sid == MULTI_STEP:
        return multi_step(prm, k)
    if sid == EXPONENTIAL:
        return exponential(prm, k)
    if sid == COSINE:
        return cosine(prm, k)
    if sid == COSINE_RESTARTS:
        return cosine_restarts(prm, k)
    if sid == CYCLIC:
        return cyclic(prm, k)
    if sid == POLYNOMIAL:
        return polynomial(prm, k)
    if sid == ONE_CYCLE:
        return one_cycle(prm, k)
    return linear(prm, k)


@njit(cache=True)
def values(sid, prm, steps, out):
    """``out[i] = value(sid, prm, steps[i])`` for an integer array of steps. One loop per
    schedule (a jitted function passed as an argument would not be cached on disk)."""
    n = steps.size
    if sid == CONSTANT:
        for i in range(n):
            out[i] = constant(prm, steps[i])
    elif sid == INVERSE_TIME:
        for i in range(n):
            out[i] = inverse_time(prm, steps[i])
    elif sid == STEP:  # constant for step_size steps: one pow per change of the rate
        size, last, rate = int(prm[1]), -1, 0.0
        for i in range(n):
            if steps[i] // size != last:
                last, rate = steps[i] // size, step(prm, steps[i])
            out[i] = rate
    elif sid == MULTI_STEP:
        for i in range(n):
            out[i] = multi_step(prm, steps[i])
    elif sid == EXPONENTIAL:
        for i in range(n):
            out[i] = exponential(prm, steps[i])
    elif sid == COSINE:
        for i in range(n):
            out[i] = cosine(prm, steps[i])
    elif sid == COSINE_RESTARTS:
        for i in range(n):
            out[i] = cosine_restarts(prm, steps[i])
    elif sid == CYCLIC:
        for i in range(n):
            out[i] = cyclic(prm, steps[i])
    elif sid == POLYNOMIAL:
        for i in range(n):
            out[i] = polynomial(prm, steps[i])
    elif sid == ONE_CYCLE:
        for i in range(n):
            out[i] = one_cycle(prm, steps[i])
    else:
        for i in range(n):
            out[i] = linear(prm, steps[i])
