"""Argument checks shared by the public API.

Each check runs before any kernel and raises ``TypeError`` (wrong kind of value) or
``ValueError`` (right kind, bad value) with a message naming the argument, the value
received and what is allowed.
"""

import functools
import math
import numbers
from collections.abc import Mapping

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)

#: The largest step count anywhere (a schedule's step, an optimizer's ``state.step``):
#: steps stay exact in float64 below it.
MAX_STEP = 2**53


def real(name, value, *, low=None, high=None, low_inclusive=True, high_inclusive=True,
         inf=False):
    """A finite real number in an optional interval; returned as a Python float.
    ``inf=True`` admits +inf too (with no ``high``), where it means "no limit"."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value) and not (inf and high is None and value == math.inf):
        raise ValueError(f"{name} must be finite{' or inf' if inf else ''}, got {value!r}")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        left = "[" if low_inclusive and low is not None else "("
        right = "]" if (high_inclusive and high is not None) or inf else ")"
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return value


def positive(name, value):
    """A finite real number > 0."""
    return real(name, value, low=0.0, low_inclusive=False)


def integer(name, value, *, low=None, high=None):
    """A Python or NumPy integer in [low, high]; returned as an int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "(-inf" if low is None else f"[{low}"
        hi = "inf)" if high is None else f"{high}]"
        raise ValueError(f"{name} must be an integer in {lo}, {hi}, got {value}")
    return value


def boolean(name, value):
    """True or False (a NumPy bool too); anything else, such as the string "False", is
    refused rather than read by its truth value."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def listed(name, values, what, example):
    """The items of an iterable as a list; a single value (or None), a string and a
    dict are refused, named: "``name`` must be a list of ``what``, e.g. ``example``"."""
    if not isinstance(values, (str, bytes, bytearray, Mapping)):
        try:
            return list(values)
        except TypeError:
            pass
    raise TypeError(f"{name} must be a list of {what}, e.g. {example}, got {values!r:.80}")


def choice(name, value, allowed):
    """One of a fixed set of strings (anything but a string is refused as such: an array
    would be compared entry by entry)."""
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def float_dtype(name, value):
    """np.float32 or np.float64 (or their names); returned as a NumPy dtype."""
    try:
        ok = value is not None and np.dtype(value) in FLOAT_DTYPES
    except TypeError:  # not a dtype at all
        ok = False
    if not ok:
        raise TypeError(f"{name} must be np.float64 or np.float32, got {value!r}")
    return np.dtype(value)


def float_array(name, value, *, ndim=None, shape=None, finite=True, copy=False):
    """A float32/float64 ndarray (lists are converted to float64, integers refused).

    ``copy=True`` returns a fresh C-contiguous array; otherwise the array itself when it
    is already a C-contiguous float array, so that kernels can update it in place (an
    ndarray subclass, such as np.matrix or np.memmap, is then refused; a masked array
    always is, since a copy would drop its mask).
    """
    if isinstance(value, np.ndarray):
        masked = isinstance(value, np.ma.MaskedArray)  # a copy would drop the mask
        if masked or (type(value) is not np.ndarray and not copy):  # no kernel takes them
            raise TypeError(f"{name} must be a plain NumPy array, got a "
                            f"{type(value).__name__}; pass np.asarray({name})"
                            + (" (it ignores the mask: fill the masked entries first)"
                               if masked else ""))
        arr = value
        if arr.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"{name} must be a float32 or float64 array, got dtype {arr.dtype}; "
                f"convert it with {name}.astype(float)"
            )
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be array-like of real numbers: {exc}") from None
        if arr.dtype.kind not in "f":
            if arr.dtype.kind in "iub":
                raise TypeError(
                    f"{name} must hold floats, got integers ({arr.dtype}); write e.g. "
                    f"[1.0, 2.0] instead of [1, 2]"
                )
            raise TypeError(f"{name} must be array-like of real numbers, got {value!r}")
        if arr.dtype not in FLOAT_DTYPES:
            arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got an array of shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf), got {arr!r}")
    if copy:
        return np.array(arr, order="C", copy=True)
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name})")
    return arr


def updatable(name, value, dtype="float", **kwargs):
    """:func:`float_array` for an array that a kernel updates in place: it must already be
    a writeable NumPy array (a list would be converted to a new array, and the update
    would land in that copy, lost). ``dtype`` is the one the advice names."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} is updated in place, so it must be a NumPy float array, got "
                        f"{type(value).__name__}; make one with np.array({name}, dtype={dtype}) "
                        "and keep that array")
    if not value.flags.writeable:
        raise ValueError(f"{name} is updated in place but is read-only; pass a writeable "
                         f"copy, {name}.copy()")
    if not value.flags.c_contiguous:  # float_array's advice, a contiguous copy, would
        raise ValueError(           # leave the caller's array behind
            f"{name} must be C-contiguous (a slice with a step or a transposed array is "
            f"not); it is updated in place, so update a contiguous copy, "
            f"c = np.ascontiguousarray({name}), and keep c (or copy it back: {name}[...] = c)")
    return float_array(name, value, **kwargs)


def returned_number(what, value):
    """``value``, returned by a caller's function, as a float; anything but one number
    (None, a string, an array of several) is refused: "``what``; it returned ..."."""
    try:
        if isinstance(value, (str, bytes)):  # float("3") would read it
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what}; it returned {value!r:.80}") from None


def same_layout(name, arr, ref_name, ref):
    """``arr`` must have the shape and dtype of ``ref``."""
    if arr.shape != ref.shape:
        raise ValueError(f"{name} must have the shape of {ref_name} {ref.shape}, got {arr.shape}")
    if arr.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of {ref_name} ({ref.dtype}), got {arr.dtype}")
    return arr


class FixedSettings:
    """A base for objects whose settings the constructor validates and the kernels then
    read (optimizers, chain links): once the outermost ``__init__`` has returned, setting
    an attribute is refused, by name, except those in ``settable`` (a validated property
    such as ``lr``). A new value would otherwise skip the checks, or, where the kernel
    reads a copy, change what the object shows and not what it does."""

    settable = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _constructing(cls.__dict__["__init__"])

    def __setattr__(self, name, value):
        if "_constructing" not in self.__dict__ and name not in self.settable:
            kind = type(self).__name__
            if name not in self.__dict__:
                raise AttributeError(f"{kind} has no setting {name!r} to set; its settings "
                                     f"are fixed once it is made")
            open_ = [n for n in self.settable if not n.startswith("_") and hasattr(self, n)]
            extra = f" Only {' and '.join(open_)} can be reassigned." if open_ else ""
            raise AttributeError(f"{kind}.{name} is fixed once it is made; make a new one, "
                                 f"{kind}(..., {name}=...).{extra}")
        super().__setattr__(name, value)


def _constructing(init):
    """``init``, marking the object as under construction while it (and the constructors
    it calls) runs."""
    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        d = self.__dict__
        d["_constructing"] = d.get("_constructing", 0) + 1
        try:
            init(self, *args, **kwargs)
        finally:
            d["_constructing"] -= 1
            if not d["_constructing"]:
                del d["_constructing"]
    return wrapped
