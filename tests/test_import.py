import doctest
import importlib
import subprocess
from pathlib import Path
import sys

import pytest

import optlib


def test_import_compiles_nothing_and_loads_no_numba():
    code = ("import sys, optlib; "
            "assert 'numba' not in sys.modules, 'numba imported'; "
            "assert 'optlib.optim' not in sys.modules; "
            "import optlib.optim; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_submodules_load_on_first_use():
    import optlib

    assert optlib.functions.rosenbrock().dim == 2
    assert "functions" in dir(optlib)
    try:
        optlib.no_such_module
    except AttributeError as exc:
        assert "no_such_module" in str(exc)
    else:
        raise AssertionError("unknown attribute did not raise")


def test_a_changed_kernel_file_invalidates_every_cached_kernel(tmp_path):
    """Numba's cache watches only the cached function's own file; optlib hashes all."""
    import shutil

    import optlib

    src = tmp_path / "pkg"
    shutil.copytree(Path(optlib.__file__).parent, src / "optlib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    run = ("import numpy as np, optlib as ol; "
           "t = ol.trajectory.run(ol.optim.GD(lr=0.1), ol.functions.booth(), steps=1); "
           "print(t.loss[0], ol.__file__)")
    env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    value, where = first.stdout.split()
    assert where.startswith(str(src))  # the copy, not the installed package
    assert float(value) == 170.0  # booth at its default start (-8, 8)
    kernel = src / "optlib" / "_kernels" / "functions.py"
    text = kernel.read_text()
    edited = text.replace("return (X + 2.0 * Y - 7.0) ** 2 + (2.0 * X + Y - 5.0) ** 2",
                          "return 1.0 + (X + 2.0 * Y - 7.0) ** 2 + (2.0 * X + Y - 5.0) ** 2")
    assert edited != text
    kernel.write_text(edited)
    second = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True,
                            env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert float(second.stdout.split()[0]) == 171.0  # the loop kernel saw the edited callee


@pytest.mark.parametrize("name", optlib._SUBMODULES)
def test_docstring_examples_run(name):
    """The >>> examples in every module's docstrings give what they show."""
    module = importlib.import_module(f"optlib.{name}")
    failed, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failed == 0, f"{failed} docstring example(s) of optlib.{name} failed (above)"
