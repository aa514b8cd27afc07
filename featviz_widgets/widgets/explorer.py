"""LayerExplorer: one notebook cell that shows what a CNN sees, built from stock ipywidgets.

The constructor surveys every layer's shape in one forward, captures only the layer it shows
first (a stop-early forward) and builds the controls and the tabs (from the ``tabs.TABS``
registry). The selection (``layer``, ``channel``, ``columns``, ``tab``...) is a set of traitlets on
the explorer, so ``ex.observe(f, "channel")`` and ``ipywidgets.link`` work on it. Each trait
validates in its ``@validate`` handler; one observer (``_on_selection``) reacts to every change,
moves the control and renders once through ``_render``, which redraws only the visible tab and
only if its inputs changed. A click on a control sets the trait (``_controls.py``), so the browser
and Python take one path. A layer's activations are captured the first time it is shown and kept
under the process-wide memory budget; one that was evicted is captured again when shown. Errors
(including "Maximize is running" when a job holds the model) are shown in the widget and raised.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w
import torch
from torch import nn

from featviz_widgets.widgets._controls import widget_tree
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._options import GRID, page_size
from featviz_widgets.widgets._state import SelectionState
from featviz_widgets.widgets.strings import check_lang, hint, text, widget_error
from featviz_widgets.widgets.tabs import MaximizeTab, Selection, Tab, TabContext, build_tabs


class LayerExplorer(SelectionState):
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
    clip : bool, optional
        Whether ``img`` is a clip for a video model (a Conv3d stem): None decides from its form
        (a ``(T, H, W, 3)`` array, a list of frames or a ``(1, C, T, H, W)`` tensor is a clip); a
        4-D tensor ``(C, T, H, W)`` needs ``clip=True`` (it could be a ``(1, C, H, W)`` image).
    lang : {"en", "zh"}, optional
        Language of every label, tooltip, caption and message the widget shows: ``"en"``
        (default) or ``"zh"`` (Simplified Chinese). Kept as ``ex.lang``.

    Notes
    -----
    The selection is traitlets (Python-side only, not synced to the browser): observe them,
    ``ipywidgets.link`` them between explorers (``link((a, "channel"), (b, "channel"))``), set
    them (``ex.channel = 5``). A bad value raises ValueError or TypeError, is shown in the widget
    and leaves the trait as it was; a linked explorer that refuses a value raises from the
    assignment that reached it. ``tab`` is the English tab title (``"Kernels"``); setting it also
    accepts the tab's registry name (``"kernels"``) or the title shown in ``lang``.

    Activations are kept under one memory budget shared by every explorer in the process
    (``featviz_widgets.engine.set_memory_budget``, default 512 MiB); a layer evicted from it is
    captured again (one forward that stops after it) when it is shown again.

    Examples
    --------
    >>> ex = LayerExplorer(torchvision.models.resnet18(), "cat.jpg")  # doctest: +SKIP
    >>> ex.layer = "layer2.0.conv1"; ex.channel = 5; ex.columns = 16  # doctest: +SKIP
    >>> ex.observe(lambda change: print(change["new"]), "channel")  # doctest: +SKIP
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
        lang: str = "en",
        clip: bool | None = None,
    ) -> None:
        super().__init__()
        self._dataset = dataset
        self._lang = check_lang(lang)
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
                clip=clip,
            )
            self._build()
        except BaseException:
            self.close()  # a half-built widget would stay registered (and open) forever
            raise

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self._hold = self._auto = 0
        self._keys: list[str] = []
        self._pages = self._frames = 1
        self._image_id = 0
        self._error: str | None = None
        self._build_controls()
        self._build_tabs()
        self._bind_controls(self._tab)
        self.children = [self._control_box(), self._message, self._tab]
        with self._batch():
            self.tab = self._titles[0]
            self.filter = "conv" if self._data.module_keys(convs_only=True) else "all"
        self.add_class("featviz-explorer")

    def _build_tabs(self) -> None:
        ctx = TabContext(self._data, self._selection, self._render, dataset=self._dataset,
                         listed=lambda: list(self._keys), select=self._select,
                         lang=self._lang)  # fmt: skip
        self._tabs = build_tabs(ctx)
        tabs = list(self._tabs.values())
        self._titles = [t.title for t in tabs]
        shown = [text(self._lang, f"tab_{t.name}") for t in tabs]  # the titles in ``lang``
        self._tab_names: dict[str, str] = {}  # title, registry name or shown title -> title
        for tab, label in zip(tabs, shown, strict=True):
            self._tab_names.update({tab.title: tab.title, tab.name: tab.title, label: tab.title})
        self._tab = w.Tab(children=[t.widget for t in tabs], titles=shown)
        self._tab.add_class("featviz-tabs")
        for tab in tabs:
            tab.widget.add_class(f"featviz-tab-{tab.title.lower().replace(' ', '-')}")

    def _tab_index(self, title: str) -> int:
        return self._titles.index(title)

    def _tab_title(self, index: int | None) -> str:
        return self._titles[index or 0]

    def _selection(self) -> Selection:
        return Selection(
            layer=self.layer,
            channel=GRID if self.channel is None else self.channel,
            columns=self.columns,
            page=self.page - 1,
            page_size=page_size(self._data.view(self.layer)),
            normalization=self.normalization,
            colormap=self.colormap,
            order=self.order,
            image_id=self._image_id,
            frame=self.frame,
            time_view=self.time_view,
        )

    def _visible_tab(self) -> Tab:
        return list(self._tabs.values())[self._tab_index(self.tab)]

    def _render(self) -> None:
        """Redraw the visible tab; show and raise any error."""
        if self._hold or self.layer is None:
            return
        with self._showing_errors():
            self._visible_tab().update(self._selection())
        self._clear_error()

    def _on_export(self, _: Any) -> None:
        png = self._visible_png()
        name = f"{self.layer.replace('/', '_')}_{self._channel_slug()}.png"
        link = base64.b64encode(png).decode("ascii")
        self._download.value = (
            f"<a download='{html.escape(name)}' href='data:image/png;base64,{link}'>"
            f"{html.escape(text(self._lang, 'download', name=name))}</a>"
        )

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
            self._fail(error, "error_image")
        self._image_id += 1
        with self._batch():
            self._relist()  # graph nodes are surveyed again on the way

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

    # -- read-only views -------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """Every layer the Layer dropdown can show under the current filter."""
        return list(self._keys)

    @property
    def activations(self) -> Mapping[str, torch.Tensor]:
        """Every module output on the image: key -> tensor (batch first), in execution order.

        A read-only mapping: listing the keys costs nothing (they come from the shapes survey);
        reading a value captures that layer (one forward that stops after it) unless the
        explorer still keeps it under the memory budget.
        """
        return Activations(self._data)

    @property
    def error(self) -> str | None:
        """The message the widget shows for the last failed action (None when all is well)."""
        return self._error

    @property
    def lang(self) -> str:
        """The language the widget speaks (``lang=``): ``"en"`` or ``"zh"``."""
        return self._lang

    @property
    def tabs(self) -> dict[str, Tab]:
        """The tab objects by title (each has ``widget``, and ``image`` where it shows one)."""
        return {t.title: t for t in self._tabs.values()}

    def tab_object(self, name: str) -> Tab:
        """The tab registered as ``name`` ("maps", "overlay", "kernels", "maximize"...)."""
        if name not in self._tabs:
            close = hint(self._lang, str(name), self._tabs)
            choices = tuple(self._tabs)
            raise widget_error(self._lang, "err_no_tab", name=name, choices=choices, hint=close)
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
            self._fail(widget_error(self._lang, "err_no_picture", layer=self.layer))
        return png

    def _channel_slug(self) -> str:
        channel = self.channel
        return "grid" if channel is None else str(channel)


class Activations(Mapping[str, torch.Tensor]):
    """Every module output of the explorer's image, key -> tensor (batch first), read-only.

    Keys (``name``, ``name#2``, ``name[0]``) come from the survey, in execution order, and cost
    nothing to list; a value is captured when it is read (one stop-early forward) unless the
    explorer still keeps it under the memory budget. Reading every value holds them all: prefer
    reading the layers you need.
    """

    def __init__(self, data: ExplorerData) -> None:
        self._data = data

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._data.shapes:
            raise KeyError(key)
        return self._data.tensor(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data.shapes))

    def __len__(self) -> int:
        return len(self._data.shapes)

    def __contains__(self, key: object) -> bool:
        return key in self._data.shapes

    def __repr__(self) -> str:
        return f"<activations of {len(self)} module outputs, captured on access>"
