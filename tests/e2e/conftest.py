"""Fixtures of the e2e tier: one headless chromium (Debian's) for the whole session."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium_path, launch, unavailable


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium through Playwright, launched once per session (installed with apt
    when missing; skipped without it, failed under CI=true)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[dev]'")
    executable = chromium_path()
    with sync_playwright() as playwright:
        instance = launch(playwright, executable)
        try:
            yield instance
        finally:
            instance.close()
