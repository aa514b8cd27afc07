"""ClickableHTML: the Predictions table as an anywidget whose class rows take a click.

Python builds the table's HTML (``value``, every text escaped) and marks each clickable row with
``data-pick="<key>"``; the ESM (``rows.js``, plain JS next to this module: no build step) shows
it and sends ``{"event": "pick", "key": ...}`` when such a row is clicked. The handler set with
:meth:`ClickableHTML.on_pick` gets the key, only when the table offers it.
"""

from __future__ import annotations

import re
from pathlib import Path

import traitlets

from featviz_widgets.widgets._rows import PickableRows

_ESM = Path(__file__).with_name("rows.js")
_PICK = re.compile(r"data-pick=['\"]([^'\"]*)['\"]")


class ClickableHTML(PickableRows):
    """HTML (``value``) whose ``tr[data-pick]`` rows are clickable (``tip``: their tooltip).

    Examples
    --------
    >>> table = ClickableHTML(value="<table><tr data-pick='7'><td>tabby</td></tr></table>")
    >>> table.on_pick(print)  # a click on the row prints "7"
    """

    _esm = _ESM.read_text(encoding="utf-8")  # text, not a path: see widgets._picture
    value = traitlets.Unicode("").tag(sync=True)

    def row_keys(self) -> list[str]:
        """The keys of the clickable rows, in table order."""
        return _PICK.findall(self.value)
