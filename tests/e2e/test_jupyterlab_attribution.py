"""The Attribution tab in a real browser, in JupyterLab and in Notebook 7.

The quickstart notebook (MobileNetV2 with its ImageNet weights on scikit-image's cat) runs once
per front end. A user clicks a row of the Predictions table and reads the Attribution tab: that
class named in the caption, a heatmap over the photo whose hover shows values; then clicks a
channel of "the channels behind the decision" and the explorer's channel follows. What each
picture shows comes from its geometry, read through the kernel, never from a hard-coded number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from lab_page import (
    ConsoleLog,
    control,
    image_fingerprint,
    kernel_eval,
    new_page,
    notebook,
    open_notebook,
    open_tab,
    run_all_cells,
    visible_panel,
)
from picture_page import channel_label_number, geometry, move_off, picture_img, poll, tiles

if TYPE_CHECKING:
    from lab_harness import Server
    from playwright.sync_api import Browser, Locator, Page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

NOTEBOOK = "01_quickstart.ipynb"
PREFIX = {"lab": "jupyterlab", "notebook7": "notebook7"}


@pytest.fixture(scope="module")
def page(
    browser: Browser, front_end: str, quickstart_server: Server, screenshots: Path
) -> Iterator[tuple[Page, Locator, ConsoleLog]]:
    console = ConsoleLog()
    context, page = new_page(browser, console)
    try:
        explorer = notebook(page).locator(".featviz-explorer").first
        try:
            open_notebook(page, quickstart_server.url, NOTEBOOK, front_end)
            run_all_cells(page, timeout_s=300)
            explorer.wait_for(state="visible", timeout=60_000)
        except Exception:
            shot = screenshots / f"{PREFIX[front_end]}_attribution_setup_failure.png"
            page.screenshot(path=shot, full_page=True)
            print(quickstart_server.log_tail())
            raise
        yield page, explorer, console
    finally:
        context.close()


def _current_tab(explorer: Locator) -> str:
    return explorer.locator(".lm-TabBar-tab.lm-mod-current").inner_text().strip()


def _tooltip_state(tooltip: Locator) -> list:
    return tooltip.evaluate("t => [t.hidden, t.dataset.state, t.textContent]")


def _hover_text(tooltip: Locator) -> str | None:
    """The tooltip's text once it shows a value under the pointer, else None."""
    hidden, _, text = _tooltip_state(tooltip)
    return text if not hidden and re.search(r"value -?\d", text) else None


def _attribution_pictures(explorer: Locator) -> tuple[Locator, Locator]:
    """The heatmap's and the strip's ``<img>`` in the Attribution panel."""
    panel = visible_panel(explorer)
    heat = picture_img(panel.locator(".featviz-attribution-image"))
    strip = picture_img(panel.locator(".featviz-attribution-strip"))
    return heat, strip


def test_clicking_a_predictions_row_shows_that_class_in_the_attribution_tab(
    page, front_end: str, screenshots: Path
) -> None:
    page_, explorer, _ = page
    open_tab(explorer, "Predictions")
    rows = visible_panel(explorer).locator(".featviz-prediction-rows tr[data-pick]")
    rows.nth(4).wait_for(state="visible", timeout=30_000)
    assert rows.count() == 5
    second = rows.nth(1)  # the second most likely class: not what the tab shows by itself
    key = second.get_attribute("data-pick")
    name = second.locator("td").first.inner_text().strip()
    second.click()
    poll(page_, lambda: _current_tab(explorer) == "Attribution", "the Attribution tab opens")
    assert kernel_eval(page_, "explorer.target_class") == key
    panel = visible_panel(explorer)
    poll(page_, lambda: f"(#{key})" in panel.inner_text(), "the caption names the class")
    assert name in panel.inner_text()
    dropdown = panel.locator(".featviz-attribution-target select")
    label = dropdown.evaluate("s => s.options[s.selectedIndex].textContent")
    assert label.replace("\xa0", " ").startswith(name), label  # ipywidgets keeps spaces as nbsp
    heat, strip = _attribution_pictures(explorer)
    shot = image_fingerprint(heat)
    assert shot["w"] == 224 and shot["max"] - shot["min"] > 100, shot  # jet over a photo
    geom = geometry(page_, heat)
    assert geom["cells"] == [224, 224], geom
    # Hover: the tooltip reads the map's value under the pointer.
    heat.scroll_into_view_if_needed()
    box = heat.bounding_box()
    move_off(page_, heat)
    page_.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tooltip = panel.locator(".featviz-attribution-image .featviz-tooltip")
    text = poll(page_, lambda: _hover_text(tooltip), f"hover value ({_tooltip_state(tooltip)})")
    assert text.startswith(name), text  # the class, not a channel
    explorer.screenshot(path=screenshots / f"{PREFIX[front_end]}_attribution.png")
    move_off(page_, heat)


def test_clicking_a_channel_of_the_strip_selects_it_in_the_explorer(page) -> None:
    page_, explorer, _ = page
    open_tab(explorer, "Attribution")
    _, strip = _attribution_pictures(explorer)
    strip.wait_for(state="visible", timeout=30_000)
    geom = geometry(page_, strip)
    assert geom["click"] == "select" and len(geom["channels"]) == 8, geom
    layer = kernel_eval(page_, "explorer.tab_object('attribution').answer.layer")
    strip.scroll_into_view_if_needed()
    shown = tiles(strip, geom)
    target = next(t for t in shown[1:] if str(t.channel) != kernel_eval(page_, "explorer.channel"))
    page_.mouse.click(target.x, target.y)
    poll(
        page_,
        lambda: kernel_eval(page_, "explorer.channel") == str(target.channel),
        "the explorer's channel follows the strip",
    )
    assert kernel_eval(page_, "explorer.layer") == layer
    select = control(explorer, "dropdown", "Channel").locator("select")
    poll(page_, lambda: channel_label_number(select) == target.channel, "the dropdown follows")


def test_console_shows_no_errors(page) -> None:
    _, _, console = page
    assert console.errors == [], "\n".join(console.errors)
