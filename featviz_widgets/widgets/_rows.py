"""PickableRows: what every table with clickable rows shares (the Layers table, Predictions rows).

The browser side (each table's own ESM) sends ``{"event": "pick", "key": ...}`` when a row is
clicked; Python passes the key to the handler set with :meth:`PickableRows.on_pick`, only when the
table offers that key now (:meth:`row_keys`), so a stale or forged message does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets


class PickableRows(anywidget.AnyWidget):
    """An anywidget table whose rows are picked by a click; subclasses say which keys it offers."""

    tip = traitlets.Unicode("").tag(sync=True)  # the tooltip of a clickable row

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handler: Callable[[str], None] | None = None
        self.on_msg(self._on_message)

    def row_keys(self) -> list[str]:
        """The keys of the clickable rows, in table order."""
        raise NotImplementedError

    def on_pick(self, handler: Callable[[str], None] | None) -> None:
        """Call ``handler(key)`` when a row is clicked (None: clicks do nothing)."""
        self._handler = handler

    def _on_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("event") != "pick":
            return
        key = content.get("key")
        if isinstance(key, str) and self._handler is not None and key in self.row_keys():
            self._handler(key)
