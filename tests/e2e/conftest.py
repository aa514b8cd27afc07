"""Fixtures for the real-browser tests: servers on loopback, headless Debian chromium, screenshots.

Every server runs in its own process group with project-local Jupyter state under a temp dir and is
stopped in the fixture's ``finally`` (also when a test fails). A missing browser fails the run (after
trying ``scripts/ensure_browser.sh``): CI must never pass by skipping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_harness import REPO, BrowserMissing, Server, copy_notebooks, jupyter_lab, launch_browser

SCREENSHOTS = REPO / "tests" / "e2e" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            chromium = launch_browser(playwright)
            try:
                yield chromium
            finally:
                chromium.close()
    except BrowserMissing as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """JupyterLab over a temp copy of the quickstart notebook (the repo's copy stays output-free)."""
    base = tmp_path_factory.mktemp("lab")
    root = copy_notebooks(base / "root", ["01_quickstart.ipynb"])
    with jupyter_lab(root, base / "state") as server:
        yield server
