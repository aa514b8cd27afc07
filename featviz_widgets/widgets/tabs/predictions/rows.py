"""ClickableHTML: the Predictions table as an anywidget whose class rows take a click.

Python builds the table's HTML (``value``, every text escaped) and marks each clickable row with
``data-pick="<key>"``; the ESM (``rows.js``, plain JS next to this module: no build step) shows
it and sends ``{"event": "pick", "key": ...}`` when such a row is clicked. The handler set with
:meth:`ClickableHTML.on_pick` gets the key, only when the table offers it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

_ESM = Path(__file__).with_name("rows.js")
_PICK = re.compile(r"data-pick=['\"]([^'\"]*)['\"]")


class ClickableHTML(anywidget.AnyWidget):
    """HTML (``value``) whose ``tr[data-pick]`` rows are clickable (``tip``: their tooltip).

    Examples
    --------
    >>> table = ClickableHTML(value="<table><tr data-pick='7'><td>tabby</td></tr></table>")
    >>> table.on_pick(print)  # a click on the row prints "7"
    """

    _esm = _ESM.read_text(encoding="utf-8")  # text, not a path: see widgets._picture
    value = traitlets.Unicode("").tag(sync=True)
    tip = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handler: Callable[[str], None] | None = None
        self.on_msg(self._on_message)

    def row_keys(self) -> list[str]:
        """The keys of the clickable rows, in table order."""
        return _PICK.findall(self.value)

    def on_pick(self, handler: Callable[[str], None] | None) -> None:
        """Call ``handler(key)`` when a row is clicked (None: clicks do nothing)."""
        self._handler = handler

    def _on_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("event") != "pick":
            return
        key = content.get("key")
        if isinstance(key, str) and self._handler is not None and key in self.row_keys():
            self._handler(key)
