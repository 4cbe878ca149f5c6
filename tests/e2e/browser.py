"""Headless Chromium for the end-to-end tests: Debian's package driven by Playwright, or a clear skip (a failure
under ``DHS_REQUIRE_BROWSER=1``, as CI sets it)."""

import os
from contextlib import contextmanager

import pytest

CHROMIUM = os.environ.get("DHS_CHROMIUM", "/usr/bin/chromium")
# as root in a closed network: no sandbox, no background connections (docs/operations.md)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("DHS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"DHS_REQUIRE_BROWSER=1 but no Chromium at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM}; `make browser` installs it, .ci/run does")


@contextmanager
def chromium_page(width: int, height: int):
    """A page of a headless Chromium, closed after use."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
