"""optlib: the small optimization library behind the course.

Every update rule, test function, trajectory runner and model the chapters use lives
here, each as one Numba-jitted kernel behind a validated Python API.

Conventions (chapter 1 states them too)
---------------------------------------
* **Sign.** Optimizers *minimise*. A step moves the parameters against the gradient:
  ``w <- w - lr * g``.
* **Step counting.** ``state.step`` counts the steps already taken, starting at 0.
  A learning-rate schedule is a function of that 0-based count: the first step uses
  ``schedule(0)``. Rules with bias correction (Adam, later chapters) use ``t = step + 1``,
  so the first step has ``t = 1``.
* **In place.** ``opt.step(params, grads, state)`` overwrites ``params`` and the arrays
  inside ``state``, and returns the new state (a ``NamedTuple``) with ``step + 1``.
* **Dtypes.** float64 by default; the kernels also accept float32 arrays (parameters,
  gradients and state share one dtype) and then compute in float32 arithmetic, as
  torch's kernels do: each scalar (rate, betas, bias corrections) is worked out in
  float64 and rounded to float32 once. (Not always torch's bits: torch fuses some
  multiply-adds into one rounding.) Integer arrays are refused.

Submodules load on first use, so ``import optlib`` is fast and compiles nothing:
kernels compile on their first call and are cached on disk.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "functions",
    "optim",
    "schedules",
    "clipping",
    "second_order",
    "chain",
    "theory",
    "trajectory",
    "models",
    "datasets",
    "precision",
    "search",
    "plotting",
    "widgets",
    "explorables",
    "exercises",
    "perf",
)

__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f"optlib.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'optlib' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
