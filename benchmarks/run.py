"""The benchmark suite: one command prints every table, then the targets.

    python benchmarks/run.py            # 10^7 parameters, 7 rounds (a few minutes)
    python benchmarks/run.py --quick    # 10^6 parameters, 3 rounds, fewer steps

The measuring code lives in :mod:`optlib.perf`, which the performance appendix runs.
"""

import argparse
import os

# One thread everywhere, NumPy's BLAS calls included (np.linalg.norm in the clipping row):
# set before NumPy loads OpenBLAS. The BLAS-threads table starts its own interpreters.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import optlib as ol  # noqa: E402

P = ol.perf


def ms(t):
    return f"{1e3 * t.median:9.2f} ms [{1e3 * t.low:.2f}-{1e3 * t.high:.2f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    ap.add_argument("--no-torch", action="store_true",
                    help="skip torch even if installed")
    args = ap.parse_args()
    n, repeat = (10**6, 3) if args.quick else (10**7, 7)
    steps, sched_n = (10**4, 10**5) if args.quick else (10**5, 10**6)
    torch = not args.no_torch

    rows = P.step_table(n, repeat=repeat, torch=torch)
    bw = {}  # the triad of the rounds themselves: floor = triad time x words / 3
    for dt in ("float32", "float64"):
        triad = np.median([r["floor"].median * 3 / r["words"] for r in rows
                           if r["dtype"] == dt])
        bw[dt] = 3 * n * np.dtype(dt).itemsize / triad / 1e9
    print(f"== step kernels, n = {n:.0e} parameters, {repeat} rounds; one thread each "
          "(torch set to 1 thread)")
    print("   floor = words moved per parameter x n / bandwidth of the in-place "
          "STREAM triad on one thread,")
    print("   timed in every round; ratios are median [min-max] over the rounds. "
          f"Triad bandwidth in the rounds: {bw['float32']:.1f} GB/s (float32), "
          f"{bw['float64']:.1f} GB/s (float64)")
    print(P.format_table(rows))
    worst = max(max(r["check"].values()) for r in rows)
    print("   (every implementation agrees with optlib after two steps to "
          f"{worst:.1e} of the largest parameter)")

    times, speedups, threads, equal = P.parallel_adam(n, np.float32, repeat,
                                                      torch=torch)
    print(f"\n== Adam, float32, one thread against {threads} (parallel result bitwise "
          f"equal to serial: {equal})")
    for name, t in times.items():
        print(f"   {name:30s} {ms(t)}")
    for name, t in speedups.items():
        print(f"   speed-up {name:21s} {t.median:5.2f}x [{t.low:.2f}-{t.high:.2f}]")

    traj, ratios, diff, same = P.trajectory_speedup(steps, repeat=3)
    print(f"\n== Adam on 2-D Rosenbrock, {steps:.0e} steps (pure Python agrees over the "
          f"first 1000 steps to {diff:.1e}; the hand-written loop's path is bitwise "
          f"trajectory.run's: {same}); x optlib: round by round")
    for name, t in traj.items():
        q = ratios.get(name, P.Timing(1.0, 1.0, 1.0))
        print(f"   {name:26s} {ms(t)}   {q.median:7.1f} x optlib [{q.low:.1f}-{q.high:.1f}]")
    python, chain = ratios["pure Python floats"], ratios["pure Python / chain alone"]
    print(f"   pure Python / optlib {python.median:.0f}x [{python.low:.0f}-{python.high:.0f}]; "
          f"pure Python / the chain alone {chain.median:.0f}x [{chain.low:.0f}-"
          f"{chain.high:.0f}], the most any loop with this arithmetic can gain here "
          f"({1e9 * traj['dependency chain alone'].median / steps:.1f} ns a step)")

    print(f"\n== schedule evaluated at {sched_n:.0e} steps: one array call vs a "
          "Python loop")
    for name, (fast, slow, q) in P.schedule_speedups(sched_n).items():
        print(f"   {name:30s} {ms(fast)}  vs {ms(slow)}  {q.median:6.0f}x "
              f"[{q.low:.0f}-{q.high:.0f}]")

    t_import, numba_loaded = P.import_time()
    print(f"\n== import optlib (fresh interpreter): {ms(t_import)}; "
          f"numba loaded: {numba_loaded}")
    t_all, _ = P.import_time(modules=P.MODULES)
    print(f"   import optlib and all its modules (what the chapters load, numba "
          f"included): {ms(t_all)}")

    print("\n== first call of each chapter's kernels, fresh interpreters of its own "
          "(numba and optlib imported before the clock)")
    print(f"   {'chapter':24s} {'cold (empty cache) s':>22s} {'on-disk cache s':>16s}")
    for name, (cold, warm) in P.compile_times(list(P.CHAPTERS)[:1] if args.quick
                                              else None).items():
        print(f"   {name:24s} {cold:22.3f} {warm:16.3f}")

    times, ulps = P.tanh_times(10**5, repeat)
    print("\n== tanh, the models' hidden units: ns per entry over 1e5 float64 entries "
          f"(optlib vs NumPy: {ulps:.1f} ulp at most)")
    for name, t in times.items():
        print(f"   {name:30s} {t.median:6.2f} ns [{t.low:.2f}-{t.high:.2f}]")

    print("\n== widget recompute: the computation behind one slider move (no drawing)")
    widgets = P.widget_times()
    for name, t in widgets.items():
        print(f"   {name:20s} {ms(t)}")
    print(f"   for scale, drawing the schedule widget's figure as a PNG: {ms(P.draw_time())}")
    shares = P.model_shares()
    print("   share of that time inside the network's own kernels (the rest: the training "
          "loop and the optimizer): " + ", ".join(f"{name.split('_')[0]} {t.median:.0%} "
                                          f"[{t.low:.0%}-{t.high:.0%}]"
                                          for name, t in shares.items()))
    gflop, rates, at = P.clipping_widget_floor()
    print(f"   the clipping widget's matrix products alone, {gflop:.2f} GFLOP: {at[512]:.0f} ms "
          f"at one core's rate for 512x512 products ({rates[512]:.0f} GFLOP/s), "
          f"{at[32]:.0f} ms at its rate for 32x32 ones ({rates[32]:.0f} GFLOP/s), "
          "both made in compiled code")

    times, same = P.blas_threads(epochs=2)
    print("\n== chapter 4's RNN, 2 epochs, fresh interpreters (small matrix products "
          f"through OpenBLAS; same result: {same})")
    for name, t in times.items():
        print(f"   {name:26s} {t:8.2f} s")

    print("\n== the targets (benchmarks/README.md), medians of this run"
          + (" (--quick: smaller than the targets' sizes)" if args.quick else ""))
    worst = max(rows, key=lambda r: r["optlib"]["ratio"].median)
    q = worst["optlib"]["ratio"].median
    print(f"   step kernels <= 1.25x the floor: worst {q:.2f}x ({worst['kernel']}, "
          f"{worst['dtype']}): {met(q <= 1.25)}")
    adam = [r for r in rows if r["kernel"] == "Adam"]
    why = ("--no-torch" if args.no_torch else "torch is not installed" if not P.has_torch()
           else "torch has no fused Adam here")
    qs = [r["optlib/fused"].median for r in adam if "optlib/fused" in r]
    print("   Adam <= torch's fused Adam: " + ", ".join(
        f"{r['dtype']} {r['optlib/fused'].median:.2f}" if "optlib/fused" in r
        else f"{r['dtype']} not measured ({why})" for r in adam)
        + (f": {met(max(qs) <= 1.0)}" if len(qs) == len(adam) else ""))
    q = ratios["pure Python floats"].median
    print(f"   2-D trajectory >= 100x pure Python: {q:.0f}x: {met(q >= 100)} (no loop with "
          f"this arithmetic beats {ratios['pure Python / chain alone'].median:.0f}x here)")
    print(f"   import optlib < 0.5 s, nothing compiled: {t_import.median:.4f} s, numba "
          f"loaded: {numba_loaded}: {met(t_import.median < 0.5 and not numba_loaded)}")
    slow = {name: t.median for name, t in widgets.items() if t.median >= 0.01}
    print(f"   widget recompute < 10 ms: {len(widgets) - len(slow)} of {len(widgets)} under it"
          + "".join(f"; {name} {1e3 * t:.1f} ms" for name, t in slow.items())
          + f": {met(not slow)}")


def met(ok):
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
