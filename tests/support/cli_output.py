"""What the CLI prints, as the e2e tests check it."""

from __future__ import annotations

import subprocess


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command prints (and check it failed the way users expect: exit
    code 1, one ``Error: `` line, no traceback)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]
