"""Facts recorded on every run: who ran it, from which file, at which git commit, on which Python.

Each is computed once per process: a run costs no subprocess call.
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import subprocess
import sys

from heron.core.validation import storable_text


@functools.lru_cache(maxsize=1)
def current_user() -> str | None:
    """The login name of the user running this process."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER") or None


@functools.lru_cache(maxsize=1)
def source_file() -> str | None:
    """The script or notebook this process runs (absolute path), if there is one."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if not path or path == "-c":
        return "<interactive>"
    return os.path.abspath(path)


@functools.lru_cache(maxsize=16)
def git_commit(path: str | None) -> str | None:
    """The commit checked out in the git work tree holding ``path`` (None outside one)."""
    folder = os.path.dirname(path) if path and os.path.isfile(path) else (path or os.getcwd())
    if not os.path.isdir(folder):
        folder = os.getcwd()
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) in (40, 64) else None


@functools.lru_cache(maxsize=1)
def python_version() -> str:
    return platform.python_version()


def run_facts() -> dict[str, str | None]:
    """``user``, ``source``, ``git_commit`` and ``python_version`` for a new run."""
    source = source_file()
    # what the environment says is recorded as well as it can be, never refused
    return {
        "user": storable_text(current_user(), 256),
        "source": storable_text(source),
        "git_commit": storable_text(git_commit(None if source == "<interactive>" else source), 64),
        "python_version": storable_text(python_version(), 32),
    }
