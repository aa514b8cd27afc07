"""The Examples tab in real JupyterLab: Find examples moves the progress bar, the pictures appear,
and Cancel stops a second run with its partial result kept.

The notebook is written here: the lab's TinyCNN, made slower per forward so that a run lasts a few
seconds (long enough to watch and to cancel), on a few hundred generated pattern images. Results go
to the temp ``FEATVIZ_CACHE_DIR`` that tests/conftest.py sets (the kernel inherits it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from lab_harness import Server, jupyter_lab
from lab_page import (
    ConsoleLog,
    control,
    image_fingerprint,
    new_page,
    notebook,
    open_notebook,
    progress_fraction,
    record_progress,
    recorded_progress,
    run_all_cells,
    shown_image,
    visible_panel,
    wait_image_change,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

NOTEBOOK = "examples_tab.ipynb"
IMAGES = 600
SETUP = f"""\
import time

import torch
from featviz_widgets import LayerExplorer
from featviz_widgets.lab.patterns import make_patterns
from featviz_widgets.lab.tiny_cnn import TinyCNN


class SlowTinyCNN(TinyCNN):
    def forward(self, x):
        time.sleep(0.03)  # a run of {IMAGES} images in batches of 4 then takes about 5 s
        return super().forward(x)


torch.manual_seed(0)
patterns = make_patterns({IMAGES}, seed=2)
ex = LayerExplorer(SlowTinyCNN(num_classes=7), patterns.images[0], size=32, dataset=patterns)
ex.layer = "conv1"
ex.tab = "Examples"
ex.tab_object("examples").batch_size = 4
ex
"""


@pytest.fixture(scope="module")
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("examples_lab")
    root = base / "root"
    root.mkdir()
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(book, root / NOTEBOOK)
    with jupyter_lab(root, base / "state") as server:
        yield server


@pytest.fixture(scope="module")
def panel(
    browser: Browser, examples_server: Server, console: ConsoleLog, screenshots: Path
) -> Iterator[Locator]:
    """The Examples tab's panel of the executed notebook's explorer."""
    context, page = new_page(browser, console)
    try:
        try:
            open_notebook(page, examples_server.url, NOTEBOOK)
            run_all_cells(page, timeout_s=180)
            root = notebook(page).locator(".featviz-explorer").first
            root.wait_for(state="visible", timeout=60_000)
            panel = visible_panel(root)
            panel.get_by_text(re.compile(r"press Find examples")).wait_for(timeout=30_000)
        except Exception:
            page.screenshot(path=screenshots / "jupyterlab_examples_setup_failure.png")
            print(examples_server.log_tail())
            raise
        yield panel
    finally:
        context.close()


def _explorer(panel: Locator) -> Locator:
    return panel.page.locator(".featviz-explorer").first


def test_find_examples_moves_the_progress_bar_and_shows_the_pictures(
    panel: Locator, screenshots: Path
) -> None:
    progress = panel.locator(".featviz-examples-progress").first
    record_progress(progress)
    panel.get_by_role("button", name="Find examples").click()
    panel.get_by_text(re.compile(r"images/s")).wait_for(timeout=30_000)
    panel.get_by_text(re.compile(rf"^{IMAGES} images ranked")).wait_for(timeout=120_000)
    seen = recorded_progress(panel.page)
    inside = [f for f in seen if 0 < f < 1]
    assert seen and seen[-1] == 1.0, f"progress did not complete: {seen}"
    assert len(set(inside)) >= 5, f"progress did not move batch by batch: {seen}"
    assert inside == sorted(inside), f"progress went backwards: {seen}"
    grid = shown_image(panel)
    grid.wait_for(state="visible", timeout=30_000)
    shot = image_fingerprint(grid)
    assert shot["w"] > 0 and shot["max"] - shot["min"] > 30, shot  # one crop per channel
    # A channel: its top images with the map over each, and the receptive-field crops below.
    explorer = _explorer(panel)
    control(explorer, "dropdown", "Channel").locator("select").select_option(index=5)
    top = wait_image_change(grid, shot)
    assert top["w"] > shot["w"] and top["max"] - top["min"] > 30, top
    pictures = panel.locator("img:visible")
    assert pictures.count() == 2
    crops = image_fingerprint(pictures.nth(1))
    assert crops["w"] == top["w"] and crops["max"] - crops["min"] > 30, crops
    assert re.search(r"channel 3 · top 9 of 600 images by mean.*#\d+ \d", panel.inner_text())
    explorer.screenshot(path=screenshots / "jupyterlab_examples.png")


def test_cancel_stops_a_second_run_and_keeps_its_partial_result(
    panel: Locator, screenshots: Path
) -> None:
    progress = panel.locator(".featviz-examples-progress").first
    find = panel.get_by_role("button", name="Find examples")
    cancel = panel.get_by_role("button", name="Cancel")
    panel.get_by_role("button", name="all listed layers").click()  # another pass: not cached
    find.click()
    panel.page.wait_for_function(
        "p => parseFloat(p.querySelector('.progress-bar').style.width) > 0",
        arg=progress.element_handle(),
        timeout=60_000,
    )
    cancel.click()
    panel.get_by_text(re.compile(rf"^partial: \d+ of {IMAGES} images ranked")).wait_for(
        timeout=30_000
    )
    stopped_at = progress_fraction(progress)
    panel.page.wait_for_timeout(1500)
    assert progress_fraction(progress) == stopped_at < 1.0
    assert find.is_enabled() and not cancel.is_enabled()
    shot = image_fingerprint(shown_image(panel))  # the partial ranking is shown
    assert shot["w"] > 0 and shot["max"] - shot["min"] > 30, shot
    _explorer(panel).screenshot(path=screenshots / "jupyterlab_examples_cancelled.png")


def test_console_shows_no_widget_errors(panel: Locator, console: ConsoleLog) -> None:
    assert console.errors == [], "\n".join(console.errors)
