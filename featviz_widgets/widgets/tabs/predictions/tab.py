"""Predictions tab: the top-5 classes of a classifier, or a detector's boxes or a segmenter's mask
drawn on the photo (``picture``), with a table beside."""

from __future__ import annotations

import html

import ipywidgets as w
import numpy as np

from featviz_widgets import render
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.tabs._base import Selection, Tab, TabContext, image_widget, note
from featviz_widgets.widgets.tabs._base import caption as caption_html
from featviz_widgets.widgets.tabs.predictions.picture import PredictionPicture, prediction_picture
from featviz_widgets.widgets.tabs.predictions.rows import ClickableHTML

TOP = 5
# One scoped style block instead of inline styles on every cell keeps the table's HTML small.
_STYLE = (
    "<style>.fvz-table{border-collapse:collapse;font-family:monospace;font-size:12px}"
    ".fvz-table th,.fvz-table td{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}"
    ".fvz-bar{background:#4c78a8;height:10px}</style>"
)


def _table(header: list[str], rows: list[list[str]], picks: list[int] | None = None) -> str:
    """The table's HTML; row ``i`` carries ``data-pick="<picks[i]>"`` (a click explains it)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    marks = [f" data-pick='{key}'" for key in picks] if picks else [""] * len(rows)
    body = "".join(
        f"<tr{mark}>{''.join(f'<td>{cell}</td>' for cell in row)}</tr>"
        for mark, row in zip(marks, rows, strict=True)
    )
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
    beside it (``picture``).

    A click on a class row sets the explorer's ``target_class`` and opens the Attribution tab
    (``html`` is a :class:`~featviz_widgets.widgets.tabs.predictions.rows.ClickableHTML`).
    """

    name = "predictions"
    title = "Predictions"
    order = 60

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self.html = ClickableHTML(tip=ctx.text("pred_click_tip"))
        self.html.on_pick(self._pick)
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
        rows, picks = [], []
        for index, name, prob in top:
            picks.append(index)
            bar = f"<div class='fvz-bar' style='width:{max(1, round(prob * 200))}px'></div>"
            rows.append([html.escape(name), f"{100 * prob:.1f}%", bar, str(index)])
        names = "" if data.categories is not None else note(say("no_class_names"))
        header = [say("col_class"), say("col_probability"), "", say("col_index")]
        self.html.value = _table(header, rows, picks) + names

    def _pick(self, key: str) -> None:
        """A class row was clicked: explain that class (the Attribution tab)."""
        if self.ctx.select is not None:
            self.ctx.select(target_class=int(key), tab="attribution")

    def close(self) -> None:
        self.html.on_pick(None)  # a late click must not reach a closed explorer
        super().close()

    def _draw_picture(self, shown: PredictionPicture) -> None:
        """Boxes or a mask on the photo (no text in it), the table of colours and classes beside."""
        self.image.value = render.to_png(shown.picture)
        self.caption.value = caption_html(shown.caption)
        named = self.ctx.data.categories is not None
        names = "" if named else note(self.ctx.text("no_class_names"))
        self.html.value = _table(shown.header, shown.rows) + names
