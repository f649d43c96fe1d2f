"""Evaluating a learning-rate schedule for 10^6 steps: optlib's jitted kernel against a
plain Python loop over the scalar formula. Prints each schedule's times and the ratio."""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import optlib as ol  # noqa: E402
from _timing import measure  # noqa: E402

N = 1_000_000
S = ol.schedules


def python_cosine(k, lr0=0.1, T=N, eta_min=1e-4):
    return eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * min(k, T) / T)) / 2


def python_step(k, lr0=0.1, s=1000, gamma=0.5):
    return lr0 * gamma ** (k // s)


def python_one_cycle(k, s=S.one_cycle(0.1, N)):
    return s(k)  # the scalar call path, one step at a time


CASES = [
    ("cosine", S.cosine(0.1, N, 1e-4), python_cosine),
    ("step decay", S.step_decay(0.1, 1000, 0.5), python_step),
    ("one-cycle (scalar API calls)", S.one_cycle(0.1, N), python_one_cycle),
]


def main():
    steps = np.arange(N)
    print(f"{'schedule':32s} {'kernel (ms)':>12s} {'Python loop (ms)':>17s} {'ratio':>8s}")
    for name, sched, scalar in CASES:
        vec = measure(lambda: sched(steps), repeat=7)
        n_py = N if "scalar API" not in name else 20_000      # extrapolate the slow path
        loop = measure(lambda: [scalar(k) for k in range(n_py)], repeat=3)
        loop_full = tuple(t * N / n_py for t in loop)
        np.testing.assert_allclose(sched(steps[:1000]), [scalar(k) for k in range(1000)],
                                   rtol=1e-12)
        print(f"{name:32s} {1e3 * vec[0]:8.2f} ±{1e3 * (vec[2] - vec[1]) / 2:5.2f} "
              f"{1e3 * loop_full[0]:13.1f} ±{1e3 * (loop_full[2] - loop_full[1]) / 2:5.1f} "
              f"{loop_full[0] / vec[0]:8.0f}x")


if __name__ == "__main__":
    main()
