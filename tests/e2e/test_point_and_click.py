"""Point and click on the explorer's pictures, in JupyterLab and in Notebook 7.

The quickstart notebook runs with one more cell, a second explorer with ``lang="zh"``; one server,
one page and one Run All per front end. The tests hover and click the feature-map grid as a user
does and read the outcome back three ways: the Channel / Layer dropdowns, the picture, and the
explorer's traits evaluated in the kernel. Which channel a tile shows comes from the picture's
geometry (``Picture.geometry``, read through the kernel), never from a hard-coded number.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from lab_harness import REPO, Server, copy_notebooks, jupyter_server
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
    wait_image_change,
)
from picture_page import (
    Tile,
    channel_label_number,
    first_row,
    geometry,
    hover_tooltip,
    move_off,
    on_screen,
    picture,
    picture_img,
    poll,
    tiles,
    tooltip_channel,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

NOTEBOOK = "01_quickstart.ipynb"
ZH_CELL = 'explorer_zh = LayerExplorer(model, photo, weights=weights, lang="zh")\nexplorer_zh'
HOVER_LIMIT_MS = 100  # a tooltip with the channel number appears within 100 ms of the hover
CURATED = REPO / "docs" / "explorer.png"  # FEATVIZ_UPDATE_DOCS_SCREENSHOT=1 refreshes it
PREFIX = {"lab": "jupyterlab", "notebook7": "notebook7"}
CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Session:
    """The page of one front end, its two explorers (English, Chinese) and its console log."""

    front_end: str
    page: Page
    en: Locator
    zh: Locator
    console: ConsoleLog
    shots: Path

    def shot(self, name: str) -> Path:
        return self.shots / f"{PREFIX[self.front_end]}_{name}.png"


@pytest.fixture(scope="module")
def server(front_end: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The quickstart plus a ``lang="zh"`` explorer cell, served by ``front_end``."""
    base = tmp_path_factory.mktemp(f"click_{front_end}")
    root = copy_notebooks(base / "root", [NOTEBOOK])
    book = nbformat.read(root / NOTEBOOK, as_version=4)
    book.cells.append(nbformat.v4.new_code_cell(ZH_CELL))
    nbformat.write(book, root / NOTEBOOK)
    with jupyter_server(front_end, root, base / "state") as running:
        yield running


@pytest.fixture(scope="module")
def session(
    browser: Browser, front_end: str, server: Server, screenshots: Path
) -> Iterator[Session]:
    console = ConsoleLog()
    context, page = new_page(browser, console)
    try:
        explorers = notebook(page).locator(".featviz-explorer")
        state = Session(front_end, page, explorers.nth(0), explorers.nth(1), console, screenshots)
        try:
            open_notebook(page, server.url, NOTEBOOK, front_end)
            run_all_cells(page, timeout_s=300)
            state.zh.wait_for(state="visible", timeout=60_000)
        except Exception:
            page.screenshot(path=state.shot("click_setup_failure"), full_page=True)
            print(server.log_tail())
            raise
        yield state
    finally:
        context.close()
        if console.ignored:
            print(f"ignored known console noise: {console.ignored}")


def grid(session: Session, root: Locator | None = None) -> tuple[Locator, Locator, dict]:
    """Show the feature-map grid (first tab) of ``root`` (default: the English explorer) in view.

    Returns the tab's panel, the picture's ``<img>`` and its geometry.
    """
    root = session.en if root is None else root
    open_tab(root, tab_titles(root)[0])  # Feature maps, in the explorer's language
    panel = visible_panel(root)
    select = channel_select(root)
    if select.evaluate("s => s.selectedIndex") != 0:  # the first option is the grid
        before = image_fingerprint(picture_img(panel))
        select.select_option(index=0)
        wait_image_change(picture_img(panel), before)
    root.scroll_into_view_if_needed()
    img = picture_img(panel)
    img.wait_for(state="visible")
    geom = geometry(session.page, img)
    assert len(geom["tiles"]) > 3 and geom["click"] == "select", geom
    return panel, img, geom


def channel_select(root: Locator) -> Locator:
    return control(root, "dropdown", re.compile(r"^\s*(Channel|通道)\s*:?\s*$")).locator("select")


def tab_titles(root: Locator) -> list[str]:
    return [t.strip() for t in root.locator(".lm-TabBar-tab").all_inner_texts()]


def kernel_channel(session: Session, name: str = "explorer") -> str:
    return kernel_eval(session.page, f"{name}.channel")


def test_hover_shows_the_tile_channel_within_100_ms(session: Session) -> None:
    panel, img, geom = grid(session)
    all_tiles = on_screen(img, tiles(img, geom))
    # Three tiles far apart (the first hover of a picture also asks for its values); the last in
    # the middle of the grid, where the screenshot shows its tooltip whole.
    picks = [all_tiles[1], all_tiles[-2], all_tiles[len(all_tiles) // 2 - 3]]
    timings = []
    for tile in picks:
        hover = hover_tooltip(session.page, picture(panel), tile)
        assert tooltip_channel(hover["text"]) == tile.channel, (hover, tile)
        assert re.search(r"mean .*max .*value ", hover["text"]), hover["text"]
        timings.append(hover["painted_ms"])
    print(f"{session.front_end}: pointer move to painted tooltip, ms: {timings}")
    assert max(timings) <= HOVER_LIMIT_MS, f"pointer move to painted tooltip, ms: {timings}"
    tooltip = panel.locator(".featviz-tooltip")
    assert tooltip.is_visible(), "the tooltip left before the screenshot"
    session.en.screenshot(path=session.shot("hover"))
    # The README's picture is tracked: refresh it on request only, so a test run leaves git clean.
    if session.front_end == "lab" and os.environ.get("FEATVIZ_UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(session.shot("hover"), CURATED)
    move_off(session.page, picture(panel))
    tooltip.wait_for(state="hidden", timeout=5_000)


def click_tile(session: Session, img: Locator, tile: Tile) -> dict:
    """Click ``tile``; wait until the dropdown, the kernel and the picture show its channel."""
    before = image_fingerprint(img)
    session.page.mouse.click(tile.x, tile.y)
    select = channel_select(session.en)
    poll(session.page, lambda: channel_label_number(select) == tile.channel, "dropdown follows")
    assert kernel_channel(session) == str(tile.channel)
    return wait_image_change(img, before)


def test_click_third_tile_of_first_row_selects_its_channel(session: Session) -> None:
    panel, img, geom = grid(session)
    third = first_row(tiles(img, geom), geom)[2]
    assert third.channel is not None, third
    after = click_tile(session, img, third)
    # One channel, large: its own picture with that channel as its only tile.
    single = geometry(session.page, img)
    assert single["channels"] == [third.channel], single
    assert after["w"] > 0 and after["max"] > after["min"], after
    session.en.screenshot(path=session.shot("clicked_tile"))


def test_arrow_keys_step_the_channel_and_escape_returns_to_the_grid(session: Session) -> None:
    panel, img, geom = grid(session)
    order = geom["channels"]  # the grid's order (strongest first): what the arrows walk
    click_tile(session, img, first_row(tiles(img, geom), geom)[0])  # order[0], large
    select = channel_select(session.en)
    picture(panel).focus()
    shown = [order[0]]
    for key in ["ArrowRight", "ArrowDown", "ArrowUp", "ArrowLeft"]:
        before, was = image_fingerprint(img), shown[-1]
        session.page.keyboard.press(key)
        now = poll(
            session.page,
            lambda w=was: (c := channel_label_number(select)) not in (None, w) and c,
            f"{key} steps the channel from {was}",
        )
        assert kernel_channel(session) == str(now), key
        wait_image_change(img, before)
        shown.append(now)
    # Right: the next channel of the grid's order; down: further on (by one, or by a grid row);
    # up and left undo them.
    rank = [order.index(c) for c in shown]
    assert rank[1] == 1 and rank[2] > rank[1] and rank[3:] == [1, 0], (shown, rank)
    before = image_fingerprint(img)
    session.page.keyboard.press("Escape")
    poll(session.page, lambda: select.evaluate("s => s.selectedIndex") == 0, "Escape: the grid")
    assert kernel_channel(session) == "None"
    wait_image_change(img, before)
    # Double-click a tile: its channel, large, then straight back to the grid.
    tile = tiles(img, geometry(session.page, img))[3]
    session.page.mouse.dblclick(tile.x, tile.y)
    poll(session.page, lambda: select.evaluate("s => s.selectedIndex") == 0, "dblclick: grid")
    poll(session.page, lambda: kernel_channel(session) == "None", "dblclick: kernel grid")


def test_clicking_a_layers_row_selects_that_layer(session: Session) -> None:
    open_tab(session.en, "Layers")
    table = visible_panel(session.en).locator(".featviz-layers-table")
    rows = table.locator("tr[data-key]")
    rows.nth(5).wait_for(state="visible", timeout=30_000)
    layer = control(session.en, "dropdown", "Layer").locator("select")
    current = layer.evaluate("s => s.options[s.selectedIndex].textContent.trim().split(/\\s+/)[0]")
    keys = rows.evaluate_all("rs => rs.map(r => r.dataset.key)")
    options = layer.evaluate("s => [...s.options].map(o => o.textContent.trim().split(/\\s+/)[0])")
    # A row the dropdown lists, far from the current layer.
    target = next(k for k in reversed(keys) if k in options and k != current)
    row = table.locator(f'tr[data-key="{target}"]')
    row.scroll_into_view_if_needed()
    row.click()
    poll(
        session.page,
        lambda: layer.evaluate("s => s.options[s.selectedIndex].textContent").split()[0] == target,
        "the Layer dropdown follows the row",
    )
    assert kernel_eval(session.page, "explorer.layer") == repr(target)
    poll(session.page, lambda: "fvz-on" in (row.get_attribute("class") or ""), "row marked")
    assert table.locator("tr.fvz-on").count() == 1
    session.en.screenshot(path=session.shot("layers_clicked"))


# Whether a font draws these characters: a string of them and the same number of a code point no
# font has (U+10FFFD, private use) are drawn in the label's font; equal pixels mean tofu boxes.
_DRAWS_GLYPHS_JS = """(el, sample) => {
  const font = getComputedStyle(el).font;
  const draw = (s) => {
    const c = document.createElement('canvas'); c.width = 200; c.height = 40;
    const ctx = c.getContext('2d'); ctx.font = font; ctx.fillText(s, 4, 28);
    return Array.from(ctx.getImageData(0, 0, 200, 40).data).join(',');
  };
  return draw(sample) !== draw('\\u{10FFFD}'.repeat([...sample].length));
}"""


def test_chinese_explorer_shows_chinese_labels_without_tofu(session: Session) -> None:
    zh = session.zh
    zh.scroll_into_view_if_needed()
    for label in ("层", "通道"):
        assert control(zh, "dropdown", label).locator("select").count() == 1, label
    titles = tab_titles(zh)
    assert any(CJK.search(t) for t in titles), titles
    label = zh.locator(".widget-dropdown label", has_text="层").first
    assert label.evaluate(_DRAWS_GLYPHS_JS, "层通道"), "Chinese labels render as tofu boxes"
    panel, img, geom = grid(session, zh)
    tile = tiles(img, geom)[2]
    hover = hover_tooltip(session.page, picture(panel), tile)
    assert hover["text"].startswith(f"通道 {tile.channel}"), hover
    zh.screenshot(path=session.shot("zh"))
    move_off(session.page, picture(panel))


def test_console_shows_no_errors(session: Session) -> None:
    # Last in the module: covers every hover, click and key press above in this page.
    assert session.console.errors == [], "\n".join(session.console.errors)
