"""Predictions tab (top-5 classes) and Layers tab (every layer with type, shape and parameters)."""

from __future__ import annotations

import html

import ipywidgets as w
import numpy as np

from featviz_widgets._text import shape_label
from featviz_widgets.engine import base_name
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.tabs._base import Selection, Tab, TabContext, note

TOP = 5
# One scoped style block instead of inline styles on every cell: the Layers table of a big model
# has hundreds of rows, and this keeps its HTML small.
_STYLE = (
    "<style>.fvz-table{border-collapse:collapse;font-family:monospace;font-size:12px}"
    ".fvz-table th,.fvz-table td{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}"
    ".fvz-table tr.fvz-on{background:#fff3c4}.fvz-bar{background:#4c78a8;height:10px}</style>"
)


def _table(header: list[str], rows: list[list[str]], highlight: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        mark = " class='fvz-on'" if i == highlight else ""
        body.append(f"<tr{mark}>{''.join(f'<td>{cell}</td>' for cell in row)}</tr>")
    return f"{_STYLE}<table class='fvz-table'><tr>{head}</tr>{''.join(body)}</table>"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - np.max(logits))
    return shifted / shifted.sum()


def top_predictions(data: ExplorerData, k: int = TOP) -> list[tuple[int, str, float]]:
    """(class index, name, probability) for the k most likely classes; empty when no class vector."""
    logits = data.class_vector()
    if logits is None:
        return []
    probs = softmax(logits)
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), data.class_name(int(i)), float(probs[i])) for i in order]


class PredictionsTab(Tab):
    """Top-5 classes with probabilities, when the model's output is a class-score vector."""

    name = "predictions"
    title = "Predictions"

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self.html = w.HTML()
        self.widget = w.VBox([self.html])

    def key(self, sel: Selection) -> int:
        return sel.image_id

    def draw(self, sel: Selection) -> None:
        data = self.ctx.data
        top = top_predictions(data)
        if not top:
            shape = getattr(data.output, "shape", None)
            what = f"shape {tuple(shape)}" if shape is not None else type(data.output).__name__
            self.html.value = note(f"The model's output ({what}) is not a class-score vector.")
            return
        rows = []
        for index, name, prob in top:
            bar = f"<div class='fvz-bar' style='width:{max(1, round(prob * 200))}px'></div>"
            rows.append([html.escape(name), f"{100 * prob:.1f}%", bar, str(index)])
        names = (
            "" if data.categories is not None else note("no class names: pass weights= or labels=")
        )
        self.html.value = _table(["class", "probability", "", "index"], rows) + names


class LayersTab(Tab):
    """Every layer in execution order with type, output shape and parameter count."""

    name = "layers"
    title = "Layers"

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self.html = w.HTML()
        self.widget = w.VBox([self.html])

    def key(self, sel: Selection) -> tuple[str, int]:
        return (sel.layer, sel.image_id)

    def draw(self, sel: Selection) -> None:
        data = self.ctx.data
        rows, highlight = [], None
        seen = set()
        for key, shape in data.shapes.items():  # shapes from the survey: nothing captured
            info = data.infos.get(base_name(key))
            seen.add(base_name(key))
            if key == sel.layer:
                highlight = len(rows)
            kind, params = (info.type, info.num_params) if info else ("", 0)
            rows.append(_row(key, kind, shape_label(shape[1:]), params))
        missing = "not captured (layers=)" if data.restrict else "did not run"
        for name, info in data.infos.items():
            if name not in seen:
                rows.append(_row(name, info.type, missing, info.num_params))
        total = sum(p.numel() for p in data.model.parameters())
        title = f"<b>{len(rows)} layers · {total:,} parameters</b>"
        table = _table(["layer", "type", "output", "params"], rows, highlight)
        self.html.value = f"{title}<div style='max-height:520px;overflow:auto'>{table}</div>"


def _row(name: str, kind: str, shape: str, params: int) -> list[str]:
    return [html.escape(name), html.escape(kind), html.escape(shape), f"{params:,}"]
