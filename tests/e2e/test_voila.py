"""notebooks/app.ipynb served by Voila: the explorer renders as an app and reacts to its controls
and to a click on a tile of its feature-map grid."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from lab_harness import Server, copy_notebooks, voila
from lab_page import (
    ConsoleLog,
    control,
    image_fingerprint,
    new_page,
    open_tab,
    run_maximize_with_defaults,
    select_next,
    shown_image,
    slider_step,
    visible_panel,
    wait_image_change,
)
from picture_page import (
    channel_label_number,
    hover_tooltip,
    picture,
    picture_img,
    poll,
    tile_by_columns,
    tooltip_channel,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

NOTEBOOK = "app.ipynb"


@pytest.fixture(scope="module")
def voila_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("voila")
    root = copy_notebooks(base / "root", [NOTEBOOK])
    with voila(root / NOTEBOOK, base / "state") as server:
        yield server


def test_voila_app_renders_and_reacts(
    browser: Browser, voila_server: Server, screenshots: Path
) -> None:
    console = ConsoleLog()
    context, page = new_page(browser, console)
    try:
        # Voila executes the notebook before the page is complete: allow for the model to load.
        page.goto(voila_server.url, wait_until="domcontentloaded", timeout=180_000)
        root = page.locator(".featviz-explorer").first
        root.wait_for(state="visible", timeout=180_000)
        open_tab(root, "Feature maps")
        img = shown_image(visible_panel(root))
        img.wait_for(state="visible")
        before = image_fingerprint(img)
        assert before["w"] > 0 and before["max"] - before["min"] > 50, before
        root.screenshot(path=screenshots / "voila_feature_maps.png")

        select_next(control(root, "dropdown", "Layer").locator("select"))
        after_layer = wait_image_change(img, before)
        slider_step(control(root, "slider", "Grid width"), "ArrowLeft", times=2)
        after_width = wait_image_change(img, after_layer)
        assert after_width["w"] / after_width["h"] < after_layer["w"] / after_layer["h"]
        root.screenshot(path=screenshots / "voila_after_changes.png")

        click_third_tile(page, root)
        root.screenshot(path=screenshots / "voila_clicked_tile.png")

        open_tab(root, "Predictions")
        visible_panel(root).get_by_text("Egyptian cat").first.wait_for(state="visible")
        assert console.errors == [], "\n".join(console.errors)
    finally:
        context.close()
        if console.ignored:
            print(f"ignored known console noise: {console.ignored}")


def click_third_tile(page: Page, root: Locator) -> None:
    """Hover the third tile of the grid's first row (its tooltip names the channel), click it:
    the Channel dropdown shows that channel and the picture changes.

    Voila has no notebook to ask the kernel for the picture's geometry: the tile is found from
    the Grid width slider (columns) and named by its own tooltip.
    """
    panel = visible_panel(root)
    img = picture_img(panel)
    columns = int(control(root, "slider", "Grid width").locator(".widget-readout").inner_text())
    tile = tile_by_columns(img, columns, row=0, col=2)
    channel = tooltip_channel(hover_tooltip(page, picture(panel), tile)["text"])
    before = image_fingerprint(img)
    page.mouse.click(tile.x, tile.y)
    select = control(root, "dropdown", "Channel").locator("select")
    poll(page, lambda: channel_label_number(select) == channel, f"the dropdown shows {channel}")
    after = wait_image_change(img, before)
    assert after["w"] > 0 and after["max"] > after["min"], after


def test_voila_maximize_with_defaults_is_clean_and_says_what_it_showed(
    browser: Browser, voila_server: Server, screenshots: Path
) -> None:
    """The Binder landing page's first Maximize click: features.0.0 sees 3x3 pixels, so a block
    that sees enough is optimized, said in one line, with the first conv's kernels beside it."""
    console = ConsoleLog()
    context, page = new_page(browser, console)
    try:
        page.goto(voila_server.url, wait_until="domcontentloaded", timeout=180_000)
        root = page.locator(".featviz-explorer").first
        root.wait_for(state="visible", timeout=180_000)
        text, clipped = run_maximize_with_defaults(root)
        root.screenshot(path=screenshots / "voila_maximize_defaults.png")
        assert clipped["fraction"] < 0.02, clipped
        assert "features.0.0 sees 3x3 pixels; showing features.3, pick a layer to override" in text
        done = re.search(r"done: (features\.3) channel (\d+) \(strongest on this image\)", text)
        assert done, text
        assert clipped["w"] > clipped["h"], clipped  # the kernels stand beside the picture
        assert console.errors == [], "\n".join(console.errors)
    finally:
        context.close()
