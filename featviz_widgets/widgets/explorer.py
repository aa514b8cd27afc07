"""LayerExplorer: one notebook cell that shows what a CNN sees, built from stock ipywidgets.

The constructor surveys every layer's shape in one forward, captures only the layer it shows
first (a stop-early forward) and builds the controls and the tabs (from the ``tabs.TABS``
registry). Every control change goes through ``_render``, which redraws only the visible tab and
only if its inputs changed. A layer's activations are captured the first time it is shown and
kept under the process-wide memory budget; one that was evicted is captured again when shown.
Errors (including "Maximize is running" when a job holds the model) are shown in the widget and
raised.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as w
import torch
from torch import nn

from featviz_widgets._text import did_you_mean
from featviz_widgets.widgets._controls import ControlPanel, widget_tree
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._mirror import ControlMirror
from featviz_widgets.widgets._options import (
    GRID,
    channel_error,
    channel_options,
    layer_label,
    page_count,
    page_size,
)
from featviz_widgets.widgets.tabs import MaximizeTab, Selection, Tab, TabContext, build_tabs


class LayerExplorer(ControlMirror, ControlPanel, w.VBox):
    """Explore a model's layers on one image: feature maps, overlay, kernels, maximize, predictions.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model. It is never modified: hooks are removed and modes restored after each
        capture, and it is not moved (its parameters' device is used).
    img : Any
        A PIL image, path, NumPy array or tensor (see :func:`featviz_widgets.inputs.load_image`).
    weights : torchvision WeightsEnum, transformers image processor or timm data config, optional
        Gives the preprocessing (``weights.transforms()``; the processor's or config's size,
        mean and std) and, for torchvision, the class names.
    labels : sequence of str, optional
        Class names for the Predictions tab (override ``weights`` and the model's own
        ``config.id2label``).
    layers : sequence of str, optional
        List and capture only these module names.
    device : str or torch.device, optional
        Must match the model's device when given (the explorer never moves a model).
    size : int, optional
        Input resolution when ``weights`` is not given (resize, then centre-crop ``size``);
        default: the size the model declares (a ViT's ``image_size``, ``config.image_size``,
        timm's ``img_size``), else 224.
    dataset : optional
        Images to find each channel's top examples in (the Examples tab): a folder, a list of
        paths or images, a Dataset, or an iterable (read into memory once), as ``images`` in
        :func:`featviz_widgets.examples.top_examples`. Results are cached on disk under
        ``platformdirs.user_cache_dir("featviz_widgets")`` (``$FEATVIZ_CACHE_DIR`` overrides).
    preprocess : callable, optional
        A Keras-style preprocessing function of a ``[1, H, W, C]`` array of 0..255 pixels
        (``keras.applications.resnet.preprocess_input``), instead of a normalization. A Keras
        model without it gets pixels scaled to [0, 1] (said in the caption).

    Notes
    -----
    Activations are kept under one memory budget shared by every explorer in the process
    (``featviz_widgets.engine.set_memory_budget``, default 512 MiB); a layer evicted from it is
    captured again (one forward that stops after it) when it is shown again.

    Examples
    --------
    >>> ex = LayerExplorer(torchvision.models.resnet18(), "cat.jpg")  # doctest: +SKIP
    >>> ex.layer = "layer2.0.conv1"; ex.channel = 5; ex.columns = 16  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        img: Any,
        *,
        weights: Any = None,
        labels: Sequence[str] | None = None,
        layers: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        size: int | None = None,
        dataset: Any = None,
        preprocess: Any = None,
    ) -> None:
        super().__init__()
        self._dataset = dataset
        try:
            self._data = ExplorerData(
                model,
                img,
                weights=weights,
                labels=labels,
                layers=layers,
                device=device,
                size=size,
                preprocess=preprocess,
            )
            self._build()
        except BaseException:
            self.close()  # a half-built widget would stay registered (and open) forever
            raise

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self._hold = 0
        self._syncing = False
        self._keys: list[str] = []
        self._image_id = 0
        self._error: str | None = None
        self._build_controls()
        self._build_tabs()
        self.children = [self._control_box(), self._message, self._tab]
        with self._batch():
            self._fill_layers(self._default_filter())
        self.add_class("featviz-explorer")

    def _build_tabs(self) -> None:
        ctx = TabContext(self._data, self._selection, self._render, dataset=self._dataset,
                         listed=lambda: list(self._keys), select=self._select)  # fmt: skip
        self._tabs = build_tabs(ctx)
        tabs = list(self._tabs.values())
        self._tab = w.Tab(children=[t.widget for t in tabs], titles=[t.title for t in tabs])
        self._tab.observe(lambda _: self._render(), "selected_index")
        self._tab.add_class("featviz-tabs")
        for tab in tabs:
            tab.widget.add_class(f"featviz-tab-{tab.title.lower().replace(' ', '-')}")

    def _default_filter(self) -> str:
        return "conv" if self._data.module_keys(convs_only=True) else "all"

    # -- the one render path ---------------------------------------------------------------
    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Update several controls, then render once (never once per control)."""
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
        self._render()

    def _selection(self) -> Selection:
        return Selection(
            layer=self._layer.value,
            channel=self._channel.value,
            columns=int(self._columns.value),
            page=int(self._page.value) - 1,
            page_size=page_size(self._data.view(self._layer.value)),
            normalization=self._norm.value,
            colormap=self._cmap.value,
            order=self._order.value,
            image_id=self._image_id,
        )

    def _select(self, **changes: Any) -> None:
        """Move the selection as the controls would (``layer`` first, then the rest, one render)."""
        with self._batch():
            if "layer" in changes:
                self.layer = changes.pop("layer")
            for name, value in changes.items():
                setattr(self, name, value)

    def _visible_tab(self) -> Tab:
        return list(self._tabs.values())[self._tab.selected_index or 0]

    def _render(self) -> None:
        """Redraw the visible tab; show and raise any error."""
        if self._hold or self._layer.value is None:
            return
        with self._showing_errors():
            self._visible_tab().update(self._selection())
        self._clear_error()

    @contextmanager
    def _showing_errors(self) -> Iterator[None]:
        """Show an error of the block in the widget, then let it propagate to the caller."""
        try:
            yield
        except Exception as error:
            self._show_error(error)
            raise

    def _show_error(self, error: BaseException) -> None:
        self._error = f"{type(error).__name__}: {error}"
        self._message.value = (
            "<div style='color:#b00020;border-left:3px solid #b00020;padding:4px 8px'>"
            f"{html.escape(self._error)}</div>"
        )

    def _clear_error(self) -> None:
        self._error = None
        self._message.value = ""

    def _check(self, error: Exception | None) -> None:
        """Fail with ``error`` unless it is None (the validators return, never raise)."""
        if error is not None:
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        """Show a programmatic-call error in the widget, then raise it."""
        self._show_error(error)
        raise error

    # -- observers -------------------------------------------------------------------------
    def _on_filter(self, change: dict) -> None:
        if not self._syncing:
            self._fill_layers(change["new"], previous=change["old"])

    def _on_layer(self, change: dict) -> None:
        if change["new"] is not None and not self._syncing:
            for tab in self._tabs.values():
                tab.layer_picked(change["new"])
            with self._batch():
                self._fill_channels(previous=change["old"])

    def _on_order(self, change: dict) -> None:
        with self._batch():
            self._fill_channels()

    def _on_view(self, change: dict) -> None:
        self._render()

    def _on_export(self, _: Any) -> None:
        png = self._visible_png()
        name = f"{self.layer.replace('/', '_')}_{self._channel_slug()}.png"
        link = base64.b64encode(png).decode("ascii")
        self._download.value = (
            f"<a download='{html.escape(name)}' href='data:image/png;base64,{link}'>"
            f"download {html.escape(name)}</a>"
        )

    # -- option lists ----------------------------------------------------------------------
    def _keys_for(self, kind: str) -> list[str]:
        data = self._data
        if kind == "nodes":
            return data.load_nodes()
        return data.module_keys(convs_only=kind == "conv")

    def _fill_layers(self, kind: str, previous: str | None = None) -> None:
        """List the layers of one filter, keeping the current layer when it is listed.

        The layer to show is captured before any control moves, so a failure (an untraceable
        model, a busy model) leaves the explorer as it was.
        """
        current = self._layer.value
        try:
            keys = self._keys_for(kind)
            if not keys:
                raise ValueError(f"no layers to list under {kind!r}")
            layer = current if current in keys else keys[0]
            self._data.stats(layer)
        except Exception as error:
            if previous is not None:
                self._set_quietly(self._filter, previous)
            self._fail(error)
        with self._batch():
            self._set_quietly(self._filter, kind)
            self._keys = keys
            options = [(layer_label(k, self._data.shape(k)), k) for k in keys]
            self._set_quietly(self._layer, layer, options=options)
            self._fill_channels()

    def _set_quietly(self, control: w.ValueWidget, value: Any, options: Any = None) -> None:
        """Move a control (and its options) without re-entering its observer."""
        self._syncing = True
        try:
            if options is not None:
                control.options = options
            control.value = value
        finally:
            self._syncing = False

    def _fill_channels(self, previous: str | None = None) -> None:
        """Channel options for the current layer in the chosen order; keep the choice if valid.

        ``previous`` is the layer shown before: when the new one cannot be captured (the model
        is busy), the dropdown goes back to it and the error is shown and raised.
        """
        layer = self._layer.value
        try:
            # A layer change that needs a forward also keeps the other listed layers (budget
            # permitting), so the next changes draw from memory.
            entry = self._data.entries([layer], prefetch=self._keys)[layer]
            view, stats = entry.view, entry.stats
        except Exception as error:
            if previous is not None and previous in self._keys:
                self._set_quietly(self._layer, previous)
            self._fail(error)
        current = self._channel.value
        self._channel.options = channel_options(view, stats, self._order.value)
        keep = current is not None and channel_error(current, view.channels, view.key) is None
        self._channel.value = current if keep else GRID
        pages = page_count(view)
        self._page.max = pages
        self._page.value = min(self._page.value, pages)
        self._page.layout.display = None if pages > 1 else "none"

    # -- images and runs ------------------------------------------------------------------
    def set_image(self, img: Any) -> None:
        """Show another image: survey its shapes, capture the layer shown, redraw.

        The controls stay as they are. A running Maximize job is stopped first.

        Examples
        --------
        >>> ex.set_image("dog.jpg")  # doctest: +SKIP
        """
        self._stop_jobs()  # the worker must not share the model with the new image
        try:
            self._data.set_image(img)
        except Exception as error:
            self._fail(error)
        self._image_id += 1
        with self._batch():
            self._fill_layers(self._filter.value)  # graph nodes are surveyed again on the way

    def _stop_jobs(self) -> None:
        # Never called inside owner.using(): a job needs the model to reach its cancel check.
        for tab in self._tabs.values():
            tab.stop()

    def save_png(self, path: str | Path) -> Path:
        """Write the visible tab's picture (the feature maps when it has none) to ``path``.

        Examples
        --------
        >>> ex.save_png("layer2.png")  # doctest: +SKIP
        """
        path = Path(path)
        path.write_bytes(self._visible_png())
        return path

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the Maximize tab's run to end; return its result (re-raises its error)."""
        return self.maximizer.wait(timeout)

    def close(self) -> None:
        """Stop a running job, free the explorer's activations and pictures, close every widget.

        Layouts and styles are widgets with comms of their own, so they are closed too.
        """
        for tab in getattr(self, "_tabs", {}).values():  # absent when construction failed
            tab.close()
        data = getattr(self, "_data", None)
        if data is not None:
            data.close()
        for widget in widget_tree(self)[1:]:  # [0] is the explorer: its own close comes last
            widget.close()
        super().close()

    @property
    def tabs(self) -> dict[str, Tab]:
        """The tab objects by title (each has ``widget``, and ``image`` where it shows one)."""
        return {t.title: t for t in self._tabs.values()}

    def tab_object(self, name: str) -> Tab:
        """The tab registered as ``name`` ("maps", "overlay", "kernels", "maximize"...)."""
        if name not in self._tabs:
            hint = did_you_mean(str(name), self._tabs)
            raise ValueError(f"no tab named {name!r}; choose one of {tuple(self._tabs)}.{hint}")
        return self._tabs[name]

    @property
    def maximizer(self) -> MaximizeTab:
        """The Maximize tab (``run()``, ``cancel()``, ``wait()``, and its controls)."""
        return self.tab_object("maximize")  # type: ignore[return-value]

    def _visible_png(self) -> bytes:
        png = self._visible_tab().png()
        if png is None:
            maps = self.tab_object("maps")
            maps.update(self._selection())
            png = maps.png()
        if png is None:
            self._fail(ValueError(f"{self.layer} has no picture to save"))
        return png

    def _channel_slug(self) -> str:
        channel = self.channel
        return "grid" if channel is None else str(channel)
