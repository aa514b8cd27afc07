"""The quickstart notebook in JupyterLab and in Notebook 7: the explorer renders, reacts and shows
every tab.

One server, one page and one Run All per front end (running the notebook is the slow part); the
tests then drive the explorer in order, as a user would, and save a screenshot of each tab. The
Maximize runs are JupyterLab only: they exercise the kernel's job runner, and the progress bar and
buttons they drive are the same ipywidgets in both front ends (the controls tests cover those).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from lab_harness import Server
from lab_page import (
    ConsoleLog,
    control,
    image_fingerprint,
    new_page,
    notebook,
    open_notebook,
    open_tab,
    progress_fraction,
    record_progress,
    recorded_progress,
    run_all_cells,
    run_maximize_with_defaults,
    select_next,
    shown_image,
    slider_drag,
    slider_step,
    visible_panel,
    wait_image_change,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

NOTEBOOK = "01_quickstart.ipynb"
PREFIX = {"lab": "jupyterlab", "notebook7": "notebook7"}  # screenshot names


@pytest.fixture(scope="module")
def console(front_end: str) -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture(scope="module")
def shots(front_end: str, screenshots: Path) -> Callable[[str], Path]:
    """``shots("layers")`` -> screenshots/jupyterlab_layers.png (or notebook7_layers.png)."""
    return lambda name: screenshots / f"{PREFIX[front_end]}_{name}.png"


@pytest.fixture(scope="module")
def explorer(
    browser: Browser,
    front_end: str,
    quickstart_server: Server,
    console: ConsoleLog,
    shots: Callable[[str], Path],
) -> Iterator[Locator]:
    """The first LayerExplorer of the executed quickstart notebook (a Playwright Locator)."""
    context, page = new_page(browser, console)
    try:
        try:
            open_notebook(page, quickstart_server.url, NOTEBOOK, front_end)
            run_all_cells(page, timeout_s=300)
            root = notebook(page).locator(".featviz-explorer").first
            root.wait_for(state="visible", timeout=60_000)
        except Exception:
            # What the notebook looked like when it failed, and what the server said.
            page.screenshot(path=shots("setup_failure"), full_page=True)
            print(quickstart_server.log_tail())
            raise
        yield root
    finally:
        context.close()


def feature_image(explorer: Locator) -> Locator:
    open_tab(explorer, "Feature maps")
    return shown_image(visible_panel(explorer))


def test_explorer_appears_with_a_loaded_image(
    explorer: Locator, shots: Callable[[str], Path]
) -> None:
    img = feature_image(explorer)
    img.wait_for(state="visible")
    shot = image_fingerprint(img)
    assert shot["w"] > 0 and shot["h"] > 0, shot
    assert shot["src"].startswith("blob:"), shot["src"]
    # A real feature-map grid has contrast: not one flat colour.
    assert shot["max"] - shot["min"] > 50, shot
    for label in ("Layer", "Channel", "Normalize"):
        assert control(explorer, "dropdown", label).locator("select").count() == 1, label
    assert control(explorer, "slider", "Grid width").count() == 1
    explorer.screenshot(path=shots("feature_maps"))


@pytest.mark.front_ends("lab")
def test_maximize_with_defaults_gives_a_clean_picture_and_names_its_target(
    explorer: Locator, shots: Callable[[str], Path]
) -> None:
    # Before any other test moves a control: the notebook left features.3.conv.0.0 in grid mode.
    text, clipped = run_maximize_with_defaults(explorer)
    explorer.screenshot(path=shots("maximize_defaults"))
    assert clipped["fraction"] < 0.02, clipped
    # Named before Run, and again when done: the layer and the strongest channel on the photo.
    before = re.search(r"press Run to maximize (\S+) channel (\d+) \(strongest", text)
    done = re.search(r"done: (\S+) channel (\d+) \(strongest on this image\)", text)
    assert before and done and before.groups() == done.groups(), text
    assert done.group(1) == "features.3.conv.0.0", text  # set by the notebook: the user's choice


@pytest.mark.parametrize("which", ["layer", "channel", "grid width", "normalization"])
def test_control_changes_the_image(
    explorer: Locator, which: str, shots: Callable[[str], Path]
) -> None:
    img = feature_image(explorer)
    before = image_fingerprint(img)
    channel = control(explorer, "dropdown", "Channel").locator("select")
    if which == "layer":
        select_next(control(explorer, "dropdown", "Layer").locator("select"))
    elif which == "channel":
        channel.select_option(index=5)  # options: grid, sum, then channels by index
    elif which == "grid width":
        if channel.evaluate("s => s.selectedIndex") != 0:  # the grid, where the width applies
            channel.select_option(index=0)
            before = wait_image_change(img, before)
        # The mouse, not the arrow keys: Notebook 7 takes those (see lab_page.slider_step).
        slider_drag(control(explorer, "slider", "Grid width"), 0.15)
    else:
        select_next(control(explorer, "dropdown", "Normalize").locator("select"))
    after = wait_image_change(img, before)
    assert after["w"] > 0 and after["max"] > after["min"], after
    if which == "grid width":
        # More columns make the grid wider relative to its height.
        assert after["w"] / after["h"] > before["w"] / before["h"], (before, after)
    explorer.screenshot(path=shots(f"after_{which.replace(' ', '_')}"))


@pytest.mark.parametrize("tab", ["Overlay", "Kernels"])
def test_picture_tabs_show_an_image(
    explorer: Locator, tab: str, shots: Callable[[str], Path]
) -> None:
    open_tab(explorer, tab)
    img = shown_image(visible_panel(explorer))
    img.wait_for(state="visible", timeout=30_000)
    shot = image_fingerprint(img)
    assert shot["w"] > 0 and shot["max"] - shot["min"] > 30, shot
    explorer.screenshot(path=shots(tab.lower()))


def test_predictions_tab_names_the_cat(explorer: Locator, shots: Callable[[str], Path]) -> None:
    open_tab(explorer, "Predictions")
    panel = visible_panel(explorer)
    panel.get_by_text("Egyptian cat").first.wait_for(state="visible", timeout=30_000)
    assert re.search(r"\d+(\.\d+)?%", panel.inner_text()), panel.inner_text()
    explorer.screenshot(path=shots("predictions"))


def test_layers_tab_lists_the_layers(explorer: Locator, shots: Callable[[str], Path]) -> None:
    open_tab(explorer, "Layers")
    rows = visible_panel(explorer).locator("table tr")
    rows.nth(10).wait_for(state="visible", timeout=30_000)
    text = visible_panel(explorer).inner_text()
    assert "Conv2d" in text and "features.0.0" in text, text[:500]
    explorer.screenshot(path=shots("layers"))


def _maximize_controls(explorer: Locator) -> tuple[Locator, Locator, Locator, Locator]:
    open_tab(explorer, "Maximize")
    panel = visible_panel(explorer)
    return (
        panel,
        panel.get_by_role("button", name="Run"),
        panel.get_by_role("button", name="Cancel"),
        panel.locator(".widget-hprogress").first,
    )


@pytest.mark.front_ends("lab")
def test_maximize_runs_with_progress_and_shows_the_result(
    explorer: Locator, shots: Callable[[str], Path]
) -> None:
    panel, run, _, progress = _maximize_controls(explorer)
    control(panel, "dropdown", "Size").locator("select").select_option(label="64")
    steps = control(panel, "slider", "Steps")
    slider_step(steps, "Home")  # 4 steps
    slider_step(steps, "ArrowRight", times=7)  # 32 steps: short, but enough to watch progress
    record_progress(progress)
    run.click()
    panel.get_by_text(re.compile(r"^done: ")).wait_for(timeout=120_000)
    seen = recorded_progress(explorer.page)
    inside = [f for f in seen if 0 < f < 1]
    assert seen and seen[-1] == 1.0, f"progress did not complete: {seen}"
    assert len(set(inside)) >= 2, f"progress did not advance step by step: {seen}"
    assert inside == sorted(inside), f"progress went backwards: {seen}"
    img = shown_image(panel)
    img.wait_for(state="visible")
    shot = image_fingerprint(img)
    assert shot["w"] >= 64 and shot["max"] - shot["min"] > 30, shot
    explorer.screenshot(path=shots("maximize"))


@pytest.mark.front_ends("lab")
def test_cancel_stops_a_long_run(explorer: Locator, shots: Callable[[str], Path]) -> None:
    panel, run, cancel, progress = _maximize_controls(explorer)
    slider_step(control(panel, "slider", "Steps"), "End")  # 512 steps: minutes if not cancelled
    run.click()
    explorer.page.wait_for_function(
        "p => parseFloat(p.querySelector('.progress-bar').style.width) > 0",
        arg=progress.element_handle(),
        timeout=60_000,
    )
    cancel.click()
    panel.get_by_text(re.compile(r"cancelled after \d+ steps")).wait_for(timeout=30_000)
    stopped_at = progress_fraction(progress)
    explorer.page.wait_for_timeout(1500)
    assert progress_fraction(progress) == stopped_at < 1.0
    assert run.is_enabled() and not cancel.is_enabled()
    explorer.screenshot(path=shots("maximize_cancelled"))


def test_console_shows_no_widget_errors(explorer: Locator, console: ConsoleLog) -> None:
    # Last in the module: covers everything the tests above did in this page.
    assert console.errors == [], "\n".join(console.errors)


@pytest.fixture(autouse=True, scope="module")
def _report_ignored_console(console: ConsoleLog) -> Iterator[None]:
    yield
    if console.ignored:
        print(f"ignored known console noise: {console.ignored}")
