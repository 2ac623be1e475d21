"""Fixtures of the e2e tier: one headless chromium (Debian's) for the browser module."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium_path, launch, unavailable


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through Playwright, launched once per module that uses it (installed
    with apt when missing; skipped without it, failed under CI=true). Not once per session:
    Playwright's sync API keeps an event loop running in this thread while it is open, and
    later tests that call ``asyncio.run`` would fail."""
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
