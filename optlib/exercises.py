"""Checkers for the coding exercises.

``check_<name>(your_function)`` runs your function on randomized and edge cases,
compares it with the reference, prints either a pass or *one* specific hint (the
input, the expected value and yours), and returns ``True`` or ``False``. It never
raises because of a mistake in your function, and a stub that still raises
``NotImplementedError`` is reported as "not attempted yet". Where the platform allows
it (Unix, the main thread), a call that takes longer than :data:`TIME_LIMIT` seconds is
stopped and reported.

A checker knows the common mistakes of its exercise (a flipped sign, a missing factor,
the wrong eigenvalue...): when your answer behaves like one on every case, the hint
names it.
"""

import contextlib
import copy
import io
import signal
import threading

import numpy as np

from . import functions

PASS = "\u2714"
FAIL = "\u2718"


TIME_LIMIT = 10.0  # seconds one call of a learner's function may take


def _fmt(value, digits=6):
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=digits, suppress_small=False,
                               max_line_width=100)
    if isinstance(getattr(value, "__self__", None), functions.TestFunction):
        return f"the {value.__self__.name} function"
    if callable(value) and not isinstance(value, _Budget):
        return getattr(value, "__qualname__", repr(value))
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return repr(value)


def _fmt_pair(expected, got):
    """``expected`` and ``got`` printed alike (as arrays when they convert), with all 17
    digits when 6 would show two different answers as the same numbers."""
    numbers = _as_numbers(got)
    got = got if numbers is None else numbers
    expected = np.asarray(expected)
    shown = _fmt(expected), _fmt(got)
    return shown if shown[0] != shown[1] else (_fmt(expected, 17), _fmt(got, 17))


class AnswerFormat(Exception):
    """A learner's function returned something of the wrong form (a checker's wrapper
    raises it; the message says what to return)."""


class _TooSlow(BaseException):
    """Raised in a learner's function at the time limit (a BaseException, so that an
    ``except Exception`` in the learner's code cannot swallow it)."""


def _call(fn, args):
    """``fn(*args)``, stopped after :data:`TIME_LIMIT` seconds where a timer signal can do
    it (Unix, the main thread: where a notebook runs its cells)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not \
            threading.main_thread():
        with np.errstate(all="ignore"):  # a NaN or inf answer is reported as such
            return fn(*args)

    def stop(signum, frame):
        raise _TooSlow
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    try:
        with np.errstate(all="ignore"):
            return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _as_numbers(value):
    """``value`` as a float array, or None when it is not a real number or an array of
    them (a string, a complex number, an object NumPy cannot convert)."""
    try:
        arr = np.asarray(value)
        return arr.astype(float) if arr.dtype.kind in "biuf" else None
    except Exception:  # whatever a learner's object raises on conversion
        return None


def _mismatch(got, expected, rtol, atol):
    """None when ``got`` matches ``expected``; otherwise a short description."""
    expected = np.asarray(expected, dtype=float)
    if got is None:
        return "returned None (did you forget the `return` statement?)"
    got_arr = _as_numbers(got)
    if got_arr is None:
        return (f"returned {type(got).__name__} {_fmt(got)[:60]}, which is not a real "
                "number or an array of real numbers")
    if got_arr.shape != expected.shape:
        return f"returned shape {got_arr.shape}, expected shape {expected.shape}"
    if not np.all(np.isfinite(got_arr)):
        return "returned NaN or inf"
    if not np.allclose(got_arr, expected, rtol=rtol, atol=atol):
        diff = np.abs(got_arr - expected)
        i = np.unravel_index(np.argmax(diff - rtol * np.abs(expected)), diff.shape)
        return (f"returned a different value (off by {diff[i]:.2g} where {expected[i]:.6g} "
                f"was expected; the check allows {atol:.0e} + {rtol:.0e} x |expected|)")
    return None


def run_checker(title, learner, reference, cases, mistakes=(), rtol=1e-9, atol=1e-12,
                extra_check=None, returns=None, otherwise=None):
    """The checking loop shared by every ``check_*`` function.

    ``cases`` is a list of argument tuples; each call gets deep copies. ``mistakes`` is a
    list of ``(wrong_function, hint)``: when the learner's function gives a wrong
    function's output on the failing case and on every other case, that hint is
    printed. ``extra_check(args_before, args_after)`` may return a hint about side
    effects (e.g. an input modified in place). ``returns`` names the items of a tuple
    the function must return, e.g. ``("w_new", "v_new")``. ``otherwise``: the hint for a
    wrong value that matches no known mistake (what the compared numbers are, say).
    """
    if not callable(learner):
        print(f"{FAIL} {title}: pass your function itself, e.g. check(my_step), "
              f"not {_fmt(learner)}")
        return False
    if returns is not None:
        learner = _returning(learner, returns, reference)
        mistakes = list(mistakes) + [
            (lambda *a: tuple(reference(*a))[::-1],
             f"the items are in the wrong order: return ({', '.join(returns)}).")]
    for i, args in enumerate(cases):
        expected = reference(*copy.deepcopy(args))
        call_args = copy.deepcopy(args)
        try:
            got = _call(learner, call_args)
        except _TooSlow:
            print(f"{FAIL} {title}: your function did not return within {TIME_LIMIT:g} s "
                  f"on input {', '.join(_fmt(a) for a in args)}\n"
                  "  Is there a loop that never ends (a condition that never changes)?")
            return False
        except NotImplementedError:
            print(f"{title}: not attempted yet.\n  Replace `raise NotImplementedError` "
                  "with your code and run this cell again.")
            return False
        except AnswerFormat as exc:
            print(f"{FAIL} {title}: {exc}\n  on input {', '.join(_fmt(a) for a in args)}")
            return False
        except Exception as exc:  # the learner's bug, reported, never re-raised
            print(f"{FAIL} {title}: your function raised {type(exc).__name__}: {exc}\n"
                  f"  on input {', '.join(_fmt(a) for a in args)}")
            return False
        problem = _mismatch(got, expected, rtol, atol)
        if problem and returns is not None and problem.startswith("returned a different"):
            problem += _differing_item(returns, got, expected, rtol, atol)
        side_effect = extra_check(args, call_args) if extra_check is not None else None
        if problem is None and side_effect is None:
            continue
        what = problem or "returned the right value but had a side effect"
        shown_expected, shown_got = _fmt_pair(expected, got)
        print(f"{FAIL} {title}: case {i + 1} of {len(cases)}: your function {what}.\n"
              f"  input:    {', '.join(_fmt(a) for a in args)}\n"
              f"  expected: {shown_expected}\n"
              f"  got:      {shown_got}")
        hint = (side_effect or _diagnose(learner, got, i, cases, mistakes, rtol, atol)
                or _low_precision(learner, got, reference, cases)
                or (otherwise if problem and problem.startswith("returned a different")
                    else None))
        if hint:
            print(f"  Hint: {hint}")
        return False
    print(f"{PASS} {title}: all {len(cases)} cases pass.")
    return True


def _low_precision(learner, got, reference, cases):
    """A hint when the answer holds float32 or float16 numbers and the learner's function
    is, on every case, as close to the reference as their rounding allows: it can still
    miss a check made in float64. None otherwise: a formula that is wrong by more than
    that rounding is not told that float64 would fix it. (A mistake smaller than
    float32's rounding, PyTorch's 1e-6 in a clipping rule for one, cannot be told from
    it in float32: its own hint comes once the answer is in float64.)"""
    if _as_numbers(got) is None:
        return None
    dtypes = [a.dtype for a in _leaves(got) if a.dtype in (np.float32, np.float16)]
    if not dtypes:
        return None
    dtype = min(dtypes, key=lambda d: d.itemsize)
    eps = 8 * float(np.finfo(dtype).eps)
    for args in cases:
        want = _as_numbers(reference(*copy.deepcopy(args)))
        try:
            mine = _quiet_call(learner, copy.deepcopy(args))
        except (Exception, _TooSlow):
            return None
        if want is None or not _close(mine, want, eps,
                                      eps * float(np.max(np.abs(want), initial=0.0))):
            return None
    return (f"your answer is in {dtype} ({np.finfo(dtype).precision} digits); the check "
            f"is made in float64: compute in float64 (np.float64, or arrays created "
            f"without dtype=np.{dtype}).")


def _leaves(value):
    """The arrays and NumPy scalars in ``value``, through lists and tuples."""
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value] if isinstance(value, (np.ndarray, np.generic)) else []


def _returning(learner, names, reference):
    """``learner``, checked to return ``len(names)`` items: a tuple or a list (or a 1-D
    array, where the reference's items are numbers), each of its reference's shape."""
    def call(*args):
        want = tuple(reference(*copy.deepcopy(args)))
        numbers = all(np.ndim(x) == 0 for x in want)
        got = learner(*args)
        items = isinstance(got, (tuple, list)) or (isinstance(got, np.ndarray)
                                                   and got.ndim == 1 and numbers)
        if not (items and len(got) == len(names)):
            what = (f"{len(got)} items" if items else
                    "None (did you forget the `return` statement?)" if got is None
                    else f"one {type(got).__name__}")
            raise AnswerFormat(f"your function returned {what}; return the {len(names)} "
                               f"items ({', '.join(names)}), e.g. "
                               f"`return {', '.join(names)}`")
        for name, item, ref in zip(names, got, want):
            if item is None:
                raise AnswerFormat(f"{name} is None: compute it and return it with the "
                                   f"others, `return {', '.join(names)}`")
            if _as_numbers(item) is not None and np.shape(item) != np.shape(ref):
                raise AnswerFormat(f"{name} has shape {np.shape(item)}, where shape "
                                   f"{np.shape(ref)} was expected")
        return got
    return call


def _differing_item(names, got, expected, rtol, atol):
    """Which of the named items of an answer differs first ("; m_new is the first item
    that differs"), or that it holds the value another item should have (two items
    swapped); "" when no single item can be named."""
    right = [_close(item, want, rtol, atol) for item, want in zip(got, expected)]
    for i, name in enumerate(names):
        if right[i]:
            continue
        for j, other in enumerate(names):  # a swap: both wrong, each holding the other's
            if (j != i and not right[j] and _close(got[i], expected[j], rtol, atol)
                    and _close(got[j], expected[i], rtol, atol)):
                return f"; {name} and {other} hold each other's values (swapped?)"
        return f"; {name} is the first item that differs"
    return ""


def _copies(outputs, inputs, before, right):
    """Raises :class:`AnswerFormat` when an output array is an input array, or a view of
    one: the exercises ask for copies (changing one later would change the other).
    Only for an answer ``right`` in value (a wrong value is reported as such first),
    and not when the inputs changed (``before``: a copy of them): that has its own
    hint."""
    if not right or not _same(before, inputs):
        return
    for out in outputs:
        for arr in inputs:
            if isinstance(out, np.ndarray) and np.shares_memory(out, arr):
                raise AnswerFormat("your function returned an input array itself (or a "
                                   "view of it) where a copy was asked for: return a new "
                                   "array, e.g. g.copy() when nothing needs clipping")


def _same(a, b):
    """Whether two inputs are equal, lists (of arrays of any shapes) item by item."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except Exception:  # something the learner left there that does not compare
        return False


def _inputs_kept(names, advice):
    """An ``extra_check`` for :func:`run_checker`: a hint when the learner's function
    changed one of its inputs (named ``names``, in order) in place. ``advice``: what to
    do instead, one string for all, or a dict by name."""
    def check(before, after):
        for name, b, a in zip(names, before, after):
            if not _same(b, a):
                tip = advice[name] if isinstance(advice, dict) else advice
                return f"your function changed {name} in place; {tip}"
        return None
    return check


def _close(a, b, rtol, atol):
    a, b = _as_numbers(a), _as_numbers(b)
    return (a is not None and b is not None and a.shape == b.shape
            and np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _diagnose(learner, got, i, cases, mistakes, rtol, atol):
    """The hint of the first known mistake whose output the learner's function gives on
    the failing case ``i`` and on every other case (one case alone can coincide)."""
    for wrong, hint in mistakes:
        if not _close(got, _wrong_output(wrong, cases[i]), rtol, atol):
            continue
        if all(_behaves_like(learner, wrong, args, rtol, atol)
               for j, args in enumerate(cases) if j != i):
            return hint
    return None


def _wrong_output(wrong, args):
    """A mistake model's output on ``args``; None where it fails."""
    try:
        with np.errstate(all="ignore"):
            return wrong(*copy.deepcopy(args))
    except Exception:  # a mistake model that does not apply to this case
        return None


def _behaves_like(learner, wrong, args, rtol, atol):
    """Whether the learner's function gives the mistake model's output on ``args``
    (where the model gives a finite one: elsewhere it says nothing)."""
    expected = _as_numbers(_wrong_output(wrong, args))
    if expected is None or not np.all(np.isfinite(expected)):
        return True
    try:
        return _close(_quiet_call(learner, copy.deepcopy(args)), expected, rtol, atol)
    except (Exception, _TooSlow):
        return False


def _quiet_call(fn, args):
    """:func:`_call` with anything the function prints dropped: the diagnosis re-runs a
    learner's function on every case, and its debugging prints would bury the report."""
    with contextlib.redirect_stdout(io.StringIO()):
        return _call(fn, args)


# --- Chapter 1 -------------------------------------------------------------------

def _gd_step(w, grad, lr):
    return w - lr * grad


def check_gd_step(gd_step):
    """Exercise: ``gd_step(w, grad, lr)`` returns the new parameters after one step."""
    rng = np.random.default_rng(1)
    cases = [(np.array([1.0, -2.0]), np.array([0.5, 0.5]), 0.1),
             (np.array([3.0]), np.array([0.0]), 0.5),          # zero gradient
             (np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0]), 0.0)]  # lr = 0
    for dim in (2, 4, 7):
        cases.append((rng.normal(size=dim), rng.normal(size=dim), float(rng.uniform(1e-3, 1))))
    mistakes = [
        (lambda w, g, lr: w + lr * g, "the step goes against the gradient: subtract it."),
        (lambda w, g, lr: w - g, "the gradient must be scaled by the learning rate lr."),
        (lambda w, g, lr: -lr * g, "return the new parameters w - lr * grad, not the step."),
        (lambda w, g, lr: w - g / lr, "multiply the gradient by lr; do not divide by it."),
    ]
    return run_checker("gd_step", gd_step, _gd_step, cases, mistakes,
                       extra_check=_inputs_kept(("w", "grad", "lr"),
                                                "return a new array and leave w as it "
                                                "was."))


def _max_stable_lr(A):
    return 2.0 / np.linalg.eigvalsh(A).max()


def _spd(rng, dim, cond):
    Q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    eig = np.geomspace(1.0, cond, dim) * rng.uniform(0.1, 10.0)
    return (Q * eig) @ Q.T


def check_max_stable_lr(max_stable_lr):
    """Exercise: the largest lr for which gradient descent on 1/2 x^T A x converges."""
    rng = np.random.default_rng(2)
    cases = [(np.diag([1.0, 4.0, 10.0]),), (np.array([[4.0]]),), (np.diag([2.0, 2.0, 2.0]),)]
    cases += [(_spd(rng, dim, cond),) for dim, cond in ((2, 5.0), (3, 50.0), (5, 1e3))]
    cases = [(0.5 * (A + A.T),) for (A,) in cases]
    mistakes = [
        (lambda A: 2.0 / np.linalg.eigvalsh(A).min(),
         "you used the smallest eigenvalue. The direction that blows up first is the "
         "steepest one: use the largest eigenvalue L."),
        (lambda A: 1.0 / np.linalg.eigvalsh(A).max(),
         "off by a factor of 2: the error in direction i is multiplied by (1 - lr*lambda_i) "
         "each step, and |1 - lr*L| < 1 holds up to lr = 2/L."),
        (lambda A: 2.0 / np.diag(A).max(),
         "the diagonal holds the eigenvalues only when A is diagonal; compute them with "
         "np.linalg.eigvalsh(A)."),
        (lambda A: np.linalg.eigvalsh(A).max(),
         "that is L, the largest eigenvalue itself; the question asks for a learning rate, "
         "and the error along L's direction is multiplied by (1 - lr*L) each step."),
        (lambda A: 2.0 / np.trace(A),
         "the trace is the sum of all eigenvalues; you need the largest one only."),
        (lambda A: 2.0 / np.linalg.norm(A),
         "np.linalg.norm(A) of a matrix is the Frobenius norm, the root of the sum of all "
         "squared eigenvalues (for a symmetric A), larger than L; use the largest "
         "eigenvalue, np.linalg.eigvalsh(A).max()."),
        (lambda A: 2.0 / (np.linalg.eigvalsh(A).min() + np.linalg.eigvalsh(A).max()),
         "2/(mu + L) is the *fastest* learning rate; the question asks for the largest "
         "one that still converges."),
    ]
    return run_checker("max_stable_lr", max_stable_lr, _max_stable_lr, cases, mistakes,
                       rtol=1e-8)


def _central_difference(f, x, h=1e-5):
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _forward_difference(f, x, h=1e-5):
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x)) / h
    return g


def check_numerical_gradient(numerical_gradient):
    """Exercise: ``numerical_gradient(f, x, h=1e-5)`` by central differences, checked
    against the central difference at the h each case passes (1e-3 or 1e-4: large
    enough that a function ignoring its h, or a forward difference, is told apart)."""
    rng = np.random.default_rng(3)
    landscapes = [functions.quadratic(cond=10.0, angle=0.4), functions.rosenbrock(),
                  functions.beale(), functions.himmelblau(), functions.rosenbrock(dim=5)]
    cases = []
    for fn in landscapes:
        (x0, x1), _ = fn.domain
        for h in (1e-3, 1e-4):
            cases.append((fn.value, rng.uniform(0.5 * x0, 0.5 * x1, size=fn.dim), h))

    def exact(f, x, h):
        return f.__self__.grad(x)

    mistakes = [
        (_forward_difference,
         "this looks like a forward difference (f(x+h) - f(x))/h, whose error shrinks "
         "only like h. Use the central difference (f(x + h e_i) - f(x - h e_i)) / (2h)."),
        (lambda f, x, h: 2 * _central_difference(f, x, h),
         "your result is twice the gradient: divide by 2h, not by h."),
        (lambda f, x, h: np.full_like(x, (f(x + h) - f(x - h)) / (2 * h)),
         "perturb one coordinate at a time: x + h*e_i, where e_i is the i-th unit vector."),
        (exact,
         "your function ignores its argument h (or uses an h of its own): the check "
         "passes h = 1e-3 and 1e-4 and expects the central difference with that h."),
    ]

    def unchanged(before, after):
        if not np.allclose(before[1], after[1], rtol=1e-12, atol=1e-15):
            return "your function changed x in place; work on a copy (x.copy())."
        return None

    return run_checker("numerical_gradient", numerical_gradient, _central_difference,
                       cases, mistakes, rtol=1e-8, atol=1e-9, extra_check=unchanged,
                       otherwise="the check expects (f(x + h e_i) - f(x - h e_i)) / (2h), "
                       "coordinate by coordinate, with the h it passes (the third "
                       "input).")


# --- Chapter 2 -------------------------------------------------------------------

def _step_decay_cases():
    cases = [(1.0, 1, 0.9, 7)] + [(0.1, 10, 0.5, k) for k in (0, 1, 9, 10, 11, 19, 20, 35)]
    return cases + [(0.3, 4, 0.1, 3), (0.3, 4, 0.1, 4)]


def check_step_decay(step_decay_lr):
    """Exercise: ``step_decay_lr(lr0, step_size, gamma, k)`` for the 0-based step k."""
    from . import schedules

    def reference(lr0, s, gamma, k):
        return schedules.step_decay(lr0, s, gamma)(k)

    mistakes = [
        (lambda lr0, s, g, k: lr0 * g ** ((k + 1) // s),
         "off by one: steps count from 0, and the first decay happens at step k = "
         "step_size, not one step earlier. Use k // step_size."),
        (lambda lr0, s, g, k: lr0 * g ** (k / s),
         "this decays smoothly; step decay stays flat between drops: use the integer "
         "division k // step_size."),
        (lambda lr0, s, g, k: lr0 * g ** ((k - 1) // s),
         "off by one: steps count from 0, so k itself (not k - 1) counts the steps taken; "
         "your first drop comes one step late."),
        (lambda lr0, s, g, k: lr0 * g ** -(-k // s),
         "rounding up makes the first drop happen at step 1; round down (k // step_size)."),
        (lambda lr0, s, g, k: lr0 * g ** round(k / s),
         "round(k / step_size) makes each drop half a period early; the number of "
         "completed periods is k // step_size."),
        (lambda lr0, s, g, k: lr0 * g ** (k % s),
         "k % step_size restarts every period; the number of drops so far is "
         "k // step_size."),
        (lambda lr0, s, g, k: lr0 * (1 - g) ** (k // s),
         "gamma is the factor the rate is multiplied by, not the fraction removed."),
        (lambda lr0, s, g, k: s * k ** (lr0 // g),  # right, but def f(k, lr0, s, gamma)
         "your function takes the step k first, as sgdr_lr and warmup_cosine_lr do; "
         "this one is called as step_decay_lr(lr0, step_size, gamma, k), with k last."),
    ]
    return run_checker("step_decay_lr", step_decay_lr, reference, _step_decay_cases(),
                       mistakes, rtol=1e-12)


def _sgdr_reference(k, lr0, T_0, T_mult, eta_min):
    from . import schedules

    return schedules.cosine_restarts(lr0, T_0, T_mult, eta_min)(k)


def _sgdr(k, lr0, T_0, T_mult, eta_min, late=False, gap=0, grow_first=False,
          length_minus=0, halve=True):
    """SGDR written out (the defaults), or one of its plausible mistakes: a restart only
    once T_cur passes T_i (``late``; ``gap`` more steps skipped at it), the next cycle's
    length subtracted instead of the one that ended (``grow_first``), T_cur divided by
    T_i - ``length_minus``, the cosine term (1 + cos) not halved."""
    t_cur, t_i = k, T_0
    while t_cur > t_i if late else t_cur >= t_i:
        if grow_first:
            t_i *= T_mult
            t_cur -= t_i
        else:
            t_cur -= t_i + gap
            t_i *= T_mult
    term = 1 + np.cos(np.pi * t_cur / (t_i - length_minus))
    return eta_min + (lr0 - eta_min) * (term / 2 if halve else term)


def check_sgdr(sgdr_lr):
    """Exercise: ``sgdr_lr(k, lr0, T_0, T_mult, eta_min)``, cosine with warm restarts."""
    cases = [(k, 0.1, 10, 1, 0.0) for k in (0, 5, 9, 10, 15, 25)]
    cases += [(k, 0.1, 4, 2, 0.01) for k in (3, 4, 11, 12, 13, 27, 28, 40)]
    cases += [(k, 1.0, 3, 3, 0.1) for k in (2, 3, 11, 12, 38, 39)]
    mistakes = [
        (lambda k, lr0, T0, Tm, e: _sgdr(k, lr0, T0, 1, e),
         "the cycles must grow: after each restart the cycle length is multiplied by "
         "T_mult, so k % T_0 is right only when T_mult = 1."),
        *((lambda *a, gap=gap: _sgdr(*a, late=True, gap=gap),
           "a cycle of length T_i covers T_cur = 0, ..., T_i - 1: restart as soon as "
           "T_cur reaches T_i (which is why eta_min itself is never used).")
          for gap in (0, 1)),
        (lambda *a: _sgdr(*a, halve=False),
         "the cosine term (1 + cos) runs from 2 down to 0: halve it."),
        (lambda k, lr0, T0, Tm, e: _sgdr(k, lr0, T0, Tm, 0.0),
         "the rate must anneal towards eta_min: eta_min + (lr0 - eta_min) * ..."),
        (lambda *a: _sgdr(*a, length_minus=1),
         "divide T_cur by T_i, not T_i - 1: the cycle's last step is T_i - 1, just "
         "before the restart, and the rate reaches eta_min only at T_cur = T_i."),
        (lambda *a: _sgdr(*a, grow_first=True),
         "at a restart subtract the length of the cycle that just ended, then grow it: "
         "T_cur -= T_i first, T_i *= T_mult after."),
    ]
    return run_checker("sgdr_lr", sgdr_lr, _sgdr_reference, cases, mistakes, rtol=1e-10)


def check_warmup_cosine(warmup_cosine_lr):
    """Exercise: ``warmup_cosine_lr(k, peak, warmup, total, final_fraction)``."""
    from . import schedules

    def reference(k, peak, warmup, total, frac):
        return schedules.warmup_cosine(peak, warmup, total, frac)(k)

    cases = [(k, 1.0, 10, 100, 0.1) for k in (0, 1, 5, 9, 10, 11, 50, 99, 100, 150)]
    cases += [(k, 3e-4, 200, 2000, 0.1) for k in (100, 200, 1100, 2000)]
    cases += [(k, 0.5, 5, 20, 0.0) for k in (3, 12, 20)]

    def cosine_over_total(k, peak, W, T, frac):
        if k < W:
            return peak * k / W
        c = min(k, T) / T
        return frac * peak + (1 - frac) * peak * (1 + np.cos(np.pi * c)) / 2

    def decays_to_zero(k, peak, W, T, frac):
        return reference(k, peak, W, T, 0.0)

    def ramp_one_late(k, peak, W, T, frac):
        return peak * (k + 1) / W if k < W else reference(k, peak, W, T, frac)

    def no_hold(k, peak, W, T, frac):
        if k < W:
            return peak * k / W
        c = (k - W) / (T - W)
        return frac * peak + (1 - frac) * peak * (1 + np.cos(np.pi * c)) / 2

    mistakes = [
        (no_hold, "after total steps the cosine must stop: the rate stays at "
                  "final_fraction * peak (clip the progress at 1)."),
        (cosine_over_total, "the cosine part lasts total - warmup steps and starts at "
                            "step warmup: use (k - warmup) / (total - warmup)."),
        (decays_to_zero, "the recipe decays to final_fraction * peak, not to zero."),
        (ramp_one_late, "the ramp starts at 0 at step 0: use peak * k / warmup."),
    ]
    return run_checker("warmup_cosine_lr", warmup_cosine_lr, reference, cases, mistakes,
                       rtol=1e-10, atol=1e-15)


def _triangle(k, base_lr, max_lr, step_size):
    """The triangular wave for any real k and step_size (the mistake models shift or
    stretch it): base_lr at k = 0, max_lr at k = step_size, period 2 * step_size."""
    frac = 1.0 - abs((k / step_size) % 2.0 - 1.0)
    return base_lr + (max_lr - base_lr) * frac


def _triangular_cases():
    cases = [(k, 0.1, 1.0, 5) for k in range(21)]  # every step of two cycles
    cases += [(k, 1e-3, 6e-3, 2000)                 # torch's default step_size_up
              for k in (0, 1, 999, 1999, 2000, 2001, 3999, 4000, 4001, 7000, 10_000)]
    cases += [(k, 0.5, 2.0, 1) for k in (0, 1, 2, 3)]  # peak and base alternate
    return cases + [(k, 0.05, 0.3, 4) for k in (3, 4, 5, 8, 12, 33)]


def check_triangular_lr(triangular_lr):
    """Exercise: ``triangular_lr(k, base_lr, max_lr, step_size)``, the triangular
    cyclical rate (torch ``CyclicLR``, ``mode="triangular"``) at the 0-based step k."""
    from . import schedules

    def reference(k, base, top, s):
        return schedules.cyclic(base, top, s)(k)

    def halving(k, b, m, s):
        return b + (_triangle(k, b, m, s) - b) / 2.0 ** (k // (2 * s))

    off_by_one = ("off by one: steps count from 0, so the rate is base_lr at k = 0 "
                  "and max_lr at k = step_size exactly; yours peaks ")
    sawtooth = ("that is a sawtooth: it climbs and then drops back to base_lr at "
                "once. ")
    mistakes = [
        (lambda k, b, m, s: _triangle(k - 1, b, m, s),
         off_by_one + "at step_size + 1."),
        (lambda k, b, m, s: _triangle(k + 1, b, m, s),
         off_by_one + "one step early."),
        (lambda k, b, m, s: _triangle(k, b, m, s + 1),
         "the climb takes step_size steps, not step_size + 1: the rate reaches "
         "max_lr at k = step_size and is back at base_lr at k = 2 * step_size."),
        (lambda k, b, m, s: b + (m - b) * (k % s) / s,
         sawtooth + "After reaching max_lr at k = step_size, the rate must fall "
         "linearly over the next step_size steps."),
        (lambda k, b, m, s: b + (m - b) * (k % (2 * s)) / (2 * s),
         sawtooth + "Climb for step_size steps, then fall linearly for step_size "
         "steps."),
        (lambda k, b, m, s: _triangle(k, b, m, s / 2),
         "a full cycle, up and down, lasts 2 * step_size steps: step_size is the "
         "length of the climb alone (half a cycle)."),
        (lambda k, b, m, s: _triangle(k, b, m, 2 * s),
         "the climb lasts step_size steps, not 2 * step_size: at k = step_size the "
         "rate must already be max_lr."),
        (lambda k, b, m, s: _triangle(k, m, b, s),
         "your rate starts at max_lr and falls first. The cycle starts at base_lr at "
         "k = 0 and climbs to max_lr at k = step_size (are base_lr and max_lr "
         "swapped?)."),
        (lambda k, b, m, s: _triangle(k, 0.0, m, s),
         "the rate moves between base_lr and max_lr: base_lr + (max_lr - base_lr) "
         "times the fraction of the climb, not max_lr times the fraction."),
        (lambda k, b, m, s: b + m * (_triangle(k, b, m, s) - b) / (m - b),
         "the height of the triangle is max_lr - base_lr: at the peak the rate is "
         "max_lr itself, not base_lr + max_lr."),
        (halving,
         "that halves the height every cycle (mode \"triangular2\", the one in the "
         "chapter's figures); the plain triangular policy keeps it the same."),
        (lambda k, b, m, s: _triangle(s, k, b, m),
         "your function reads its arguments in another order. The exercise's "
         "signature is triangular_lr(k, base_lr, max_lr, step_size): the step "
         "first, as in sgdr_lr and warmup_cosine_lr."),
    ]
    return run_checker("triangular_lr", triangular_lr, reference, _triangular_cases(),
                       mistakes, rtol=1e-10, atol=1e-15)


# --- Chapter 3 -------------------------------------------------------------------

def _momentum_cases(seed):
    rng = np.random.default_rng(seed)
    cases = [(np.array([1.0, -1.0]), np.zeros(2), np.array([0.5, 2.0]), 0.1, 0.9),
             (np.array([2.0]), np.array([0.3]), np.array([-1.0]), 0.05, 0.5)]
    for dim in (3, 6):
        cases.append((rng.normal(size=dim), rng.normal(size=dim), rng.normal(size=dim),
                      float(rng.uniform(0.01, 0.5)), float(rng.uniform(0.1, 0.99))))
    return cases


def check_momentum_step(momentum_step):
    """Exercise: ``momentum_step(w, v, grad, lr, momentum) -> (w_new, v_new)``, torch form."""
    def reference(w, v, g, lr, mu):
        v = mu * v + g
        return w - lr * v, v

    mistakes = [
        (lambda w, v, g, lr, mu: (w - (mu * v + lr * g), mu * v + lr * g),
         "that is the textbook form, with lr inside the velocity. In the library form the "
         "velocity accumulates raw gradients, v = momentum * v + grad, and the step is "
         "lr * v."),
        (lambda w, v, g, lr, mu: (w - lr * (mu * v + g), v),
         "return the updated velocity too: it is the state the next step needs."),
        (lambda w, v, g, lr, mu: (w + lr * (mu * v + g), mu * v + g),
         "the step goes against the velocity: w - lr * v."),
        (lambda w, v, g, lr, mu: (w - lr * (mu * v + (1 - mu) * g), mu * v + (1 - mu) * g),
         "(1 - momentum) * grad is an exponential moving average (dampening = momentum); "
         "torch's default adds the raw gradient."),
        (lambda w, v, g, lr, mu: (w - lr * g - mu * v, mu * v + g),
         "update the velocity first, then step by lr times the *new* velocity."),
        (lambda w, v, g, lr, mu: (w - lr * v, mu * v + g),
         "you stepped with the old velocity: update v first, then step by lr times the "
         "new v."),
        (lambda w, v, g, lr, mu: (w - lr * (g + mu * (mu * v + g)), mu * v + g),
         "that is the Nesterov variant (it steps by g + momentum * v); the exercise asks "
         "for plain momentum."),
    ]
    return run_checker("momentum_step", momentum_step, reference, _momentum_cases(4),
                       mistakes, returns=("w_new", "v_new"))


def check_heavy_ball_step(heavy_ball_step):
    """Exercise: ``heavy_ball_step(w, v, grad, lr, gamma) -> (w_new, v_new)``, textbook form."""
    def reference(w, v, g, lr, gamma):
        v = gamma * v + lr * g
        return w - v, v

    mistakes = [
        (lambda w, v, g, lr, gm: (w - lr * (gm * v + g), gm * v + g),
         "that is the library (torch) form. In the textbook form the learning rate is "
         "inside the velocity, v = gamma * v + lr * grad, and the step is w - v."),
        (lambda w, v, g, lr, gm: (w - (gm * v + lr * g), v),
         "return the updated velocity too: it is the state the next step needs."),
        (lambda w, v, g, lr, gm: (w + gm * v + lr * g, gm * v + lr * g),
         "the step goes against the velocity: w - v."),
        (lambda w, v, g, lr, gm: (w - gm * v - lr * g * gm, gm * v + lr * g * gm),
         "gamma multiplies the old velocity only, not the new gradient."),
        (lambda w, v, g, lr, gm: (w + (gm * v - lr * g), gm * v - lr * g),
         "that is the other sign convention (v = gamma v - lr grad, then w + v); in this "
         "exercise the velocity is v = gamma v + lr grad and the step is w - v."),
        (lambda w, v, g, lr, gm: (w - v, gm * v + lr * g),
         "you stepped with the old velocity: update v first, then step by the new v."),
    ]
    return run_checker("heavy_ball_step", heavy_ball_step, reference, _momentum_cases(5),
                       mistakes, returns=("w_new", "v_new"))


def check_optimal_momentum(optimal_momentum):
    """Exercise: Polyak's optimal momentum for a quadratic with condition number kappa."""
    def reference(kappa):
        return ((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)) ** 2

    cases = [(k,) for k in (1.0, 4.0, 10.0, 100.0, 1e4, 37.5)]
    mistakes = [
        (lambda k: (np.sqrt(k) - 1) / (np.sqrt(k) + 1),
         "(sqrt(kappa) - 1)/(sqrt(kappa) + 1) is the convergence *rate*; the momentum is "
         "its square (the iteration's complex eigenvalues have modulus sqrt(gamma))."),
        (lambda k: (k - 1) / (k + 1),
         "(kappa - 1)/(kappa + 1) is gradient descent's rate; momentum works with "
         "sqrt(kappa)."),
        (lambda k: 1 - 1 / np.sqrt(k),
         "1 - 1/sqrt(kappa) is the convergence rate of Nesterov's method, a rate and not "
         "a momentum; Polyak's optimal momentum for the heavy ball is the square of "
         "(sqrt(kappa) - 1)/(sqrt(kappa) + 1)."),
        (lambda k: ((k - 1) / (k + 1)) ** 2,
         "use the square root of kappa: ((sqrt(kappa) - 1)/(sqrt(kappa) + 1))^2."),
    ]
    return run_checker("optimal_momentum", optimal_momentum, reference, cases, mistakes,
                       rtol=1e-10)


def _nesterov(w, v, g, lr, mu, look_v="new", d_mu=1.0, dampening=0.0, lr_inside=False):
    """torch's ``nesterov=True`` step (the defaults), or one of its plausible mistakes:
    the look-ahead term with the old velocity (``look_v="old"``: plain momentum) or
    none, its weight ``d_mu * mu``, a dampened buffer, or lr inside the velocity (the
    convention of the look-ahead form)."""
    v_new = mu * v + (1 - dampening) * g * (lr if lr_inside else 1.0)
    look = {"new": v_new, "old": v, "none": 0.0}[look_v]
    if lr_inside:
        return w - (lr * g + d_mu * mu * look), v_new
    return w - lr * (g + d_mu * mu * look), v_new


def check_nesterov_step(nesterov_step):
    """Exercise: ``nesterov_step(w, v, grad, lr, momentum) -> (w_new, v_new)``, the form
    of ``torch.optim.SGD(nesterov=True)``: grad taken at w itself, v the raw buffer."""
    dampened = ("(1 - momentum) * grad makes a dampened buffer (a moving average); "
                "torch's Nesterov needs dampening 0: ")
    mistakes = [
        (lambda w, v, g, lr, mu: _nesterov(w, v, g, lr, mu, look_v="old"),
         "that is plain momentum: its step lr * v_new is lr * (grad + momentum * v) "
         "with the *old* velocity. Nesterov's look-ahead term uses the new one: update "
         "v first, then step by lr * (grad + momentum * v_new)."),
        (lambda w, v, g, lr, mu: (_nesterov(w, v, g, lr, mu)[0], v),
         "return the updated velocity too: it is the state the next step needs."),
        (lambda w, v, g, lr, mu: (2 * w - _nesterov(w, v, g, lr, mu)[0], mu * v + g),
         "the step goes against the gradient and the velocity: w - lr * (...)."),
        (lambda w, v, g, lr, mu: _nesterov(w, v, g, lr, mu, d_mu=-1.0),
         "the look-ahead term is added to the gradient: grad + momentum * v_new, not "
         "grad - momentum * v_new."),
        (lambda w, v, g, lr, mu: _nesterov(w, v, g, lr, mu, look_v="none"),
         "your step ignores the velocity: it is lr * (grad + momentum * v_new)."),
        (lambda w, v, g, lr, mu: (w - lr * (1 + mu) * (mu * v + g), mu * v + g),
         "the step is lr * (grad + momentum * v_new): the gradient itself plus momentum "
         "times the new velocity, not (1 + momentum) * v_new."),
        (lambda w, v, g, lr, mu: _nesterov(w, v, g, lr, mu, lr_inside=True),
         "that is Nesterov with lr inside the velocity (v = momentum * v + lr * grad, "
         "the convention of the chapter's look-ahead form): the same steps while lr is "
         "constant, but another state. In torch's form the buffer holds raw gradients, "
         "v_new = momentum * v + grad, and lr multiplies the whole step."),
        (lambda w, v, g, lr, mu: _nesterov(w, v, g, lr, mu, dampening=mu),
         dampened + "add the raw gradient, v_new = momentum * v + grad."),
        (lambda w, v, g, lr, mu: (w + lr * (mu * (mu * v - g) - g), mu * v - g),
         "your velocity has the other sign (v_new = momentum * v - grad). In torch's form "
         "the buffer adds the gradient, v_new = momentum * v + grad, and the step "
         "subtracts: w - lr * (grad + momentum * v_new)."),
        (lambda w, v, g, lr, mu: (w - (mu * v + lr * g), mu * v + lr * g),
         "that is heavy-ball momentum with lr inside the velocity (w - v_new), with no "
         "look-ahead. In torch's Nesterov form v_new = momentum * v + grad and the step "
         "is lr * (grad + momentum * v_new)."),
        (lambda w, v, g, lr, mu: _nesterov(w, v, (1 - mu) * g, lr, mu),
         dampened + "use the raw gradient, v_new = momentum * v + grad and the step "
         "lr * (grad + momentum * v_new)."),
    ]
    return run_checker("nesterov_step", nesterov_step, _nesterov, _momentum_cases(17),
                       mistakes, returns=("w_new", "v_new"),
                       extra_check=_inputs_kept(("w", "v", "grad"), "return new arrays "
                                                "(v_new = momentum * v + grad) and leave "
                                                "w, v and grad as they were."))


# --- Chapter 5 -------------------------------------------------------------------

def _adam_cases():
    rng = np.random.default_rng(6)
    cases = [(np.array([1.0, -2.0]), np.zeros(2), np.zeros(2), np.array([0.5, -1.0]), 1,
              0.1, 0.9, 0.999, 1e-8),
             (np.array([0.3]), np.array([0.2]), np.array([0.05]), np.array([1.0]), 5,
              0.01, 0.9, 0.999, 1e-8)]
    for dim, t in ((3, 2), (5, 40), (4, 1000)):
        cases.append((rng.normal(size=dim), 0.1 * rng.normal(size=dim),
                      0.01 * rng.uniform(size=dim), rng.normal(size=dim), t,
                      float(rng.uniform(1e-3, 0.1)), 0.9, 0.999, 1e-8))
    cases.append((np.array([1.0, 1.0]), np.zeros(2), np.zeros(2), np.array([1e-9, 0.0]),
                  1, 0.1, 0.9, 0.999, 1e-3))                      # eps matters
    cases.append((np.array([0.5, -1.5]), np.array([0.1, -0.2]), np.array([0.02, 0.03]),
                  np.array([0.4, 0.7]), 3, 0.05, 0.8, 0.95, 1e-8))  # other betas
    return cases


def _adam(w, m, v, g, t, lr, b1, b2, eps, correct_m=True, correct_v=True,
          eps_inside=False, power=0.5, t_shift=0, g_power=2, hat_state=False, ascend=False,
          stale=False):
    m_old, v_old = m, v
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**g_power
    tt = t + t_shift
    mh = (m_old if stale else m) / (1 - b1**tt) if correct_m else m
    vh = (v_old if stale else v) / (1 - b2**tt) if correct_v else v
    with np.errstate(all="ignore"):  # some mistakes divide by 0 or take sqrt(< 0)
        denom = np.sqrt(vh + eps) if eps_inside else vh**power + eps
        step = lr * mh / denom
        return w + step if ascend else w - step, mh if hat_state else m, vh if hat_state else v


def _adam_keras(w, m, v, g, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps), m, v


def _adam_mistakes():
    return [
        (lambda *a: _adam(*a, correct_m=False, correct_v=False),
         "no bias correction: divide m by (1 - b1**t) and v by (1 - b2**t) before the "
         "update. Without it the early steps have the wrong size."),
        (lambda *a: _adam(*a, correct_m=False),
         "m is not bias-corrected: divide it by (1 - b1**t). Uncorrected, the first steps "
         "are ten times too small."),
        (lambda *a: _adam(*a, correct_v=False),
         "v is not bias-corrected: divide it by (1 - b2**t)."),
        (lambda *a: _adam(*a, power=1.0),
         "the denominator is the square root of v-hat (an RMS of the gradient), not v-hat "
         "itself."),
        (lambda *a: _adam(*a, eps_inside=True),
         "eps belongs outside the square root: sqrt(v_hat) + eps (torch, optax)."),
        (lambda *a: _adam(*a, t_shift=1),
         "t counts from 1 on the first step: use b1**t with the t you are given, not t+1."),
        (lambda *a: _adam(*a, t_shift=-1),
         "use b1**t with the t you are given: with t - 1 the first correction is "
         "1 - b1**0 = 0."),
        (lambda *a: _adam(*a, g_power=1),
         "v averages the *squared* gradient: (1 - b2) * grad**2."),
        (lambda *a: _adam(*a, hat_state=True),
         "return the raw moments m and v as the state; m_hat and v_hat are recomputed "
         "from them at every step."),
        (lambda w, m, v, g, t, lr, b1, b2, eps: _adam(w, m, v, g, t, lr, b1, b2, 0.0),
         "eps is missing from the denominator: sqrt(v_hat) + eps keeps the step finite "
         "where v_hat is 0."),
        (_adam_keras,
         "that is Keras's arrangement, with eps added to the uncorrected sqrt(v); it "
         "differs from the exercise only through eps. Divide m_hat by sqrt(v_hat) + eps."),
        (lambda w, m, v, g, t, lr, b1, b2, eps: _adam(w, m, v, g, t, lr, b2, b1, eps),
         "b1 belongs to the first moment m, b2 to the second v."),
        (lambda w, m, v, g, t, lr, b1, b2, eps: _adam(w, m, v, g, t, lr, 0.9, 0.999, eps),
         "use the b1 and b2 your function is given, not the defaults 0.9 and 0.999."),
        (lambda *a: _adam(*a, ascend=True),
         "the step goes uphill: subtract it, w - lr * m_hat / (sqrt(v_hat) + eps)."),
        (lambda *a: _adam(*a, stale=True),
         "update m and v with this gradient first, then take the step from their new "
         "values: a step from the old ones lags one gradient behind (and is 0 at t = 1)."),
    ]


def check_adam_step(adam_step):
    """Exercise: ``adam_step(w, m, v, grad, t, lr, b1, b2, eps) -> (w_new, m_new, v_new)``,
    t from 1."""
    return run_checker("adam_step", adam_step, _adam, _adam_cases(), _adam_mistakes(),
                       rtol=1e-10, returns=("w_new", "m_new", "v_new"))


def check_adam_bug_fix(fixed_adam_step):
    """Exercise (chapter 5's bug hunt): a fixed version of the colleague's Adam step, whose
    first steps are too small. Checked as :func:`check_adam_step`, except that an answer
    that still has the colleague's bug is told so without being told the fix."""
    mistakes = _adam_mistakes()
    colleagues, _ = mistakes[1]  # m left without its bias correction
    mistakes[1] = (colleagues, "your function still behaves like the colleague's: its "
                               "first step is about ten times too small. Compare what "
                               "each moment goes through before the update.")
    return run_checker("fixed_adam_step", fixed_adam_step, _adam, _adam_cases(), mistakes,
                       rtol=1e-10, returns=("w_new", "m_new", "v_new"))


def _adagrad(w, s, g, lr, eps):
    s = s + g * g
    return w - lr * g / (np.sqrt(s) + eps), s


def check_adagrad_step(adagrad_step):
    """Exercise: ``adagrad_step(w, s, grad, lr, eps) -> (w_new, s_new)``."""
    rng = np.random.default_rng(7)
    cases = [(np.array([1.0, 1.0]), np.zeros(2), np.array([2.0, 0.1]), 0.5, 1e-10),
             (np.array([0.0]), np.array([4.0]), np.array([3.0]), 0.1, 1e-10)]
    for dim in (3, 6):
        cases.append((rng.normal(size=dim), rng.uniform(0, 2, size=dim), rng.normal(size=dim),
                      float(rng.uniform(0.01, 1.0)), 1e-10))
    cases.append((np.array([1.0, -1.0]), np.array([0.0, 0.01]), np.array([0.1, 0.0]), 0.5,
                  0.05))                                          # eps matters
    mistakes = [
        (lambda w, s, g, lr, eps: (w - lr * g / (np.sqrt(g * g) + eps), s + g * g),
         "divide by the square root of the *accumulated* sum s (updated first), not of "
         "the current g^2 alone."),
        (lambda w, s, g, lr, eps: (w - lr * g / (np.sqrt(s) + eps), s + g * g),
         "add g^2 to the sum before dividing, so the current gradient counts too."),
        (lambda w, s, g, lr, eps: (w - lr * g / (s + g * g + eps), s + g * g),
         "take the square root of the sum: lr * g / (sqrt(s) + eps)."),
        (lambda w, s, g, lr, eps: (w - lr * g / (np.sqrt(s + np.abs(g)) + eps),
                                   s + np.abs(g)),
         "accumulate squared gradients, g * g, not their absolute values."),
        (lambda w, s, g, lr, eps: (w - lr * g / (np.sqrt(s + g * g) + eps), s),
         "return the updated sum: it is the state the next step needs."),
        (lambda w, s, g, lr, eps: (w - lr * g / np.sqrt(s + g * g + eps), s + g * g),
         "eps goes outside the square root: lr * g / (sqrt(s) + eps)."),
        (lambda w, s, g, lr, eps: _adagrad(w, s, g, lr, 0.0),
         "eps is missing from the denominator: lr * g / (sqrt(s) + eps) keeps the step "
         "finite where s is 0."),
        (lambda w, s, g, lr, eps: _adagrad(w, s, g, lr, 1e-10),
         "use the eps your function is given: lr * g / (sqrt(s) + eps)."),
    ]
    return run_checker("adagrad_step", adagrad_step, _adagrad, cases, mistakes, rtol=1e-10,
                       returns=("w_new", "s_new"))


def check_keras_eps(torch_eps):
    """Exercise: ``torch_eps(eps_hat, t, b2)``: the torch eps that makes torch's Adam step
    equal to Keras's step with eps-hat at step t."""
    def reference(eps_hat, t, b2):
        return eps_hat / np.sqrt(1 - b2**t)

    cases = [(1e-7, 1, 0.999), (1e-7, 10, 0.999), (1e-3, 100, 0.99), (1e-7, 10**5, 0.999),
             (0.5, 3, 0.9)]
    mistakes = [
        (lambda e, t, b2: e * np.sqrt(1 - b2**t),
         "the other way round: torch divides sqrt(v) by sqrt(1 - b2**t) before adding eps, "
         "so its eps must be *larger*: eps_hat / sqrt(1 - b2**t)."),
        (lambda e, t, b2: e / (1 - b2**t),
         "the bias correction of v enters through a square root: sqrt(1 - b2**t)."),
        (lambda e, t, b2: e,
         "the two eps are not the same number: Keras adds eps-hat after scaling the "
         "step by sqrt(1 - b2**t)."),
        (lambda e, t, b2: e / np.sqrt(1 - b2) ** t,
         "the power belongs to b2 alone, inside the square root: sqrt(1 - b2**t), not "
         "sqrt(1 - b2)**t."),
        (lambda e, t, b2: e / np.sqrt(1 - b2 ** (t + 1)),
         "use the t you are given: it already counts from 1 on the first step."),
    ]
    return run_checker("torch_eps", torch_eps, reference, cases, mistakes, rtol=1e-10)


# --- Chapter 4 -------------------------------------------------------------------

def _clip_cases():
    rng = np.random.default_rng(8)
    cases = [([np.array([3.0, 4.0])], 1.0),                            # norm 5 -> 1
             ([np.array([0.3, 0.4])], 1.0),                            # under: untouched
             ([np.array([3.0, 0.0]), np.array([[0.0, 4.0]])], 2.5),    # two groups
             ([np.zeros(3)], 1.0)]                                      # zero gradient
    for _ in range(3):
        cases.append(([rng.normal(size=4) * 3, rng.normal(size=(2, 3)) * 0.5],
                      float(rng.uniform(0.5, 3.0))))
    return cases


def _scale_to(grads, max_norm, norm):
    """(the arrays scaled by the exact rule's max_norm / max(norm, max_norm), norm)."""
    scale = max_norm / max(norm, max_norm)
    return [g * scale for g in grads], norm


def _global_clip(grads, max_norm):
    return _scale_to(grads, max_norm, np.sqrt(sum(np.sum(g * g) for g in grads)))


def _flat(result):
    """(clipped arrays, norm or norms) as one flat array, in the clipped arrays' lowest
    float dtype (a float32 answer stays float32, for the precision hint)."""
    grads, norm = result
    flat = np.concatenate([np.ravel(g) for g in grads] + [np.atleast_1d(norm)])
    low = [np.asarray(a).dtype for a in list(grads) + [norm]
           if np.asarray(a).dtype.kind == "f"]
    return flat.astype(min(low, key=lambda d: d.itemsize)) if low else flat


def _clip_mistakes():
    """The global-norm clipping exercises' mistake models, on flattened results."""
    def per_array(grads, max_norm):
        out = [g * max_norm / max(np.linalg.norm(g), max_norm) for g in grads]
        return _flat((out, np.sqrt(sum(np.sum(g * g) for g in grads))))

    # NaN at a zero norm, as the unguarded division a learner writes: that case then
    # says nothing (see _behaves_like).
    def always_scale(grads, max_norm):
        total = np.sqrt(sum(np.sum(g * g) for g in grads))
        return _flat(([g * (max_norm / total) for g in grads], total))

    def by_value(grads, max_norm):
        return _flat(([np.clip(g, -max_norm, max_norm) for g in grads],
                      np.sqrt(sum(np.sum(g * g) for g in grads))))

    def norm_after(grads, max_norm):
        out, total = _global_clip(grads, max_norm)
        return _flat((out, min(total, max_norm)))

    def l1(grads, max_norm):
        total = sum(np.sum(np.abs(g)) for g in grads)
        s = max_norm / max(total, max_norm)
        return _flat(([g * s for g in grads], total))

    def torch_rule(grads, max_norm):
        total = np.sqrt(sum(np.sum(g * g) for g in grads))
        s = min(1.0, max_norm / (total + 1e-6))
        return _flat(([g * s for g in grads], total))

    return [
        (per_array, "that clips each array on its own. Global-norm clipping computes ONE "
                    "norm over all arrays together and scales them all by the same factor."),
        (by_value, "that clips each entry separately (clipping by value), which changes the "
                   "gradient's direction. Scale the whole gradient by max_norm / norm."),
        (always_scale, "gradients whose norm is already below max_norm must stay unchanged: "
                       "scale by max_norm / max(norm, max_norm)."),
        (norm_after, "return the norm *before* clipping: that is what training logs plot to "
                     "spot exploding gradients."),
        (l1, "use the Euclidean (L2) norm: the square root of the sum of squares."),
        (torch_rule, "that is PyTorch's rule, max_norm / (norm + 1e-6): its 1e-6 leaves "
                     "a clipped gradient a hair shorter than max_norm "
                     "(ol.clipping.clip_grad_norm's default). This exercise asks for the "
                     "exact rule, max_norm / max(norm, max_norm): exact=True."),
    ]


def _clip_checker(title, clip_fn, mistakes, reference=_global_clip, per_array=False,
                  cases=None):
    """Clipping of a list of arrays (global-norm clipping unless another ``reference``
    is given) checked on flattened results, after checking the form: a tuple (one
    clipped copy per input array, of its shape; the norm, one number, or with
    ``per_array`` the list of the arrays' norms)."""
    def expected(grads, max_norm):
        return _flat(reference(grads, max_norm))

    def learner(grads, max_norm):
        shapes = [g.shape for g in grads]
        before = copy.deepcopy(grads)
        result = clip_fn(grads, max_norm)
        if (isinstance(result, list) and len(result) == 2
                and isinstance(result[0], (list, tuple))):
            result = tuple(result)  # [clipped, norm]: the pair, as a list (not the arrays)
        if not (isinstance(result, tuple) and len(result) == 2):
            what = (f"a {type(result).__name__} of length {len(result)}"
                    if isinstance(result, (list, tuple)) else _fmt(result))
            second = ("list of the norms before clipping), e.g. `return clipped, norms`"
                      if per_array else "norm before clipping), e.g. `return clipped, "
                      "norm`")
            raise AnswerFormat(f"your function returned {what}; return a tuple, "
                               f"(list of clipped arrays, {second}")
        clipped, norm = result
        if not (isinstance(clipped, (list, tuple)) and len(clipped) == len(shapes) and
                all(np.shape(c) == sh for c, sh in zip(clipped, shapes))):
            raise AnswerFormat(
                f"the first item must be a list of {len(shapes)} clipped arrays, one per "
                f"array in grads, with their shapes {', '.join(map(str, shapes))}; yours "
                f"was {_fmt(clipped)[:80]}")
        if per_array:
            _check_per_array_norms(norm, len(shapes))
        elif _as_numbers(norm) is None or np.ndim(norm) != 0:
            raise AnswerFormat("the second item must be the norm before clipping, one "
                               f"number; yours was {_fmt(norm)[:80]}")
        flat = _flat(result)
        _copies(clipped, grads, before,
                _close(flat, _flat(reference(copy.deepcopy(before), max_norm)), 1e-10, 1e-12))
        return flat

    return run_checker(title, learner if callable(clip_fn) else clip_fn,
                       expected, cases or _clip_cases(), mistakes, rtol=1e-10, atol=1e-12,
                       extra_check=_inputs_kept(("grads", "max_norm"), "return clipped "
                                                "copies and leave grads as it was."),
                       otherwise="the rows above list the clipped arrays' entries, flattened "
                       "in order, then " + ("the arrays' norms before clipping, one per "
                                            "array (the last numbers)." if per_array else
                                            "the norm before clipping (the last number)."))


def check_clip_global_norm(clip_global_norm):
    """Exercise: ``clip_global_norm(grads, max_norm) -> (clipped_list, norm_before)``."""
    return _clip_checker("clip_global_norm", clip_global_norm, _clip_mistakes())


def check_clip_bug_fix(fixed_clip):
    """Exercise (chapter 4's bug hunt): a fixed version of the colleague's clipping, which
    clips by value. Checked as :func:`check_clip_global_norm`, except that an answer that
    still has the colleague's bug is told so without being told the fix."""
    mistakes = _clip_mistakes()
    colleagues, _ = mistakes[1]  # clipping each entry by value
    mistakes[1] = (colleagues, "your function still behaves like the colleague's: compare "
                               "the direction of its clipped gradient with the direction "
                               "of the gradient it was given.")
    return _clip_checker("fixed_clip", fixed_clip, mistakes)


def check_clip_value(clip_value):
    """Exercise: ``clip_value(g, c) -> clipped copy`` with every entry in [-c, c]."""
    cases = [(np.array([0.5, -2.0, 3.0]), 1.0), (np.array([-0.1, 0.1]), 0.5),
             (np.array([[4.0, -4.0], [0.0, 1.5]]), 1.5), (np.array([-7.0]), 2.0)]
    mistakes = [
        (lambda g, c: np.minimum(g, c), "clip the negative side too: every entry must end "
                                        "in [-c, c]."),
        (lambda g, c: np.clip(g, 0, c), "the lower bound is -c, not 0: negative entries keep "
                                        "their sign."),
        (lambda g, c: g * c / max(np.max(np.abs(g)), c),
         "that rescales the whole vector (like norm clipping by the largest entry); clipping "
         "by value clamps each entry on its own."),
    ]
    def learner(g, c):
        before = copy.deepcopy(g)
        out = clip_value(g, c)
        _copies([out], [g], [before], _close(out, np.clip(before, -c, c), 1e-12, 1e-12))
        return out

    return run_checker("clip_value", learner if callable(clip_value) else clip_value,
                       lambda g, c: np.clip(g, -c, c), cases, mistakes, rtol=1e-12,
                       extra_check=_inputs_kept(("g", "c"), "return a clipped copy and "
                                                "leave g as it was."))


def _per_array_clip(grads, max_norm):
    norms = [float(np.sqrt(np.sum(g * g))) for g in grads]
    return [_scale_to([g], max_norm, n)[0][0] for g, n in zip(grads, norms)], norms


def _check_per_array_norms(norms, count):
    """Raises :class:`AnswerFormat` unless ``norms``, per-array clipping's second item,
    is ``count`` real numbers (a list, a tuple or a 1-D array)."""
    numbers = _as_numbers(norms)
    if (isinstance(norms, (list, tuple, np.ndarray)) and numbers is not None
            and numbers.shape == (count,)):
        return
    single = (" (one number, like a global norm: per-array clipping measures each "
              "array on its own)" if numbers is not None and numbers.ndim == 0 else "")
    raise AnswerFormat("the second item must be the list of the norms before clipping, "
                       f"one number per array in grads ({count} here); yours was "
                       f"{_fmt(norms)[:80]}{single}")


def _clip_per_array_mistakes():
    """Per-array clipping's mistake models. Per-array clipping is global-norm clipping
    of one array at a time, so the global-norm exercises' models (run on one array at a
    time, found by name; their ``per_array`` model is then the right answer and is left
    out) are its mistakes too; and clipping by the global norm instead."""
    hints = {
        "by_value": "that clips each entry separately (clipping by value), which changes "
                    "each array's direction. Scale each array as a whole, by "
                    "max_norm / max(its norm, max_norm).",
        "always_scale": "an array whose norm is already below max_norm must stay "
                        "unchanged: scale by max_norm / max(norm, max_norm).",
        "norm_after": "return each array's norm *before* clipping: that is what a log of "
                      "the layers' gradient norms plots.",
        "l1": "use the Euclidean (L2) norm: the square root of the sum of squares.",
        "torch_rule": "that is PyTorch's rule, max_norm / (norm + 1e-6), applied to each "
                      "array. This exercise asks for the exact rule, "
                      "max_norm / max(norm, max_norm), as tf.clip_by_norm and "
                      "ol.clipping.clip_by_norm use.",
    }

    def one_at_a_time(model):
        def wrong(grads, max_norm):
            outs = [model([g], max_norm) for g in grads]  # each: clipped..., norm
            return np.concatenate([o[:-1] for o in outs] + [o[-1:] for o in outs])
        return wrong

    def by_global_norm(norms):
        def wrong(grads, max_norm):
            clipped, total = _global_clip(grads, max_norm)
            return _flat((clipped, [total] * len(grads) if norms == "global"
                          else _per_array_clip(grads, max_norm)[1]))
        return wrong

    global_hint = ("that scales every array by the same factor, from the global norm of "
                   "all arrays together (global-norm clipping). Per-array clipping "
                   "measures each array on its own: array i is scaled by "
                   "max_norm / max(norm_i, max_norm).")
    return ([(by_global_norm("per array"), global_hint),
             (by_global_norm("global"), global_hint)]
            + [(one_at_a_time(model), hints[model.__name__])
               for model, _ in _clip_mistakes() if model.__name__ in hints])


def check_clip_per_array(clip_per_array):
    """Exercise: ``clip_per_array(grads, max_norm) -> (clipped_list, norms_before)``: each
    array clipped on its own to L2 norm at most max_norm (tf ``clip_by_norm`` per array,
    ``ol.clipping.clip_by_norm``), copies returned, the inputs left as they were."""
    return _clip_checker("clip_per_array", clip_per_array, _clip_per_array_mistakes(),
                         reference=_per_array_clip, per_array=True)


def _linf_clip(grads, max_norm, scale_of=None):
    """Global-norm clipping with the L-infinity norm, the largest |entry| of all arrays;
    ``scale_of(norm, max_norm)`` replaces the exact rule's factor (mistake models)."""
    top = max(float(np.max(np.abs(g), initial=0.0)) for g in grads)
    if scale_of is None:
        return _scale_to(grads, max_norm, top)
    return [g * scale_of(top, max_norm) for g in grads], top


def check_clip_linf(clip_linf):
    """Exercise: ``clip_linf(grads, max_norm) -> (clipped_list, norm_before)``: global-norm
    clipping with the L-infinity norm (torch ``clip_grad_norm_(..., norm_type=inf)`` with
    the exact rule, ``ol.clipping.clip_grad_norm(..., norm_type=np.inf, exact=True)``)."""
    def by_value(grads, max_norm):
        return _flat(([np.clip(g, -max_norm, max_norm) for g in grads],
                      _linf_clip(grads, max_norm)[1]))

    def no_abs(grads, max_norm):  # the largest entry, not the largest |entry|
        return _flat(_scale_to(grads, max_norm, max(float(np.max(g)) for g in grads)))

    def per_array(grads, max_norm):
        tops = [float(np.max(np.abs(g), initial=0.0)) for g in grads]
        return _flat(([g * (max_norm / max(t, max_norm)) for g, t in zip(grads, tops)],
                      max(tops)))

    def l2(grads, max_norm):
        return _flat(_global_clip(grads, max_norm))

    def l2_norm_linf_scale(grads, max_norm):  # clipped by L-inf, reports the L2 norm
        return _flat((_linf_clip(grads, max_norm)[0], _global_clip(grads, max_norm)[1]))

    def norm_after(grads, max_norm):
        clipped, top = _linf_clip(grads, max_norm)
        return _flat((clipped, min(top, max_norm)))

    # At a zero norm this model raises ZeroDivisionError, as the unguarded division a
    # learner writes fails there: that case then says nothing (see _behaves_like).
    def always_scale(grads, max_norm):
        return _flat(_linf_clip(grads, max_norm, lambda t, c: c / t))

    def torch_rule(grads, max_norm):
        return _flat(_linf_clip(grads, max_norm, lambda t, c: min(1.0, c / (t + 1e-6))))

    def row_sums(grads, max_norm):  # np.linalg.norm(g, np.inf): a matrix's largest row sum
        return _flat(_scale_to(grads, max_norm,
                               max(float(np.linalg.norm(g, np.inf)) for g in grads)))

    def l1(grads, max_norm):
        return _flat(_scale_to(grads, max_norm,
                               sum(float(np.sum(np.abs(g))) for g in grads)))

    mistakes = [
        (by_value, "that clamps each entry to [-max_norm, max_norm] (clipping by value): "
                   "the largest entry ends at max_norm, but the others are not scaled "
                   "with it, so the direction changes. Norm clipping multiplies every "
                   "entry by the same factor, max_norm / max(norm, max_norm)."),
        (no_abs, "the L-infinity norm is the largest *absolute* entry: a large negative "
                 "entry counts too (np.max(np.abs(g)))."),
        (per_array, "that clips each array by its own largest entry (per-array clipping); "
                    "global clipping takes the largest |entry| over all arrays together "
                    "and scales every array by the same factor."),
        (l2, "that is the Euclidean (L2) norm; this exercise uses the L-infinity norm, the "
             "largest absolute entry."),
        (l2_norm_linf_scale, "return the L-infinity norm (the largest |entry| before "
                             "clipping), not the L2 norm."),
        (norm_after, "return the norm *before* clipping: that is what a training log "
                     "plots."),
        (always_scale, "gradients whose norm is already below max_norm must stay "
                       "unchanged: scale by max_norm / max(norm, max_norm)."),
        (torch_rule, "that is PyTorch's rule, min(1, max_norm / (norm + 1e-6)); this "
                     "exercise asks for the exact one, max_norm / max(norm, max_norm) "
                     "(clip_grad_norm's exact=True in optlib)."),
        (row_sums, "np.linalg.norm(g, np.inf) of a 2-D array is its largest row sum of "
                   "|entries| (the matrix norm), not its largest |entry|: use "
                   "np.max(np.abs(g)), or flatten g first."),
        (l1, "that is the L1 norm, the sum of |entries|; the L-infinity norm is the "
             "largest |entry|."),
    ]
    cases = _clip_cases() + [  # a matrix whose largest row sum is not its largest entry,
        ([np.array([0.5, -1.0]), np.array([[2.0, -3.0], [1.0, 1.0]])], 2.0),
        ([np.array([-4.0, 1.0]), np.array([[0.5, 2.0]])], 1.5)]  # the largest is negative
    return _clip_checker("clip_linf", clip_linf, mistakes, reference=_linf_clip,
                         cases=cases)


# --- Chapter 6 -------------------------------------------------------------------

def _newton_step(x, grad, hess):
    return x - np.linalg.solve(hess, grad)


def check_newton_step(newton_step):
    """Exercise: ``newton_step(x, grad, hess)`` returns x - H^{-1} g."""
    rng = np.random.default_rng(6)
    cases = [(np.array([1.0, 2.0]), np.array([2.0, -1.0]), np.array([[2.0, 0.0], [0.0, 4.0]]))]
    for dim in (2, 3, 5):
        cases.append((rng.normal(size=dim), rng.normal(size=dim), _spd(rng, dim, 20.0)))
    mistakes = [
        (lambda x, g, H: x + np.linalg.solve(H, g),
         "step against the gradient: x - H^{-1} g, not x + H^{-1} g."),
        (lambda x, g, H: x - H @ g,
         "use the *inverse* Hessian: solve H d = g (np.linalg.solve(H, g)), not H @ g."),
        (lambda x, g, H: x - g / np.diag(H),
         "use the whole Hessian, not only its diagonal: np.linalg.solve(H, g)."),
        (lambda x, g, H: -np.linalg.solve(H, g),
         "return the new point x - H^{-1} g, not the step alone."),
        (lambda x, g, H: x - g,
         "scale the gradient by the inverse Hessian."),
    ]
    return run_checker("newton_step", newton_step, _newton_step, cases, mistakes, rtol=1e-9)


def _backtracking(f, x, d, g, alpha0=1.0, c1=1e-4, shrink=0.5, probe=None):
    """The reference; ``probe`` (a mistake model) moves along another direction."""
    alpha, f0, slope = alpha0, f(x), g @ d
    probe = d if probe is None else probe
    for _ in range(60):
        if f(x + alpha * probe) <= f0 + c1 * alpha * slope:
            return alpha
        alpha *= shrink
    return alpha


class _Budget:
    """``f`` for a learner's line search, with a limit on how often it may be called, so
    that a loop that never ends stops with a hint instead of hanging the notebook."""

    LIMIT = 1000

    def __init__(self, f, label=None):
        self.f, self.calls, self.label = f, 0, label

    def __repr__(self):
        return self.label or _fmt(self.f)

    def __call__(self, x):
        self.calls += 1
        if self.calls > self.LIMIT:
            raise RuntimeError(
                f"f was called more than {self.LIMIT} times: your loop never stops. Is "
                "alpha in the test, f(x + alpha d) <= f(x) + c1 * alpha * (g @ d), and "
                "does alpha shrink every time round (alpha *= shrink)?")
        return self.f(x)


def _bowl(x):
    return float(x @ x)


def _backtracking_cases():
    # Two steps along d = -g on x^2 from x = 1, where f(1 - 2a) = (1 - 2a)^2 and the
    # Armijo test holds for a <= 1 - c1: 1.00005 raises f a little (accepted only by a
    # test that adds -c1 a g.d); 0.99995 lowers f, but by less than c1 asks for.
    x, g = np.array([1.0]), np.array([2.0])
    cases = [(_bowl, x, -g, g, 1.00005, 1e-4, 0.5), (_bowl, x, -g, g, 0.99995, 1e-4, 0.5)]
    for name, x in (("rosenbrock", [-1.2, 1.0]), ("rosenbrock", [0.0, 1.5]),
                    ("himmelblau", [1.0, -1.0]), ("beale", [2.0, 0.2])):
        fn = functions.get(name)
        x = np.array(x)
        g = fn.grad(x)
        cases.append((fn.value, x, -g, g, 1.0, 1e-4, 0.5))
        cases.append((fn.value, x, -g / np.linalg.norm(g), g, 1.0, 0.9, 0.5))
        H = fn.hess(x)
        d = -np.linalg.solve(H, g)
        if g @ d < 0:  # Newton's direction, where it descends: then d != -g
            cases.append((fn.value, x, d, g, 1.0, 0.3, 0.5))
    fn = functions.rosenbrock()
    x = np.array([0.5, 0.8])
    g = fn.grad(x)
    cases.append((fn.value, x, -g, g, 2.0, 1e-4, 0.3))
    return [(_Budget(f, "f(x) = x @ x" if f is _bowl else None), *rest)
            for f, *rest in cases]


def check_backtracking(backtracking):
    """Exercise: ``backtracking(f, x, d, g, alpha0, c1, shrink)`` returns the first step
    length alpha0 * shrink^j meeting the Armijo condition."""
    mistakes = [
        (lambda f, x, d, g, a, c1, s: _backtracking(f, x, d, g, a, 1e-4, s),
         "use the c1 you are given, not a fixed 1e-4."),
        (lambda f, x, d, g, a, c1, s: _backtracking(f, x, d, g, a, 0.0, s),
         "require a *sufficient* decrease, f(x + a d) <= f(x) + c1 a g.d, not only "
         "f(x + a d) <= f(x)."),
        (lambda f, x, d, g, a, c1, s: _backtracking(f, x, d, -g, a, c1, s),
         "the slope g.d is negative along a descent direction: add c1 * alpha * (g @ d), "
         "do not subtract it."),
        (lambda f, x, d, g, a, c1, s: _backtracking(f, x, -g, g, a, c1, s),
         "test the step along d, the direction you were given, not along -g."),
        (lambda f, x, d, g, a, c1, s: _backtracking(f, x, d, g, a, c1, s, probe=-g),
         "test the step along d, the direction you were given, not along -g."),
        (lambda f, x, d, g, a, c1, s: _backtracking(f, x, d, g, a * s, c1, s),
         "try alpha0 itself first, before shrinking."),
        (lambda f, x, d, g, a, c1, s: _backtracking(f, x, d, g, a, c1, s) * s,
         "return the first alpha that passes the test, not the next smaller one."),
        (lambda f, x, d, g, a, c1, s: _backtracking(f, x, d, g, a, c1, 0.5),
         "shrink by the factor you are given, `shrink`, not a fixed 0.5."),
        (lambda f, x, d, g, a, c1, s: _backtracking(f, x, -g, g, a, c1, s, probe=d),
         "the slope in the test is g @ d, the derivative along the direction d you were "
         "given; -(g @ g) is the slope along -g only."),
    ]
    return run_checker("backtracking", backtracking, _backtracking, _backtracking_cases(),
                       mistakes, rtol=1e-12)


def _two_loop(g, s_list, y_list, order="right", gamma_kind="right", gamma_pair=-1,
              alphas_reversed=True, beta_from_s=False):
    q = np.array(g, dtype=float)
    alphas = []
    pairs = list(zip(s_list, y_list))
    first = pairs[::-1] if order == "right" else pairs
    for s, y in first:
        a = (s @ q) / (y @ s)
        alphas.append(a)
        q = q - a * y
    s, y = pairs[gamma_pair]
    gamma = {"right": (s @ y) / (y @ y), "none": 1.0, "inverted": (y @ y) / (s @ y)}
    r = gamma[gamma_kind] * q
    second = list(zip(first[::-1], alphas[::-1] if alphas_reversed else alphas))
    for (s, y), a in second:
        b = ((s if beta_from_s else y) @ r) / (y @ s)
        r = r + (a - b) * s
    return r


def _bfgs_dense(g, s_list, y_list):
    """M g with M built by the BFGS formula (eq-bfgs) from gamma I, the pairs applied
    oldest first: the matrix the two-loop recursion multiplies by without forming it."""
    s, y = s_list[-1], y_list[-1]
    n = len(g)
    M = (s @ y) / (y @ y) * np.eye(n)
    for s, y in zip(s_list, y_list):
        rho = 1.0 / (y @ s)
        V = np.eye(n) - rho * np.outer(y, s)
        M = V.T @ M @ V + rho * np.outer(s, s)
    return M @ g


def _two_loop_cases():
    rng = np.random.default_rng(16)
    cases = []
    for n, k in ((2, 1), (3, 2), (5, 3), (6, 5)):
        A = _spd(rng, n, 50.0)
        s_list = [rng.normal(size=n) for _ in range(k)]
        cases.append((rng.normal(size=n), s_list, [A @ s for s in s_list]))
    return cases


def check_two_loop(two_loop):
    """Exercise: ``two_loop(g, s_list, y_list)`` returns M g, the L-BFGS inverse-Hessian
    approximation (pairs oldest first, M_0 = gamma I from the newest pair) times g."""
    mistakes = [
        (lambda g, S, Y: _two_loop(g, S, Y, order="reversed"),
         "the first loop runs from the *newest* pair back to the oldest, the second "
         "from the oldest forward."),
        (lambda g, S, Y: _two_loop(g, S, Y, gamma_kind="none"),
         "scale q by gamma = s.y / y.y of the newest pair between the two loops."),
        (lambda g, S, Y: _two_loop(g, S, Y, gamma_kind="inverted"),
         "gamma is s.y / y.y (a step length: s over y), not y.y / s.y."),
        (lambda g, S, Y: -_two_loop(g, S, Y),
         "return M g itself; the search direction -M g is the caller's business."),
        (lambda g, S, Y: _two_loop(g, S[-1:], Y[-1:]),
         "use every pair in the lists, not only the newest."),
        (lambda g, S, Y: _two_loop(g, S, Y, gamma_pair=0),
         "take gamma from the *newest* pair (the last in the lists), the best picture of "
         "the curvature where you are now."),
        (lambda g, S, Y: _two_loop(g, S, Y, alphas_reversed=False),
         "the second loop walks the pairs in the opposite order, so it must use the "
         "alphas in the opposite order too: each pair with its own alpha."),
        (lambda g, S, Y: _two_loop(g, S, Y, beta_from_s=True),
         "in the second loop beta = rho * y.r (the first loop's alpha used s.q): each "
         "loop dots with the other vector of the pair."),
    ]

    return run_checker("two_loop", two_loop, _bfgs_dense, _two_loop_cases(), mistakes,
                       rtol=1e-9, extra_check=_inputs_kept(
                           ("g", "s_list", "y_list"),
                           {"g": "start from a copy, q = g.copy(), and build new arrays "
                                 "(q = q - a * y).",
                            **dict.fromkeys(("s_list", "y_list"), (
                                "walk the lists backwards without changing them, with "
                                "reversed(...) or an index, not list.reverse()."))}))


def _order_cases():
    """Error sequences of known order: linear, quadratic (with C = 3), cubic, order
    1.5, three points, and a noisy linear one (where estimators differ)."""
    quad, cubic, mid = [0.1], [0.5], [0.3]
    for _ in range(4):
        quad.append(3.0 * quad[-1] ** 2)
        cubic.append(cubic[-1] ** 3)
        mid.append(mid[-1] ** 1.5)
    noisy = 0.8 ** np.arange(12.0) * np.exp(np.random.default_rng(9).normal(0, 0.3, 12))
    return [(0.5 ** np.arange(10.0),), (np.array(quad),), (np.array(cubic[:4]),),
            (np.array(mid),), (np.array([1e-1, 1e-2, 1e-4]),), (noisy,)]


def _slope(a, b):
    a0 = a - a.mean()
    return float(a0 @ (b - b.mean()) / (a0 @ a0))


def check_convergence_order(fit_order):
    """Exercise: ``fit_order(errors)``: the least-squares slope of log e_{k+1} against
    log e_k (``optlib.second_order.convergence_order``)."""
    from .second_order import convergence_order

    def logs(e):
        return np.log(e[:-1]), np.log(e[1:])

    def through_origin(e):
        x, y = logs(e)
        return float(x @ y / (x @ x))

    def three_point(e):
        r = np.log(e[1:] / e[:-1])
        return float(np.mean(r[1:] / r[:-1]))

    mistakes = [
        (lambda e: _slope(np.arange(e.size - 1.0), np.log(e[1:])),
         "that is the slope of log e_k against the step k, the log of the factor by "
         "which each step shrinks the error (a rate), not an order: fit log e_{k+1} "
         "against log e_k."),
        (lambda e: _slope(*logs(e)[::-1]),
         "the regression is the wrong way round: fit log e_{k+1} (the y values) "
         "against log e_k (the x values)."),
        (lambda e: _slope(e[:-1], e[1:]),
         "fit the logarithms: e_{k+1} = C e_k^q is the straight line "
         "log e_{k+1} = log C + q log e_k."),
        (through_origin,
         "that line goes through the origin; the fit needs an intercept, log C "
         "(subtract the means of both coordinates, or use np.polyfit(x, y, 1))."),
        (three_point,
         "that averages the three-point estimates log(e_{k+1}/e_k) / log(e_k/e_{k-1}); "
         "they agree on an exact sequence but not on a noisy one. This exercise asks "
         "for the least-squares slope over all pairs (e_k, e_{k+1})."),
        (lambda e: np.polyfit(*logs(e), 1),
         "np.polyfit(x, y, 1) returns [slope, intercept]: return the slope, its first "
         "item."),
    ]
    return run_checker("fit_order", fit_order, convergence_order, _order_cases(),
                       mistakes, rtol=1e-9, atol=1e-12,
                       extra_check=_inputs_kept(("errors",), "leave errors as it was."))


# --- Chapter 7 -------------------------------------------------------------------

def _chain_path(make_opt, steps=60):
    """Where ``make_opt()`` ends after ``steps`` steps on a fixed, badly scaled quadratic
    with a wobble (the paths of different chains part long before)."""
    curv = np.array([0.5, 2.0, 8.0, 30.0])
    w = np.array([1.0, -1.5, 0.7, 0.2])
    opt = make_opt()
    state = opt.init(w)
    for k in range(steps):
        g = curv * w + 0.3 * np.cos(k + np.arange(4))
        state = opt.step(w, g, state)
    return w


def check_adamw_chain(make_adamw):
    """Exercise: ``make_adamw(lr, weight_decay)`` returns an ``optlib.chain`` chain equal
    to ``optlib.optim.AdamW(lr, weight_decay=weight_decay)``."""
    from . import chain as c
    from . import optim

    def reference(lr, wd):
        return _chain_path(lambda: optim.AdamW(lr, weight_decay=wd))

    def learner(lr, wd):
        def build():
            opt = make_adamw(lr, wd)
            if not isinstance(opt, c.Chain):
                what = ("None (did you forget the `return` statement?)" if opt is None
                        else f"an object of type {type(opt).__name__}")
                raise AnswerFormat(f"your function returned {what}; build the chain with "
                                   "ol.chain.chain(link, link, ...) and return it")
            return opt
        return _chain_path(build)

    def wrong(links):
        return lambda lr, wd: _chain_path(lambda: c.chain(*links(lr, wd)))

    mistakes = [
        (wrong(lambda lr, wd: (c.add_decayed_weights(wd), c.scale_by_adam(),
                               c.scale_by_learning_rate(lr))),
         "the decay enters before scale_by_adam, so Adam divides it by sqrt(v): that is "
         "Adam with L2 (coupled). AdamW adds it after scale_by_adam."),
        (wrong(lambda lr, wd: (c.scale_by_adam(), c.scale_by_learning_rate(lr),
                               c.add_decayed_weights(wd))),
         "the decay comes after the learning rate, so it is not multiplied by lr: "
         "put add_decayed_weights before scale_by_learning_rate."),
        (wrong(lambda lr, wd: (c.scale_by_adam(), c.add_decayed_weights(-wd),
                               c.scale_by_learning_rate(lr))),
         "the decay has the wrong sign: it must shrink the weights (weight_decay >= 0, and "
         "the minus sign comes from scale_by_learning_rate)."),
        (wrong(lambda lr, wd: (c.scale_by_adam(), c.scale_by_learning_rate(lr))),
         "the weight decay is missing: add add_decayed_weights(weight_decay)."),
        (wrong(lambda lr, wd: (c.scale_by_adam(), c.add_decayed_weights(lr * wd),
                               c.scale_by_learning_rate(lr))),
         "add_decayed_weights takes weight_decay itself: the scale_by_learning_rate link "
         "after it multiplies the decay by lr (torch's lr * weight_decay), so lr * wd "
         "counts lr twice."),
        (wrong(lambda lr, wd: (c.scale_by_adam(), c.add_decayed_weights(wd), c.scale(lr))),
         "the update must go against the direction: scale_by_learning_rate(lr) multiplies "
         "by -lr, scale(lr) by +lr."),
    ]
    cases = [(1e-2, 0.1), (3e-3, 1e-2), (0.05, 0.5)]
    return run_checker("make_adamw", learner if callable(make_adamw) else make_adamw,
                       reference, cases, mistakes, rtol=1e-10, atol=1e-12,
                       otherwise="the numbers compared are the four weights of a small "
                       "test problem after 60 steps of your chain (got) and of "
                       "ol.optim.AdamW (expected), from the same start. Check the links' "
                       "order and their arguments: scale_by_adam's defaults (0.9, 0.999, "
                       "1e-8) are AdamW's.")


def _update_scale(scale, tracker, found_inf, growth_factor=2.0, backoff_factor=0.5,
                  growth_interval=2000):
    if found_inf:
        return scale * backoff_factor, 0
    tracker += 1
    if tracker == growth_interval:
        return scale * growth_factor, 0
    return scale, tracker


def check_loss_scale_update(update_scale):
    """Exercise: ``update_scale(scale, tracker, found_inf, growth_factor, backoff_factor,
    growth_interval) -> (scale, tracker)``, torch GradScaler's rule."""
    cases = [(65536.0, 0, False, 2.0, 0.5, 2000), (65536.0, 1998, False, 2.0, 0.5, 2000),
             (65536.0, 1999, False, 2.0, 0.5, 2000), (65536.0, 1500, True, 2.0, 0.5, 2000),
             (1024.0, 2, False, 2.0, 0.5, 3), (1024.0, 0, True, 2.0, 0.5, 3),
             (8.0, 4, False, 4.0, 0.25, 5), (8.0, 4, True, 4.0, 0.25, 5),
             (3.0, 0, False, 2.0, 0.5, 1),
             (1024.0, 1, True, 2.0, 0.25, 3), (1024.0, 2, False, 3.0, 0.5, 3)]

    def late(s, t, inf, gf, bf, gi):
        if inf:
            return s * bf, 0
        if t == gi:                                  # compares before counting this step
            return s * gf, 0
        return s, t + 1

    def keeps_count(s, t, inf, gf, bf, gi):
        if inf:
            return s * bf, t
        return _update_scale(s, t, inf, gf, bf, gi)

    def no_reset(s, t, inf, gf, bf, gi):
        if inf:
            return s * bf, 0
        return (s * gf, t + 1) if t + 1 == gi else (s, t + 1)

    def swapped(s, t, inf, gf, bf, gi):
        return _update_scale(s, t, inf, bf, gf, gi)

    def never_counts(s, t, inf, gf, bf, gi):
        if inf:
            return s * bf, 0
        return (s * gf, 0) if t == gi else (s, t)

    mistakes = [
        (late, "off by one: count this clean step first (tracker + 1), then grow when the "
               "count reaches growth_interval."),
        (keeps_count, "after an inf/NaN step the count of clean steps restarts at 0."),
        (no_reset, "after growing, the count restarts at 0 (the next growth needs another "
                   "growth_interval clean steps)."),
        (swapped, "growth_factor (> 1) applies after growth_interval clean steps; "
                  "backoff_factor (< 1) after an inf/NaN step."),
        (never_counts, "count the clean steps: after a step without inf/NaN the tracker "
                       "grows by one."),
        (lambda s, t, inf, gf, bf, gi: _update_scale(s, t, inf, gf, 1 / gf, gi),
         "after an inf/NaN step multiply by backoff_factor, the argument (not "
         "1 / growth_factor: the two need not match)."),
        (lambda s, t, inf, gf, bf, gi: _update_scale(s, t, inf, 2.0, 0.5, gi),
         "use the growth_factor and backoff_factor your function is given, not torch's "
         "defaults 2 and 0.5."),
    ]
    return run_checker("update_scale", update_scale, _update_scale, cases, mistakes,
                       rtol=1e-12, returns=("scale", "tracker"))


def check_noise_std(noise_std):
    """Exercise: ``noise_std(eta, gamma, k)``: the standard deviation of annealed
    gradient noise at the 0-based step k, variance eta / (1 + k)**gamma."""
    cases = [(0.3, 0.55, 0), (0.3, 0.55, 1), (1.0, 0.55, 99), (0.01, 0.55, 10_000),
             (0.5, 0.0, 7), (2.0, 1.0, 3)]

    def reference(eta, gamma, k):
        return np.sqrt(eta / (1 + k) ** gamma)

    mistakes = [
        (lambda e, g, k: e / (1 + k) ** g,
         "that is the variance; the noise is drawn with the standard deviation, its "
         "square root."),
        (lambda e, g, k: np.sqrt(e / (2 + k) ** g),
         "steps count from 0 here: the first step (k = 0) has variance eta, so use "
         "(1 + k)**gamma."),
        (lambda e, g, k: np.sqrt(e) / (1 + k) ** g,
         "the square root applies to the whole variance: sqrt(eta / (1 + k)**gamma), so "
         "the decay of the std is (1 + k)**(gamma / 2)."),
        (lambda e, g, k: np.sqrt(e * (1 + k) ** g),
         "the noise must shrink over training: divide by (1 + k)**gamma."),
        (lambda e, g, k: np.sqrt(e / (1 + k) ** 0.55),
         "use the gamma your function is given, not the paper's 0.55."),
    ]
    return run_checker("noise_std", noise_std, reference, cases, mistakes, rtol=1e-12)
