import subprocess
import sys


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
