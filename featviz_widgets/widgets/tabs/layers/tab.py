"""Layers tab: every layer in execution order with type, output shape and parameters."""

from __future__ import annotations

import html

import ipywidgets as w

from featviz_widgets._text import shape_label
from featviz_widgets.engine import base_name
from featviz_widgets.widgets.tabs._base import Selection, Tab, TabContext
from featviz_widgets.widgets.tabs.layers.table import LayerTable


class LayersTab(Tab):
    """Every layer in execution order with type, output shape and parameters; a row click selects.

    The table is a :class:`~featviz_widgets.widgets.tabs.layers.table.LayerTable`: its rows are sent once per
    image, and a layer change only moves the highlight. A click on a row goes through
    ``ctx.select(layer=key)``, exactly as ``ex.layer = key`` (a layer the current filter does not
    list switches the filter).
    """

    name = "layers"
    title = "Layers"
    order = 70

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self.total = w.HTML()
        self.table = LayerTable(tip=ctx.text("layers_click_tip"))
        self.table.on_pick(self._pick)
        self.widget = w.VBox([self.total, self.table])
        self._rows_of: int | None = None  # the image_id the rows were built for

    def key(self, sel: Selection) -> tuple[str, int]:
        return (sel.layer, sel.image_id)

    def draw(self, sel: Selection) -> None:
        if self._rows_of != sel.image_id:  # shapes come with the image: rows once per image
            self._rows_of = None
            self._fill()
            self._rows_of = sel.image_id
        self.table.selected = sel.layer

    def _fill(self) -> None:
        data, say = self.ctx.data, self.ctx.text
        rows, seen = [], set()
        for key, shape in data.shapes.items():  # shapes from the survey: nothing captured
            info = data.infos.get(base_name(key))
            seen.add(base_name(key))
            kind, params = (info.type, info.num_params) if info else ("", 0)
            rows.append([key, *_row(key, kind, shape_label(shape[1:]), params)])
        missing = say("not_captured") if data.restrict else say("did_not_run")
        for name, info in data.infos.items():
            if name not in seen:  # not a capture key: the row takes no click
                rows.append(["", *_row(name, info.type, missing, info.num_params)])
        total = sum(p.numel() for p in data.model.parameters())
        title = say("layers_total", layers=len(rows), params=total)
        self.total.value = f"<b>{html.escape(title)}</b>"
        header = [say("col_layer"), say("col_type"), say("col_output"), say("col_params")]
        self.table.show(header, rows)

    def _pick(self, key: str) -> None:
        if self.ctx.select is not None:
            self.ctx.select(layer=key)

    def close(self) -> None:
        self.table.on_pick(None)  # a late click must not reach a closed explorer
        super().close()


def _row(name: str, kind: str, shape: str, params: int) -> list[str]:
    """Plain text cells (the table's JS sets them as text, so nothing needs escaping)."""
    return [name, kind, shape, f"{params:,}"]
