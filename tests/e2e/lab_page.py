"""Playwright helpers that drive notebooks in JupyterLab and Notebook 7, and ipywidgets in the page.

Notebook 7 is built from JupyterLab's components, so one driver serves both: the notebook panel,
the Run menu, the kernel dialog and ``window.jupyterapp`` are the same; the differences are the
URL (``NOTEBOOK_URLS``), a start-up error of Notebook 7's own (``NOTEBOOK7_SHORTCUTS_ERROR``) and
its command-mode shortcuts taking the arrow keys from sliders (``slider_step``).

ipywidgets 8 renders a Dropdown as ``.widget-dropdown`` with a ``<label>`` and a ``<select>``, an
IntSlider as ``.widget-slider`` holding a noUiSlider (``.noUi-handle``, keyboard-operable), a Tab as a
Lumino ``lm-TabBar`` and an Image as ``<img src="blob:...">``. We find controls by their description
text, the way a user does, rather than by private classes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from playwright.sync_api import TimeoutError as PlaywrightTimeout

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Error,
        Locator,
        Page,
        Route,
    )

# Pixel fingerprint of an <img>: its natural size and an FNV-1a hash of the decoded RGBA pixels,
# so "the image changed" means the picture changed, not merely that a new blob URL was minted.
_IMAGE_FINGERPRINT_JS = """async (img) => {
  if (!img.complete || img.naturalWidth === 0) {
    // Empty (not yet rendered) or mid-swap: report "nothing loaded" and let the caller poll.
    try { await img.decode(); } catch (e) { return {src: img.src, w: 0, h: 0, hash: 0}; }
  }
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let h = 0x811c9dc5, lo = 255, hi = 0, sum = 0;
  for (let i = 0; i < d.length; i++) {
    h ^= d[i]; h = Math.imul(h, 0x01000193) >>> 0;
    if ((i & 3) !== 3) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); sum += d[i]; }
  }
  const n = (d.length / 4) * 3;
  return {src: img.src, w: img.naturalWidth, h: img.naturalHeight, hash: h,
          min: lo, max: hi, mean: n ? sum / n : 0};
}"""


VIEWPORT = {"width": 1400, "height": 1800}  # tall: the whole explorer fits in one screenshot


# Any http(s) URL that is not on loopback. The browser may talk to our servers only: Voila's lab
# template, for one, links Font Awesome from cdn.jsdelivr.net, which we refuse to fetch.
OUTSIDE = re.compile(r"^https?://(?!(127\.0\.0\.1|localhost)(:\d+)?/)")
# Chromium words a request aborted by Playwright this way.
BLOCKED_MESSAGE = "Failed to load resource: net::ERR_BLOCKED_BY_CLIENT.Inspector"


# Notebook 7.6's keyboard-shortcuts plugin reads ``plugins[id].schema`` for a settings plugin the
# registry loads lazily, and throws while the page starts; nothing of ours is on that stack and
# JupyterLab (same plugin, eager settings) does not throw. Matched by message and by the top frame
# being in Notebook 7's bundled core, so the same message from anywhere else still fails a test.
NOTEBOOK7_SHORTCUTS_ERROR = "Cannot read properties of undefined (reading 'schema')"
NOTEBOOK7_CORE = "/static/notebook/notebook_core."


@dataclass
class ConsoleLog:
    """Collects browser console errors and uncaught page errors.

    Ignored, and listed in ``ignored``, are only two named kinds of noise: the error the browser
    logs for a request we blocked ourselves (a non-loopback URL, see ``OUTSIDE``), matched by
    message and URL, and Notebook 7's start-up error ``NOTEBOOK7_SHORTCUTS_ERROR``.
    """

    errors: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", self._on_pageerror)

    def _on_pageerror(self, error: Error) -> None:
        frames = [line.strip() for line in (error.stack or "").splitlines()[1:] if line.strip()]
        if error.message == NOTEBOOK7_SHORTCUTS_ERROR and frames and NOTEBOOK7_CORE in frames[0]:
            self.ignored.append(f"pageerror: {error.message} ({frames[0]})")
        else:
            self.errors.append(f"pageerror: {error.message}\n{error.stack}")

    def block(self, route: Route) -> None:
        self.blocked.append(route.request.url)
        route.abort("blockedbyclient")

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if msg.text == BLOCKED_MESSAGE and url in self.blocked:
            self.ignored.append(f"{msg.text} ({url})")
        else:
            self.errors.append(f"{msg.text} ({url})" if url else msg.text)


def new_page(browser: Browser, console: ConsoleLog) -> tuple[BrowserContext, Page]:
    """A fresh context and page: non-loopback requests blocked, console errors in ``console``."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    context.route(OUTSIDE, console.block)
    page = context.new_page()
    console.attach(page)
    return context, page


def accept_kernel_dialog(page: Page, timeout_ms: int = 5000) -> None:
    """Accept JupyterLab's "Select Kernel" dialog if it shows up (it does when metadata is bare)."""
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        dialog.wait_for(state="visible", timeout=timeout_ms)
    except PlaywrightTimeout:  # the dialog is optional
        return
    dialog.click()


# Where a notebook opens in each front end. ?reset: JupyterLab starts from an empty workspace,
# never reopening notebooks of an earlier session; Notebook 7 opens one document per page anyway.
NOTEBOOK_URLS = {"lab": "{base}/lab/tree/{name}?reset", "notebook7": "{base}/notebooks/{name}"}


def open_notebook(page: Page, base_url: str, name: str, front_end: str = "lab") -> None:
    """Open ``name`` in JupyterLab or Notebook 7 and wait until its kernel is idle.

    Both front ends are built from JupyterLab's components: the notebook panel, the "Select
    Kernel" dialog, the Run menu and ``window.jupyterapp`` are the same, so every helper here
    serves both; only the URL differs.
    """
    url = NOTEBOOK_URLS[front_end].format(base=base_url, name=name)
    page.goto(url, wait_until="domcontentloaded")
    notebook(page).wait_for(state="visible", timeout=60_000)
    accept_kernel_dialog(page)
    wait_kernel_idle(page, timeout_s=60)


def notebook(page: Page) -> Locator:
    """The notebook panel on screen (other, hidden panels are ignored)."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first


def _kernel_status(page: Page) -> str:
    return page.evaluate(
        """() => {
          const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
          const k = w && w.sessionContext && w.sessionContext.session
                    && w.sessionContext.session.kernel;
          return k ? k.status : 'none';
        }"""
    )


# Runs one expression in the notebook's kernel, the way the front end itself does (an
# execute_request with user_expressions, silent: no prompt number, no output in the notebook).
_KERNEL_EVAL_JS = """async (expr) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute(
    {code: '', silent: true, store_history: false, user_expressions: {out: expr}});
  const reply = await future.done;
  return reply.content.user_expressions.out;
}"""


def kernel_eval(page: Page, expression: str) -> str:
    """``repr`` of ``expression`` evaluated in the kernel of the notebook on screen.

    Raises AssertionError with the kernel's traceback when the expression fails.
    """
    result = page.evaluate(_KERNEL_EVAL_JS, expression)
    if result.get("status") != "ok":
        raise AssertionError(f"kernel could not evaluate {expression!r}: {result}")
    return result["data"]["text/plain"]


def wait_kernel_idle(page: Page, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _kernel_status(page) == "idle":
            return
        page.wait_for_timeout(250)
    raise TimeoutError(f"kernel not idle after {timeout_s}s (status {_kernel_status(page)!r})")


def run_all_cells(page: Page, timeout_s: float = 300) -> None:
    """Run > Run All Cells from the menu bar, then wait for every code cell to finish.

    Raises AssertionError with the traceback text when a cell ends in an error.
    """
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = notebook(page).evaluate(
            """nb => {
              const p = [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .map(e => e.textContent.trim());
              const err = [...nb.querySelectorAll(
                '[data-mime-type="application/vnd.jupyter.error"]')].map(e => e.innerText);
              return {pending: p.filter(t => !/^\\[\\d+\\]:$/.test(t)).length, n: p.length, err};
            }"""
        )
        if state["err"]:
            raise AssertionError("a notebook cell failed:\n" + "\n".join(state["err"])[-3000:])
        if state["n"] and not state["pending"] and _kernel_status(page) == "idle":
            return
        page.wait_for_timeout(500)
    raise TimeoutError(f"cells still running after {timeout_s}s: {state}")


def image_fingerprint(img: Locator, timeout_s: float = 30) -> dict:
    """Natural size, pixel hash and value range of a displayed image, once it has loaded."""
    deadline = time.monotonic() + timeout_s
    while True:
        shot = img.evaluate(_IMAGE_FINGERPRINT_JS)
        if shot["w"] > 0 or time.monotonic() > deadline:
            return shot
        img.page.wait_for_timeout(100)


def wait_image_change(img: Locator, before: dict, timeout_s: float = 30) -> dict:
    """Poll until the image's pixels differ from ``before``; return the new fingerprint."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = image_fingerprint(img)
        if now["w"] > 0 and (now["hash"], now["w"], now["h"]) != (
            before["hash"],
            before["w"],
            before["h"],
        ):
            return now
        img.page.wait_for_timeout(100)
    raise AssertionError(f"image did not change within {timeout_s}s (still {before})")


def control(root: Locator, kind: str, label: str | re.Pattern) -> Locator:
    """The ipywidget of ``kind`` (``dropdown``, ``slider``, ...) whose description matches ``label``."""
    pattern = (
        label
        if isinstance(label, re.Pattern)
        else re.compile(rf"^\s*{re.escape(label)}\s*:?\s*$", re.I)
    )
    return (
        root.locator(f".widget-{kind}")
        .filter(has=root.page.locator("label", has_text=pattern))
        .first
    )


def select_next(select: Locator) -> str:
    """Choose the option after the current one (wrapping); return its value."""
    values = select.evaluate("s => [...s.options].map(o => o.value)")
    current = select.input_value()
    nxt = values[(values.index(current) + 1) % len(values)]
    select.select_option(nxt)
    return nxt


def slider_step(slider: Locator, key: str = "ArrowRight", times: int = 1) -> None:
    """Move a noUiSlider with the keyboard: focus its handle and press ``key``.

    JupyterLab and Voila only: in Notebook 7 (7.6) the notebook's command-mode shortcuts take
    ArrowLeft/ArrowRight (``notebook:move-cursor-heading-*``) before the slider sees them and move
    the focus to a cell; drag with ``slider_drag`` there, as a user would.
    """
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(times):
        handle.press(key)


def slider_drag(slider: Locator, fraction: float) -> None:
    """Drag a noUiSlider's handle with the mouse by ``fraction`` of its track (negative: left)."""
    track = slider.locator(".noUi-base").first.bounding_box()
    handle = slider.locator(".noUi-handle").first.bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    mouse = slider.page.mouse
    mouse.move(x, y)
    mouse.down()
    mouse.move(x + fraction * track["width"], y, steps=5)
    mouse.up()


def open_tab(root: Locator, title: str) -> None:
    """Click the Lumino tab whose label is ``title``."""
    root.locator(
        ".lm-TabBar-tab", has_text=re.compile(rf"^\s*{re.escape(title)}\s*$")
    ).first.click()


def visible_panel(root: Locator) -> Locator:
    """The content of the tab that is showing (Lumino hides the others with lm-mod-hidden)."""
    return root.locator(".widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)").first


def shown_image(panel: Locator) -> Locator:
    """The first displayed <img> of a panel (ipywidgets hides an empty Image with display:none)."""
    return panel.locator("img:visible").first


def progress_fraction(progress: Locator) -> float:
    """How full an ipywidgets progress bar is (0..1): the bar's target width, not its animation."""
    return progress.evaluate(
        """p => {
          const bar = p.querySelector('.progress-bar');
          if (bar.style.width.endsWith('%')) { return parseFloat(bar.style.width) / 100; }
          const box = p.querySelector('.progress') || p;
          const total = box.getBoundingClientRect().width;
          return total ? bar.getBoundingClientRect().width / total : 0;
        }"""
    )


def record_progress(progress: Locator) -> None:
    """Start logging every width the bar is given into ``window.__progress`` (no polling gaps)."""
    progress.evaluate(
        """p => {
          const bar = p.querySelector('.progress-bar');
          window.__progress = [];
          new MutationObserver(() => window.__progress.push(parseFloat(bar.style.width) / 100))
            .observe(bar, {attributes: true, attributeFilter: ['style']});
        }"""
    )


def recorded_progress(page: Page) -> list[float]:
    return page.evaluate("() => window.__progress || []")


# Clipped pixels (any of R, G, B at 0 or 255) in the left square of an image: the optimized
# picture of the Maximize tab (the first convolution's kernels may stand to its right).
_CLIPPED_JS = """async (img) => {
  await img.decode();
  const side = Math.min(img.naturalWidth, img.naturalHeight);
  const c = document.createElement('canvas');
  c.width = side; c.height = side;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(img, 0, 0, side, side, 0, 0, side, side);
  const d = ctx.getImageData(0, 0, side, side).data;
  let clipped = 0;
  for (let i = 0; i < d.length; i += 4) {
    for (let k = 0; k < 3; k++) {
      if (d[i + k] === 0 || d[i + k] === 255) { clipped++; break; }
    }
  }
  return {side: side, w: img.naturalWidth, h: img.naturalHeight, fraction: clipped / (side * side)};
}"""


def clipped_fraction(img: Locator) -> dict:
    """``{"fraction", "side", "w", "h"}``: clipped pixels in the image's left square."""
    return img.evaluate(_CLIPPED_JS)


def run_maximize_with_defaults(root: Locator, timeout_ms: int = 180_000) -> tuple[str, dict]:
    """Open Maximize, press Run as it stands, wait for "done: ..."; (status text, clipped)."""
    open_tab(root, "Maximize")
    panel = visible_panel(root)
    ready = panel.get_by_text(re.compile(r"^press Run to maximize "))
    ready.wait_for(timeout=60_000)
    before = panel.inner_text()
    panel.get_by_role("button", name="Run").click()
    done = panel.get_by_text(re.compile(r"^done: "))
    done.wait_for(timeout=timeout_ms)
    img = shown_image(panel)
    img.wait_for(state="visible")
    return before + "\n" + done.inner_text(), clipped_fraction(img)
