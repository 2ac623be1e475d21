"""Debian's chromium, driven by Playwright for Python, for the dashboard's browser tier.

Playwright's own browser builds are never used (nor downloaded): the browser is the
``chromium`` on PATH, installed with apt when it is missing and we are root. Without it the
tier is skipped with the reason, except under ``CI=true``, where it fails.

:class:`PageWatch` records what a page reports on its console (errors) and the exceptions
its scripts throw, so that a test can assert a page ran clean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest

#: the flags every launch uses: headless, no sandbox (we may be root), no GPU, no calls home
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
INSTALL_TIMEOUT = 900
#: Debian's browser, and a font so that screenshots show text
APT_PACKAGES = ("chromium", "fonts-dejavu-core")


def unavailable(reason: str) -> None:
    """Skip the browser tier (fail it on CI) for ``reason``."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"The browser tier cannot run on CI: {reason}", pytrace=False)
    pytest.skip(f"Browser tier not available: {reason}")


def install_chromium() -> str | None:
    """Install Debian's chromium with apt, non-interactively; the reason it failed, or None."""
    if os.geteuid() != 0:
        return "chromium is not installed and we are not root (apt-get install -y chromium)"
    if shutil.which("apt-get") is None:
        return "chromium is not installed and there is no apt-get to install it"
    command = "apt-get update -qq && apt-get install -y -qq --no-install-recommends " + " ".join(
        APT_PACKAGES
    )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            ["bash", "-c", command],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env=environment,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"apt-get failed: {e}"
    if done.returncode != 0:
        return f"apt-get install chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return None


def chromium_path() -> str:
    """The path of Debian's chromium, installed if needed (skips or fails without it)."""
    path = shutil.which("chromium")
    if path is None:
        reason = install_chromium()
        path = shutil.which("chromium")
        if path is None:
            unavailable(reason or "apt-get installed chromium but it is not on PATH")
    assert path is not None
    return path


def launch(playwright: Any, executable: str) -> Any:
    """One headless chromium of Debian's, through Playwright."""
    return playwright.chromium.launch(
        executable_path=executable, args=CHROMIUM_ARGS, headless=True, timeout=60_000
    )


@dataclass
class PageWatch:
    """The console errors and uncaught exceptions of one Playwright page."""

    page: Any
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", self._page_error)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = message.location or {}
            self.errors.append(f"console error at {where.get('url', '?')}: {message.text}")

    def _page_error(self, error: Any) -> None:
        self.errors.append(f"uncaught exception: {error}")

    def take(self) -> list[str]:
        """The errors recorded since the last call."""
        errors, self.errors = self.errors, []
        return errors
