"""Learning-rate schedules as jitted functions of the 0-based step, selected by id.

``prm`` holds each schedule's numbers in the order its public constructor documents
(see :mod:`optlib.schedules`).
"""

import math

from numba import njit

(CONSTANT, INVERSE_TIME, STEP, MULTI_STEP, EXPONENTIAL, COSINE, COSINE_RESTARTS, CYCLIC,
 POLYNOMIAL, ONE_CYCLE, LINEAR) = range(11)


@njit(cache=True)
def _cos_anneal(start, end, pct):
    """From ``start`` (pct = 0) to ``end`` (pct = 1) along half a cosine."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


@njit(cache=True)
def value(sid, prm, k):
    """The learning rate at 0-based step ``k`` (an integer >= 0)."""
    if sid == CONSTANT:
        return prm[0]
    if sid == INVERSE_TIME:  # lr0, rate, decay_steps, staircase
        p = k / prm[2]
        if prm[3] != 0.0:
            p = math.floor(p)
        return prm[0] / (1.0 + prm[1] * p)
    if sid == STEP:  # lr0, step_size, gamma
        return prm[0] * prm[2] ** (k // int(prm[1]))
    if sid == MULTI_STEP:  # lr0, gamma, milestones...
        passed = 0
        for i in range(2, prm.size):
            if prm[i] <= k:  # bisect_right: a milestone counts from its own step on
                passed += 1
        return prm[0] * prm[1] ** passed
    if sid == EXPONENTIAL:  # lr0, gamma
        return prm[0] * prm[1] ** k
    if sid == COSINE:  # lr0, T_max, eta_min, hold
        t = min(k, prm[1]) if prm[3] != 0.0 else k
        return prm[2] + (prm[0] - prm[2]) * (1.0 + math.cos(math.pi * t / prm[1])) / 2.0
    if sid == COSINE_RESTARTS:  # lr0, T_0, T_mult, eta_min
        t_cur = k
        t_i = int(prm[1])
        if prm[2] == 1.0:
            t_cur = k % t_i
        while t_cur >= t_i:  # torch's integer step(): restart when T_cur reaches T_i
            t_cur -= t_i
            t_i *= int(prm[2])
        return prm[3] + (prm[0] - prm[3]) * (1.0 + math.cos(math.pi * t_cur / t_i)) / 2.0
    if sid == CYCLIC:  # base, max, up, down, mode (0 tri, 1 tri2, 2 exp_range), gamma
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
            f = prm[5] ** k
        return prm[0] + (prm[1] - prm[0]) * s * f
    if sid == POLYNOMIAL:  # lr0, total_steps, power, end_lr
        c = min(k, prm[1])
        return (prm[0] - prm[3]) * (1.0 - c / prm[1]) ** prm[2] + prm[3]
    if sid == ONE_CYCLE:  # max_lr, total, pct_start, cos?, div, final_div, three_phase
        initial = prm[0] / prm[4]
        final = initial / prm[5]
        total = prm[1]
        if prm[6] != 0.0:
            e1 = float(prm[2] * total) - 1.0
            e2 = float(2.0 * prm[2] * total) - 2.0
            ends = (e1, e2, total - 1.0)
            starts = (initial, prm[0], initial)
            stops = (prm[0], initial, final)
            n = 3
        else:
            e1 = float(prm[2] * total) - 1.0
            ends = (e1, total - 1.0, 0.0)
            starts = (initial, prm[0], 0.0)
            stops = (prm[0], final, 0.0)
            n = 2
        begin = 0.0
        for i in range(n):
            if k <= ends[i] or i == n - 1:
                pct = (k - begin) / (ends[i] - begin)
                if prm[3] != 0.0:
                    return _cos_anneal(starts[i], stops[i], pct)
                return (stops[i] - starts[i]) * pct + starts[i]
            begin = ends[i]
        return final
    # LINEAR: lr0, start_factor, end_factor, total_iters (torch LinearLR)
    return prm[0] * (prm[1] + (prm[2] - prm[1]) * min(prm[3], k) / prm[3])


@njit(cache=True)
def values(sid, prm, steps, out):
    """``out[i] = value(sid, prm, steps[i])`` for an integer array of steps."""
    for i in range(steps.size):
        out[i] = value(sid, prm, steps[i])
