"""optlib.perf: the measuring code behind benchmarks/ and the performance appendix.
Speed itself is never asserted here; what is checked is that every path computes the
same numbers (the parallel kernel against the serial one, NumPy and Python references
against optlib) and that bad input is refused."""

import itertools
import math

import numpy as np
import pytest

import optlib as ol
from optlib._kernels import optim as K
from optlib._kernels import perf as KP


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("wd, decoupled, maximize", list(
    itertools.product([0.0, 0.1], [False, True], [False, True])))
def test_parallel_adam_is_bitwise_the_serial_kernel(dtype, wd, decoupled, maximize):
    r = np.random.default_rng(3)
    n = 10_007  # not a multiple of any vector width or thread count
    serial = [r.normal(size=n).astype(dtype) for _ in range(3)] + [
        r.random(n).astype(dtype)]
    serial[1][:4] = [0.0, -0.0, np.inf, np.nan]
    parallel = [a.copy() for a in serial]
    empty = np.empty(0, dtype)
    for step in range(3):
        K.adam_step(*serial, empty, 1e-2, 0.9, 0.999, 1e-8, wd, False, decoupled,
                    maximize, step)
        KP.adam_step_parallel(*parallel, 1e-2, 0.9, 0.999, 1e-8, wd, decoupled,
                              maximize, step)
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(serial[0][4:]).all()


@pytest.mark.parametrize("kernel", [KP.stream, KP.stream_parallel])
def test_the_bandwidth_probes_compute_the_triad(kernel):
    a, b = np.arange(1000.0), np.full(1000, 2.0)
    kernel(a, b, 0.5)
    np.testing.assert_array_equal(a, np.arange(1000.0) + 1.0)


def test_measure_reports_a_median_inside_its_range():
    calls = []
    t = ol.perf.measure(lambda: calls.append(1), repeat=5, number=3)
    assert len(calls) == 1 + 5 * 3  # one warm-up call
    assert 0 <= t.low <= t.median <= t.high
    with pytest.raises(ValueError, match="repeat"):
        ol.perf.measure(lambda: None, repeat=0)


def test_rounds_times_every_function_in_every_round():
    calls = {"a": 0, "b": 0}
    out = ol.perf.rounds({k: (lambda k=k: calls.__setitem__(k, calls[k] + 1))
                          for k in calls}, repeat=4)
    assert calls == {"a": 5, "b": 5} and all(s.shape == (4,) for s in out.values())


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-13)])
def test_the_numpy_rules_of_the_step_table_match_optlib(dtype, tol):
    rows = ol.perf.step_table(1000, dtypes=(dtype,), repeat=1, torch=False)
    assert [r["kernel"] for r in rows] == list(ol.perf.STEP_CASES)
    for r in rows:
        assert r["check"]["numpy"] <= tol, r["kernel"]
        assert r["optlib"]["ratio"].median > 0 and r["floor"].median > 0
    text = ol.perf.format_table(rows)
    assert all(r["kernel"] in text for r in rows) and "torch fused" not in text


def test_the_brief_table_fits_a_book_page_with_every_column():
    """Rows as step_table makes them, with all four implementations (torch's where it
    has the rule): the brief table stays within 79 characters and shows each ratio."""
    T = ol.perf.Timing
    rows = []
    for k, name in enumerate(ol.perf.STEP_CASES):
        row = dict(kernel=name, dtype="float32", words=3, n=10, floor=T(1.0, 1.0, 1.0))
        for j, impl in enumerate(ol.perf.IMPLS):
            if impl == "torch fused" and k % 3 == 2:
                continue  # a rule torch has no fused kernel for
            q = 1.0 + k / 10 + j
            row[impl] = dict(time=T(q, q, q), ratio=T(q, q, q), gbs=1.0)
        if "torch fused" in row:  # step_table's round-by-round optlib / fused
            row["optlib/fused"] = T(0.5 + k / 100, 0.4, 0.7)
        rows.append(row)
    text = ol.perf.format_table(rows, brief=True)
    assert max(len(line) for line in text.splitlines()) <= 79
    assert "foreach" in text and "vs fused" in text
    for k, row in enumerate(rows):
        line = text.splitlines()[2 + k]
        assert line.startswith(row["kernel"]) and f"{row['numpy']['ratio'].median:.2f}x" in line
        assert line.endswith("-") == ("torch fused" not in row)
        if "torch fused" in row:
            assert line.endswith(f"{row['optlib/fused'].median:.2f}")
    full = ol.perf.format_table(rows)  # the full table shows the range too
    assert f"{rows[0]['optlib/fused'].median:.2f} [0.40-0.70]" in full


@pytest.mark.parametrize("name, broken", [
    ("clip global norm", lambda g, max_norm: None),            # forgets to clip
    ("SGD", lambda p, g, s, t: p.__isub__(2 * ol.perf.LR * g)),  # twice the rate
])
def test_the_check_catches_a_wrong_numpy_rule(name, broken, monkeypatch):
    words, make, _, spec = ol.perf.STEP_CASES[name]
    monkeypatch.setitem(ol.perf.STEP_CASES, name, (words, make, broken, spec))
    row, = ol.perf.step_table(1000, dtypes=(np.float64,), repeat=1, names=[name],
                              torch=False)
    assert row["check"]["numpy"] > 1e-4


def test_the_torch_rules_of_the_step_table_match_optlib():
    pytest.importorskip("torch")
    rows = ol.perf.step_table(1000, dtypes=(np.float64,), repeat=1,
                              names=["Nesterov", "Adam", "AdamW", "clip global norm"])
    for r in rows:
        for impl in ("torch foreach", "torch fused"):
            if impl in r:
                assert r["check"][impl] <= 1e-13, (r["kernel"], impl)
    assert "torch fused" in rows[1] and "torch fused" not in rows[3]


def test_the_pure_python_adam_follows_the_jitted_trajectory():
    fn = ol.functions.rosenbrock()
    xs, fs, gnorms = ol.perf.python_adam_rosenbrock(fn.x0, 300, lr=1e-2)
    jit = ol.trajectory.run(ol.optim.Adam(1e-2), fn, steps=300)
    np.testing.assert_allclose(xs, jit.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fs, jit.loss, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(gnorms, jit.grad_norm, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("x0, lr", [(None, 1e-3), ([0.3, -0.8], 2e-2)])
def test_the_hand_written_loop_records_exactly_what_trajectory_run_records(x0, lr):
    """The ceiling of the trajectory benchmark computes the same path, bit for bit."""
    fn = ol.functions.rosenbrock()
    run = ol.trajectory.run(ol.optim.Adam(lr), fn, x0, steps=3000)
    for got, want in zip(ol.perf.hand_adam_rosenbrock(3000, x0, lr),
                         (run.x, run.loss, run.grad_norm)):
        np.testing.assert_array_equal(got, want)


def test_the_floor_of_the_trajectory_benchmark_is_adam_without_bias_correction():
    """The dependency chain alone: Adam's iterates with both bias corrections at 1,
    as this plain loop computes them (torch's lerp for m), bit for bit."""
    (a, b), (b1, b2) = ol.functions.rosenbrock().prm, (0.9, 0.999)
    x, y, lr = 0.3, -0.8, 2e-2
    m, v = [0.0, 0.0], [0.0, 0.0]
    for _ in range(500):
        g = (-4.0 * b * x * (y - x * x) - 2.0 * (a - x), 2.0 * b * (y - x * x))
        for i in range(2):
            m[i] += (1.0 - b1) * (g[i] - m[i])
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i]
        x -= lr * m[0] / (math.sqrt(v[0]) + 1e-8)
        y -= lr * m[1] / (math.sqrt(v[1]) + 1e-8)
    got = np.array([0.3, -0.8])
    KP.adam_rosenbrock_chain(got, lr, 1.0, b1, b2, 1e-8, a, b, 500)
    np.testing.assert_array_equal(got, [x, y])


def test_bad_input_is_refused_before_anything_runs():
    with pytest.raises(ValueError, match="names"):
        ol.perf.step_table(1000, names=["Adamax"])
    with pytest.raises(ValueError, match="n must be"):
        ol.perf.step_table(4)
    with pytest.raises(ValueError, match="steps must be"):
        ol.perf.hand_adam_rosenbrock(0)
    with pytest.raises(ValueError, match="x0 must"):
        ol.perf.hand_adam_rosenbrock(10, x0=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="lr must be"):
        ol.perf.hand_adam_rosenbrock(10, lr=-1.0)
    with pytest.raises(ValueError, match="numpy_steps must be"):
        ol.perf.trajectory_speedup(100, numpy_steps=0)
    with pytest.raises(ValueError, match="n must be"):
        ol.perf.tanh_times(0)
    with pytest.raises(ValueError, match="repeat must be"):
        ol.perf.draw_time(0)
    with pytest.raises(ValueError, match="modules must be one of"):
        ol.perf.import_time(modules=["os"])


def test_the_c_library_tanh_probe_is_math_tanh_and_the_timings_cover_three_ways():
    x = np.random.default_rng(0).normal(scale=3.0, size=(7, 9))
    y = x.copy()
    KP.tanh_libm(y)
    np.testing.assert_array_equal(y, np.vectorize(math.tanh)(x))
    times, ulps = ol.perf.tanh_times(1000, repeat=2)
    assert len(times) == 3 and all(0 < t.low <= t.median <= t.high for t in times.values())
    assert 0 <= ulps <= 3.0  # optlib's tanh (<= 1.5 ulp) against NumPy's (about 1.2 here)


def test_rnn_flops_counts_every_matrix_product_of_the_rnn_kernel():
    """Each product of optlib._kernels.models.rnn as (rows, inner, columns), for b
    sequences of T steps, h units, k outputs: 2 flops per multiply-add. (The inputs'
    share is a loop, not a product.)"""
    h, k, T, b, e = 5, 3, 7, 4, 6
    forward = [(b, h, h)] * T + [(b, h, k)]  # H_t W_hh; H_T W_hy
    backward = ([(h, b, k), (b, k, h)]  # gW_hy = H_T^T r, dh = r W_hy^T
                + [(h, T * b, h)]  # gW_hh: all steps in one product
                + [(b, h, h)] * (T - 1))  # dh = D_t W_hh^T, for t > 1
    train = sum(2 * m * i * n for m, i, n in forward + backward)
    evaluate = sum(2 * m * i * n for m, i, n in forward) // b
    assert ol.perf.rnn_flops(h, k, T, b, 0) == train
    assert ol.perf.rnn_flops(h, k, T, 0, e) == e * evaluate
    with pytest.raises(ValueError, match="sizes"):
        ol.perf.matmul_rates(sizes=(0,))


def test_kernel_calls_sees_every_training_step_and_evaluation_of_a_run():
    """One epoch of chapter 4's run on 1,600 training and 400 test sequences, batches of
    32, without the training-set loss: 50 gradient calls of 32 sequences, and the test
    set's loss before and after the epoch."""
    calls = ol.perf.kernel_calls(lambda: ol.explorables.adding_run(
        0.3, epochs=1, full_train_loss=False))
    grads = [shape for _, shape, g in calls if g]
    evals = [shape for _, shape, g in calls if not g]
    assert grads == [(32, 20, 2)] * 50 and evals == [(400, 20, 2)] * 2
    assert all(isinstance(m, ol.models.RNN) and m.n_hidden == 32 for m, _, _ in calls)
    assert len(ol.perf.kernel_calls(lambda: ol.explorables.adding_run(
        0.3, epochs=1))) == 50 + 2 * 2  # with the training set's loss


def test_model_share_times_only_the_models_and_puts_their_methods_back():
    data = ol.datasets.load_digits()
    model = ol.models.MLP(64, 4, 10)
    w = model.init()
    kernel, predict = ol.models.MLP._kernel, ol.models.MLP._predict
    none = ol.perf.model_share(lambda: sum(range(1000)), repeat=2)
    assert none.median == none.low == none.high == 0.0  # no model, nothing timed
    some = ol.perf.model_share(lambda: model.loss(w, data.X_test, data.y_test), repeat=2)
    assert 0.0 < some.low <= some.high <= 1.0
    assert ol.models.MLP._kernel is kernel and ol.models.MLP._predict is predict

    def fails():
        model.loss(w, data.X_test, data.y_test)
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        ol.perf.model_share(fails)
    assert ol.models.MLP._kernel is kernel and ol.models.MLP._predict is predict

    class Nested(ol.models.MLP):  # a kernel calling another counts once
        def _kernel(self, *args):
            return super()._kernel(*args)

    try:
        ol.models.Nested = Nested
        nested = Nested(64, 4, 10)
        share = ol.perf.model_share(lambda: nested.loss(w, data.X_test, data.y_test))
        assert share.high <= 1.0
    finally:
        del ol.models.Nested


def test_the_speedups_report_ratios_taken_round_by_round():
    times, ratios, diff, same = ol.perf.trajectory_speedup(200, repeat=2, numpy_steps=50)
    assert same and diff < 1e-12
    assert set(ratios) == (set(times) - {"optlib trajectory.run"}) | {
        "pure Python / chain alone"}
    for q in ratios.values():
        assert 0 < q.low <= q.median <= q.high
    out = ol.perf.schedule_speedups(1000, repeat=2)
    for fast, slow, q in out.values():
        assert 0 < q.low <= q.median <= q.high and fast.median > 0 and slow.median > 0
    with pytest.raises(ValueError, match="n must be"):
        ol.perf.schedule_speedups(999)
