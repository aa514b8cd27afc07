"""Fixtures for the real-browser tests: servers on loopback, headless Debian chromium, screenshots.

Every server runs in its own process group with project-local Jupyter state under a temp dir and is
stopped in the fixture's ``finally`` (also when a test fails). A missing browser fails the run (after
trying ``scripts/ensure_browser.sh``): CI must never pass by skipping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_harness import (
    FRONT_ENDS,
    REPO,
    BrowserMissing,
    Server,
    copy_notebooks,
    jupyter_server,
    launch_browser,
)

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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "front_ends(*names): run only in these front ends (default: all FRONT_ENDS)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes ``front_end`` runs once per front end (``lab``, ``notebook7``).

    Module scope: pytest groups a module's tests by front end, so each module starts one server
    and one page per front end. ``@pytest.mark.front_ends("lab")`` narrows a test to some of them.
    """
    if "front_end" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("front_ends")
    names = marker.args if marker else FRONT_ENDS
    unknown = set(names) - set(FRONT_ENDS)
    if unknown:
        raise ValueError(f"unknown front ends {sorted(unknown)}; choose from {FRONT_ENDS}")
    metafunc.parametrize("front_end", names, scope="module")


@pytest.fixture(scope="module")
def quickstart_server(front_end: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """JupyterLab or Notebook 7 over a temp copy of the quickstart (the repo's stays output-free)."""
    base = tmp_path_factory.mktemp(front_end)
    root = copy_notebooks(base / "root", ["01_quickstart.ipynb"])
    with jupyter_server(front_end, root, base / "state") as server:
        yield server
