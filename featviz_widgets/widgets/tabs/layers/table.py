"""LayerTable: the Layers tab's table as an anywidget, whose rows are clicked to select a layer.

Python sends the rows as data (``rows``: one ``[key, cell, cell, ...]`` list per row) and the
current layer (``selected``); the ESM (``_static/table.js``, plain JS shipped in the package: no
build step) builds the table once per ``rows`` change and, on a layer change, only moves the
highlight, so a model with hundreds of layers stays quick. A click on a row sends
``{"event": "pick", "key": ...}``; the handler set with :meth:`LayerTable.on_pick` gets the key.

DOM contract (browser tests rely on it): ``table.featviz-layers-table``; one ``tr[data-key]`` per
row with a capture key (a module that did not run has none, and takes no click); the current
layer's row has class ``fvz-on``; clickable rows show a pointer cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import traitlets

from featviz_widgets.widgets._rows import PickableRows

_STATIC = Path(__file__).parents[2] / "_static"  # featviz_widgets/widgets/_static


class LayerTable(PickableRows):
    """A table of layers (``header``, ``rows``), the ``selected`` key highlighted, rows clickable.

    Examples
    --------
    >>> table = LayerTable(header=["layer", "type"], rows=[["conv1", "conv1", "Conv2d"]])
    >>> table.on_pick(print)  # a click on the row prints "conv1"
    """

    _esm = (_STATIC / "table.js").read_text(encoding="utf-8")  # text, not a path: see _picture
    header = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows = traitlets.List(traitlets.List()).tag(sync=True)  # [key or "", *cells] per row
    selected = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("featviz-layers")

    def show(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Replace the table (the browser rebuilds it once): ``rows`` are ``[key or "", *cells]``."""
        with self.hold_sync():
            self.header = [str(h) for h in header]
            self.rows = [[str(cell) for cell in row] for row in rows]

    def row_keys(self) -> list[str]:
        """The keys of the clickable rows, in table order."""
        return [row[0] for row in self.rows if row and row[0]]
