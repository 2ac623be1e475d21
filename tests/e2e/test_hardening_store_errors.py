"""Store faults as a user meets them on the command line (issue 8, items 6 and 16).

A mistyped tracking URI, a file that is not a Heron store, a damaged store and a full disk
each end a command with one ``Error: ...`` line that names the file and says what to do: no
traceback, no new empty store.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.cli_output import error_line

pytestmark = pytest.mark.e2e


def _env(tmp_path: Path, uri: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env["HERON_HOME"] = str(tmp_path / "home")  # never ~/.heron
    env["COLUMNS"] = "200"
    if uri is not None:
        env["HERON_TRACKING_URI"] = uri
    return env


def _heron(tmp_path: Path, *args: str, uri: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heron", *args],
        env=_env(tmp_path, uri),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _python(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _seed(tmp_path: Path, db: Path, runs: int = 200) -> None:
    code = textwrap.dedent(
        f"""
        import heron
        heron.set_tracking_uri({str(db)!r})
        for i in range(int({runs})):
            with heron.start_run(name=f"r{{i}}"):
                heron.log_params({{f"p{{j}}": "x" * 60 for j in range(8)}})
        """
    )
    done = _python(tmp_path, code)
    assert done.returncode == 0, done.stderr
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


# --- item 16 -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [("runs", "list"), ("experiments", "list"), ("models", "list"), ("artifacts", "list")],
)
def test_a_mistyped_tracking_uri_is_refused_not_created(tmp_path, command):
    typo = tmp_path / "typo" / "x.db"
    line = error_line(_heron(tmp_path, "--tracking-uri", f"sqlite:///{typo}", *command))
    assert f"There is no Heron store at {typo}" in line and "heron init" in line
    assert not (tmp_path / "typo").exists()
    line = error_line(_heron(tmp_path, *command, uri=f"sqlite:///{typo}"))  # the variable
    assert str(typo) in line
    assert not (tmp_path / "typo").exists()


def test_reading_does_not_create_the_default_store_and_writing_does(tmp_path):
    home = tmp_path / "home"
    line = error_line(_heron(tmp_path, "runs", "list"))
    assert str(home / "heron.db") in line
    assert not (home / "heron.db").exists()
    done = _python(
        tmp_path,
        "import heron\nwith heron.start_run(name='first'):\n    heron.log_metric('m', 1.0)\n",
    )
    assert done.returncode == 0, done.stderr
    listed = _heron(tmp_path, "runs", "list")
    assert listed.returncode == 0, listed.stderr
    assert "first" in listed.stdout


def test_a_workspace_without_its_database_points_to_heron_init(tmp_path):
    (tmp_path / ".heron").mkdir()
    line = error_line(_heron(tmp_path, "runs", "list"))
    assert f"heron init {tmp_path}" in line
    assert _heron(tmp_path, "init").returncode == 0
    assert _heron(tmp_path, "runs", "list").stdout.strip() == "No runs."


# --- item 6 ------------------------------------------------------------------------------
def test_a_file_that_is_not_a_store_is_one_clear_error(tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n")
    line = error_line(_heron(tmp_path, "--tracking-uri", str(notes), "runs", "list"))
    assert str(notes) in line and "not a SQLite database" in line


def test_an_emptied_store_is_one_clear_error(tmp_path):
    empty = tmp_path / "heron.db"
    empty.write_bytes(b"")
    line = error_line(_heron(tmp_path, "--tracking-uri", str(empty), "runs", "list"))
    assert str(empty) in line and "0-byte" in line and "backup" in line
    assert empty.stat().st_size == 0


def test_a_truncated_store_is_one_clear_error(tmp_path):
    db = tmp_path / "heron.db"
    _seed(tmp_path, db)
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)
    result = _heron(tmp_path, "--tracking-uri", str(db), "runs", "list", "-n", "1000")
    line = error_line(result)
    assert str(db) in line and "damaged" in line and "backup" in line


def _with_file_size_limit(tmp_path: Path, limit: int, body: str):  # type: ignore[no-untyped-def]
    """Run ``body`` where no file may grow past ``limit`` bytes (a full disk, as the
    process sees it: writes fail with EFBIG, SIGXFSZ ignored)."""
    script = "\n".join(
        [
            "import resource, signal",
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)",
            f"limit = {limit}",
            textwrap.dedent(body),
        ]
    )
    return _python(tmp_path, script)


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="POSIX file size limits")
def test_a_full_disk_under_the_database_is_one_clear_error(tmp_path):
    db = tmp_path / "heron.db"
    _seed(tmp_path, db, runs=1)
    result = _with_file_size_limit(
        tmp_path,
        4096,
        f"""
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        from heron.cli.main import main
        main(["--tracking-uri", {str(db)!r}, "experiments", "create", "x"])
        """,
    )
    line = error_line(result)
    assert str(db) in line and "disk" in line


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="POSIX file size limits")
def test_a_full_artifact_folder_is_a_clear_error(tmp_path):
    result = _with_file_size_limit(
        tmp_path,
        1 << 20,
        f"""
        import heron
        from heron.core.errors import StoreFull
        heron.set_tracking_uri({str(tmp_path / "heron.db")!r})
        with heron.start_run():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            try:
                heron.log_text("x" * (4 * limit), "big.txt")
            except StoreFull as e:
                print(e.message)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "artifacts") in result.stdout
    assert "Free some space" in result.stdout
