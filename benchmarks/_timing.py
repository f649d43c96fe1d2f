"""A tiny timing helper shared by the benchmarks: median and spread of repeated runs."""

import statistics
import time


def measure(fn, repeat=7, number=1):
    """Run ``fn`` ``number`` times per sample, ``repeat`` samples; returns seconds per call
    as (median, min, max)."""
    fn()  # warm up (compilation, caches)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples), min(samples), max(samples)
