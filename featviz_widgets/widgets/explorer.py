"""LayerExplorer: one notebook cell that shows what a CNN sees, built from stock ipywidgets.

The explorer composes a :class:`~featviz_widgets.widgets.selection.SelectionModel` (what is shown,
checked against plain data), a :class:`~featviz_widgets.widgets.controls.ControlPanel` bound to it,
and the tabs of the ``tabs.TABS`` registry. The selection is also traitlets on the explorer: every
change (Python, a link, a control, a picture) reaches the explorer's trait, where the model checks
it and the explorer captures what it shows (a busy model refuses there, before anything moves);
``_on_change`` then refills the options, lets the model and its controls follow, and renders the
visible tab once (``_batch``).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as w
import torch
import traitlets
from torch import nn

from featviz_widgets.widgets._activations import Activations
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._options import (
    GRID,
    channel_error,
    channel_options,
    class_limits,
    frame_count,
    keys_for,
    layer_label,
    layer_limits,
    load_for,
    nodes_known,
    page_count,
    page_size,
)
from featviz_widgets.widgets.controls import ControlPanel, MessageLine, tab_bar, widget_tree
from featviz_widgets.widgets.selection import SELECTION, SelectionModel, selection_traits
from featviz_widgets.widgets.strings import check_lang, hint, text, widget_error
from featviz_widgets.widgets.tabs import Selection, Tab, TabContext, build_tabs


class LayerExplorer(w.VBox):
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
    ``target_class`` is the class the Attribution tab explains: None (the image's top class), a
    class index, or a class name (kept as its index).

    Activations are kept under one memory budget shared by every explorer in the process
    (``featviz_widgets.engine.set_memory_budget``, default 512 MiB); a layer evicted from it is
    captured again (one forward that stops after it) when it is shown again.

    Examples
    --------
    >>> ex = LayerExplorer(torchvision.models.resnet18(), "cat.jpg")  # doctest: +SKIP
    >>> ex.layer = "layer2.0.conv1"; ex.channel = 5; ex.columns = 16  # doctest: +SKIP
    >>> ex.observe(lambda change: print(change["new"]), "channel")  # doctest: +SKIP
    """

    (layer, filter, channel, columns, page, normalization, colormap, order, frame, time_view,
     target_class, tab) = selection_traits()  # fmt: skip

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
        self._depth = 0  # nesting of _batch: only the outermost one renders
        self._keys: list[str] = []
        self._image_id = 0
        # The layer the explorer moves to of itself (a filter without the shown layer): tabs
        # hear of the user's picks only (``Tab.layer_picked``).
        self._explorer_pick: str | None = None
        self._selection = SelectionModel(self._lang)
        self._build_tabs()
        self._panel = ControlPanel(self._selection, self._tab, self._titles, self._lang,
                                   self._on_export)  # fmt: skip
        self._selection.observe(self._from_selection, list(SELECTION))
        self._message = MessageLine(self._lang)
        self.children = [self._panel.widget, self._message.widget, self._tab]
        self._selection.allow(tabs=self._tab_names, classes=class_limits(self._data),
                              **layer_limits(self._data))  # fmt: skip
        with self._batch():
            self.tab = self._titles[0]
            self.filter = "conv" if self._data.module_keys(convs_only=True) else "all"
        self.add_class("featviz-explorer")

    def _build_tabs(self) -> None:
        ctx = TabContext(self._data, self._snapshot, self._render, dataset=self._dataset,
                         listed=lambda: list(self._keys), select=self._select,
                         lang=self._lang)  # fmt: skip
        self._tabs = build_tabs(ctx)
        self._titles = [tab.title for tab in self._tabs.values()]
        self._tab, self._tab_names = tab_bar(list(self._tabs.values()), self._lang)

    # -- the selection: checked by the model, loaded and applied here ----------------------
    @traitlets.validate(*SELECTION)
    def _admit(self, proposal: traitlets.Bunch) -> Any:
        """The model checks the value; what it shows is captured before it is accepted."""
        name = proposal.trait.name
        with self._message.showing():
            if name == "layer":
                self._learn(proposal.value)
            value = self._selection.check(name, proposal.value)
            self._load(name, value)
        return value

    def _refusal(self, name: str, value: object) -> Exception:
        """The error for a value of the wrong type (see ``selection.Refuses``), shown here."""
        error = self._selection._refusal(name, value)
        self._message.show(error)
        return error

    def _learn(self, name: object) -> None:
        """Before a name the model does not know is refused: is it a graph node?"""
        limits = nodes_known(self._data, self._selection.limits.layers, name)
        if limits is not None:
            self._selection.allow(**limits)

    def _load(self, name: str, value: Any) -> None:
        """Capture what ``value`` shows: a busy model refuses here, and nothing moves."""
        kinds, lang = self._selection.limits.layers, self._lang
        load_for(
            self._data, name, value, shown=self.layer, listed=self._keys, kinds=kinds, lang=lang
        )

    @traitlets.observe(*SELECTION)
    def _on_change(self, change: dict) -> None:
        """Whatever moved the selection: list, refill the options, let the model and its controls
        follow, render once."""
        name = change["name"]
        with self._batch():
            if name == "filter":
                self._relist()
            elif name == "layer":
                self._on_layer(change["new"])
            elif name == "order":
                self._fill_channels()
            setattr(self._selection, name, change["new"])

    def _from_selection(self, change: dict) -> None:
        """A control moved the model: the explorer takes the value as a Python assignment would;
        if it refuses, the model (and so the control) goes back."""
        name = change["name"]
        if getattr(self, name) == change["new"]:
            return  # the model followed the explorer
        try:
            setattr(self, name, change["new"])
        except Exception:
            setattr(self._selection, name, getattr(self, name))
            raise

    def _on_layer(self, layer: str) -> None:
        if layer not in self._keys:  # listed under the filter that has it, as the dropdown shows
            self.filter = self._selection.limits.layers[layer]
        if layer != self._explorer_pick:  # the user's pick (the dropdown, ex.layer, a link)
            for tab in self._tabs.values():
                tab.layer_picked(layer)
        self._fill_channels()

    def _relist(self) -> None:
        """List the layers of the filter; keep the layer shown when listed, else show the first."""
        with self._message.showing():
            keys = keys_for(self._data, self.filter, self._lang)
        self._keys = keys
        self._panel.show("layer", options=[(layer_label(k, self._data.shape(k)), k) for k in keys])
        if self.layer in keys:
            self._fill_channels()  # a new image changes the means and the shapes
            return
        self._explorer_pick = keys[0]
        try:
            self.layer = keys[0]
        finally:
            self._explorer_pick = None

    def _fill_channels(self) -> None:
        """Channel options of the layer in the chosen order; keep channel, page and frame if valid."""
        layer = self.layer
        with self._message.showing("error_layer"):
            entry = self._data.entries([layer], prefetch=self._keys)[layer]
        view, stats = entry.view, entry.stats
        pages, frames = page_count(view), frame_count(view)
        self._selection.allow(layer=layer, channels=view.channels, pages=pages, frames=frames)
        if channel_error(self.channel, view.channels, layer) is not None:
            self.channel = None
        self._panel.show("channel", options=channel_options(view, stats, self.order, self._lang))
        self.page = min(self.page, pages)
        self._panel.show_range("page", pages)
        self.frame = min(self.frame, frames - 1)  # a layer with fewer frames: its last
        self._panel.show_range("frame", frames)
        self._panel.show_time(view.frames is not None)

    def _select(self, **changes: Any) -> None:
        """Move the selection as the controls would (``layer`` first, then the rest, one render)."""
        unknown = [name for name in changes if name not in SELECTION]
        if unknown:
            raise ValueError(f"unknown selection {unknown}; choose among {SELECTION}")
        with self._batch():
            for name in SELECTION:
                if name in changes:
                    setattr(self, name, changes[name])

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Update several traits and controls, then render once (never once per change)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        self._render()

    # -- rendering and errors --------------------------------------------------------------
    def _snapshot(self) -> Selection:
        """The selection as the plain values a tab draws."""
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
            target_class=self.target_class,
        )

    def _visible_tab(self) -> Tab:
        return list(self._tabs.values())[self._titles.index(self.tab)]

    def _render(self) -> None:
        """Redraw the visible tab; show and raise any error."""
        if self._depth or not self.layer:
            return
        with self._message.showing():
            self._visible_tab().update(self._snapshot())
        self._message.clear()

    def _on_export(self, _: Any) -> None:
        png = self._visible_png()
        slug = "grid" if self.channel is None else str(self.channel)
        name = f"{self.layer.replace('/', '_')}_{slug}.png"
        link = base64.b64encode(png).decode("ascii")
        self._panel.download.value = (
            f"<a download='{html.escape(name)}' href='data:image/png;base64,{link}'>"
            f"{html.escape(text(self._lang, 'download', name=name))}</a>"
        )

    # -- images and files ------------------------------------------------------------------
    def set_image(self, img: Any) -> None:
        """Show another image: survey its shapes, capture the layer shown, redraw.

        The controls stay as they are. A running Maximize job is stopped first.

        Examples
        --------
        >>> ex.set_image("dog.jpg")  # doctest: +SKIP
        """
        for tab in self._tabs.values():  # the worker must not share the model with the new image
            tab.stop()  # (never inside owner.using(): a job needs the model to see its cancel)
        try:
            self._data.set_image(img)
        except Exception as error:
            self._message.show(error, "error_image")
            raise
        self._image_id += 1
        with self._batch():
            self._selection.allow(classes=class_limits(self._data), **layer_limits(self._data))
            self._relist()  # graph nodes are surveyed again on the way

    def save_png(self, path: str | Path) -> Path:
        """Write the visible tab's picture (the feature maps when it has none) to ``path``.

        Examples
        --------
        >>> ex.save_png("layer2.png")  # doctest: +SKIP
        """
        path = Path(path)
        path.write_bytes(self._visible_png())
        return path

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
        return self._message.error

    @property
    def lang(self) -> str:
        """The language the widget speaks (``lang=``): ``"en"`` or ``"zh"``."""
        return self._lang

    @property
    def tab_names(self) -> list[str]:
        """The registry names of the tabs shown, in order (``ex.tab = name`` shows one)."""
        return list(self._tabs)

    def tab_object(self, name: str) -> Tab:
        """The tab registered as ``name`` ("maps", "overlay", "kernels", "maximize"...).

        Each has ``widget``, and ``image`` where it shows one; the Maximize tab also has
        ``run()``, ``cancel()`` and ``wait()``.

        Examples
        --------
        >>> ex.tab_object("maximize").run()  # doctest: +SKIP
        """
        if name not in self._tabs:
            close = hint(self._lang, str(name), self._tabs)
            choices = tuple(self._tabs)
            raise widget_error(self._lang, "err_no_tab", name=name, choices=choices, hint=close)
        return self._tabs[name]

    def _visible_png(self) -> bytes:
        png = self._visible_tab().png()
        if png is None:
            maps = self.tab_object("maps")
            maps.update(self._snapshot())
            png = maps.png()
        if png is None:
            error = widget_error(self._lang, "err_no_picture", layer=self.layer)
            self._message.show(error)
            raise error
        return png
