"""Predictions tab (top-5 classes) and Layers tab (every layer with type, shape and parameters)."""

from __future__ import annotations

import html

import ipywidgets as w
import numpy as np

from featviz_widgets import render
from featviz_widgets._text import shape_label
from featviz_widgets.engine import base_name
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._prediction_parts import PredictionPicture, prediction_picture
from featviz_widgets.widgets._table import LayerTable
from featviz_widgets.widgets.tabs._base import Selection, Tab, TabContext, image_widget, note
from featviz_widgets.widgets.tabs._base import caption as caption_html

TOP = 5
# One scoped style block instead of inline styles on every cell keeps the table's HTML small.
# (The Layers table, hundreds of rows on a big model, is a LayerTable built in the browser.)
_STYLE = (
    "<style>.fvz-table{border-collapse:collapse;font-family:monospace;font-size:12px}"
    ".fvz-table th,.fvz-table td{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}"
    ".fvz-bar{background:#4c78a8;height:10px}</style>"
)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(f"<tr>{''.join(f'<td>{cell}</td>' for cell in row)}</tr>" for row in rows)
    return f"{_STYLE}<table class='fvz-table'><tr>{head}</tr>{body}</table>"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - np.max(logits))
    return shifted / shifted.sum()


def top_predictions(
    data: ExplorerData, k: int = TOP, lang: str = "en"
) -> list[tuple[int, str, float]]:
    """(class index, name, probability) for the k most likely classes; empty when no class vector."""
    logits = data.class_vector()
    if logits is None:
        return []
    probs = softmax(logits)
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), data.class_name(int(i), lang), float(probs[i])) for i in order]


class PredictionsTab(Tab):
    """Top-5 classes with probabilities, when the model's output is a class-score vector; the best
    boxes (detection) or the class of every pixel (segmentation) drawn on the photo, with a table
    beside it (``_prediction_parts``)."""

    name = "predictions"
    title = "Predictions"

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self.html = w.HTML()
        self.image = image_widget(ctx.lang)
        self.image.layout.display = "none"
        self.caption = w.HTML()
        self.shown: PredictionPicture | None = None  # the boxes or mask on show, else None
        self.widget = w.VBox([self.caption, w.HBox([self.image, self.html])])

    def key(self, sel: Selection) -> int:
        return sel.image_id

    def draw(self, sel: Selection) -> None:
        data, say = self.ctx.data, self.ctx.text
        self.shown = prediction_picture(data, say, self.ctx.lang)
        self.image.layout.display = "none" if self.shown is None else None
        self.caption.value = ""
        if self.shown is not None:
            self._draw_picture(self.shown)
            return
        top = top_predictions(data, lang=self.ctx.lang)
        if not top:
            shape = getattr(data.output, "shape", None)
            what = (
                say("output_shape", shape=tuple(shape))
                if shape is not None
                else type(data.output).__name__
            )
            self.html.value = note(say("not_class_vector", what=what))
            return
        rows = []
        for index, name, prob in top:
            bar = f"<div class='fvz-bar' style='width:{max(1, round(prob * 200))}px'></div>"
            rows.append([html.escape(name), f"{100 * prob:.1f}%", bar, str(index)])
        names = "" if data.categories is not None else note(say("no_class_names"))
        header = [say("col_class"), say("col_probability"), "", say("col_index")]
        self.html.value = _table(header, rows) + names

    def _draw_picture(self, shown: PredictionPicture) -> None:
        """Boxes or a mask on the photo (no text in it), the table of colours and classes beside."""
        self.image.value = render.to_png(shown.picture)
        self.caption.value = caption_html(shown.caption)
        named = self.ctx.data.categories is not None
        names = "" if named else note(self.ctx.text("no_class_names"))
        self.html.value = _table(shown.header, shown.rows) + names


class LayersTab(Tab):
    """Every layer in execution order with type, output shape and parameters; a row click selects.

    The table is a :class:`~featviz_widgets.widgets._table.LayerTable`: its rows are sent once per
    image, and a layer change only moves the highlight. A click on a row goes through
    ``ctx.select(layer=key)``, exactly as ``ex.layer = key`` (a layer the current filter does not
    list switches the filter).
    """

    name = "layers"
    title = "Layers"

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
