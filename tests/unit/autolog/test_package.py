"""``heron.autolog``: light to import, and the function however the package was imported."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_resolving_heron_autolog_imports_no_sklearn():
    out = run_python(
        "import sys, heron; f = heron.autolog; "
        "print(callable(f), 'sklearn' in sys.modules, f.__name__)"
    )
    assert out == "True False autolog"


def test_heron_autolog_is_the_function_after_importing_the_package_first():
    # the implementation is the package heron.autologging, so no import shadows the function
    out = run_python(
        "import heron.autologging.sklearn, heron, sys; "
        "heron.autolog(disable=True); "
        "from heron.autologging import autolog; "
        "print(callable(heron.autolog), autolog.__name__, 'sklearn' in sys.modules)"
    )
    assert out == "True autolog False"
