"""The explorer's selection as a plain traitlets model: typed traits, validation without side effects.

:class:`SelectionModel` holds what the explorer shows (``layer``, ``channel``, ``columns``,
``page``, ``normalization``, ``colormap``, ``order``, ``filter``, ``frame``, ``time_view``,
``target_class``, ``tab``). Every proposed value is checked against :class:`Limits`, plain data
the explorer hands over (the layers it can show, the channel, page and frame counts of the layer
shown, the tab names, the class names); a check only reads that data, never the model or a widget. A refused value raises the
ValueError or TypeError of the check (never a TraitError), in the model's language, and the
trait keeps its value.

Examples
--------
>>> sel = SelectionModel()
>>> sel.allow(layers={"conv1": "all"}, layer="conv1", channels=8)
>>> sel.layer, sel.channel = "conv1", 3
>>> sel.channel = "grid"  # the grid is None
>>> sel.channel is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import traitlets

from featviz_widgets import render
from featviz_widgets.widgets._frames import TIME_VIEWS
from featviz_widgets.widgets._options import (
    FILTERS,
    GRID,
    MAX_COLUMNS,
    ORDERS,
    bounded_int_error,
    channel_error,
    choice_error,
    frame_error,
)
from featviz_widgets.widgets.strings import hint, reworded, widget_error

# Every trait of the selection, in the order a grouped change applies them (the layer first).
SELECTION = ("layer", "filter", "channel", "columns", "page", "normalization", "colormap",
             "order", "frame", "time_view", "target_class", "tab")  # fmt: skip

COLORMAPS = ("viridis", "gray", "magma", "inferno", "plasma", "cividis", "jet", "turbo", "RdBu_r")


@dataclass(frozen=True)
class Limits:
    """What the selection's values are checked against: plain data from the explorer.

    ``layers`` maps every layer the explorer can show to the filter that lists it ("all" for a
    module output, "nodes" for a graph node); ``modules`` maps every module name to its type (to
    say why one that did not run cannot be shown; ``restricted``: the explorer was given
    ``layers=``); ``names`` are the names "did you mean" picks from. ``channels``, ``pages`` and
    ``frames`` count those of ``layer``, the layer shown. ``tabs`` maps every accepted spelling
    of a tab (title, registry name, title in the language) to its title, in display order.
    ``classes`` names every class of the model's class-score output, index by index (empty when
    the output is not a class-score vector).
    """

    layers: Mapping[str, str] = field(default_factory=dict)
    modules: Mapping[str, str] = field(default_factory=dict)
    restricted: bool = False
    names: tuple[str, ...] = ()
    layer: str = ""
    channels: int = 0
    pages: int = 1
    frames: int = 1
    tabs: Mapping[str, str] = field(default_factory=dict)
    classes: tuple[str, ...] = ()


class Refuses(Protocol):
    """An owner of selection traits (the model, the explorer): words the error for a value of the
    wrong type, which the trait raises instead of a TraitError."""

    def _refusal(self, name: str, value: object) -> Exception:
        """The ValueError or TypeError that says why ``value`` is not a valid ``name``."""


class _Refusing(traitlets.TraitType):
    """A trait whose wrongly typed value raises its owner's own error (:class:`Refuses`)."""

    def error(self, obj: Any, value: Any, error: Any = None, info: Any = None) -> None:
        raise obj._refusal(self.name, value)


class _Text(_Refusing, traitlets.Unicode):
    pass


class _Int(_Refusing, traitlets.Int):
    pass


class _Channel(_Refusing, traitlets.Union):
    pass


class _Class(_Refusing, traitlets.Int):
    """An int or None; a class name is accepted by the check, which turns it into its index."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, str):  # the owner's check maps the name to its index
            return value
        return super().validate(obj, value)


def selection_traits() -> tuple[traitlets.TraitType, ...]:
    """Fresh trait objects for every name of :data:`SELECTION`, in that order.

    The model and the explorer declare the same traits: each class needs its own instances.
    """
    return (
        _Text("", help="The layer shown (a capture key)."),
        _Text("", help='Layers listed: "conv", "all" (modules) or "nodes".'),
        _Channel(
            [traitlets.Int(), traitlets.Unicode()],
            default_value=None,
            allow_none=True,
            help='The channel: an index, "sum", or None for the grid.',
        ),  # fmt: skip
        _Int(8, help="Tiles per row of the grid."),
        _Int(1, help="Grid page (from 1) of a layer wider than one page."),
        _Text("channel", help="One of render.NORMALIZATIONS."),
        _Text("viridis", help="A matplotlib colormap name."),
        _Text("index", help='Channel order: "index" or "strongest".'),
        _Int(0, help="Frame (from 0) of a video layer's [C, T, H, W] output."),
        _Text("frame", help='A video layer: "frame", or "mean" / "sum" over time.'),
        _Class(
            None,
            allow_none=True,
            help="The class explained (Attribution): an index, or None for the top class.",
        ),
        _Text("", help='The visible tab\'s title, e.g. "Kernels".'),
    )


class SelectionModel(traitlets.HasTraits):
    """What the explorer shows, checked against :class:`Limits` with no side effect.

    Parameters
    ----------
    lang : str
        Language of the error messages (``"en"`` or ``"zh"``).

    Examples
    --------
    >>> sel = SelectionModel()
    >>> sel.columns = 0
    Traceback (most recent call last):
    ValueError: columns must be an int in [1, 64], got 0
    """

    (layer, filter, channel, columns, page, normalization, colormap, order, frame, time_view,
     target_class, tab) = selection_traits()  # fmt: skip

    def __init__(self, lang: str = "en") -> None:
        super().__init__()
        self.lang = lang
        self.limits = Limits()

    def allow(self, **limits: Any) -> None:
        """Replace some :class:`Limits` fields (``allow(channels=16, pages=1)``)."""
        self.limits = replace(self.limits, **limits)

    @traitlets.validate(*SELECTION)
    def _valid(self, proposal: traitlets.Bunch) -> Any:
        return self.check(proposal.trait.name, proposal.value)

    def _refusal(self, name: str, value: object) -> Exception:
        """The error :meth:`check` raises for ``value`` (a TypeError should it pass)."""
        try:
            self.check(name, value)
        except (ValueError, TypeError) as error:
            return error
        return TypeError(f"{name} cannot be {value!r} ({type(value).__name__})")

    def check(self, name: str, value: object) -> Any:
        """``value`` as trait ``name`` keeps it ("grid" becomes None, a tab its title); ValueError
        or TypeError naming the problem otherwise. Reads :attr:`limits` only."""
        lang, limits = self.lang, self.limits
        if name == "layer":
            _raise(self._layer_error(value))
        elif name == "filter":
            _raise(choice_error("filter", value, FILTERS, lang))
        elif name == "channel":
            _raise(channel_error(value, limits.channels, limits.layer, lang))
            return None if value == GRID else value
        elif name in ("columns", "page"):
            high = MAX_COLUMNS if name == "columns" else limits.pages
            _raise(bounded_int_error(name, value, 1, high, lang))
        elif name == "frame":  # against this layer's frames: T of its [C, T, H, W] output
            _raise(frame_error(value, limits.frames, limits.layer, lang))
        elif name == "colormap":
            _raise(self._colormap_error(value))
        elif name == "target_class":
            return self._target_class(value)
        elif name == "tab":
            if not isinstance(value, str) or value not in limits.tabs:
                close = hint(self.lang, str(value), list(limits.tabs))
                titles = tuple(dict.fromkeys(limits.tabs.values()))
                raise widget_error(self.lang, "err_choice", name="tab", value=value,
                                   choices=titles, hint=close)  # fmt: skip
            return limits.tabs[value]
        else:
            choices = {"normalization": render.NORMALIZATIONS, "order": ORDERS,
                       "time_view": TIME_VIEWS}  # fmt: skip
            _raise(choice_error(name, value, choices[name], lang))
        return value

    def _layer_error(self, name: object) -> ValueError | None:
        lang, limits = self.lang, self.limits
        if not isinstance(name, str):
            return widget_error(lang, "err_layer_type", kind=type(name).__name__)
        if name in limits.layers:
            return None
        kind = limits.modules.get(name)
        if kind is not None and limits.restricted:
            return widget_error(lang, "err_not_in_layers", name=name)
        if kind is not None:
            return widget_error(lang, "err_never_ran", name=name, kind=kind)
        close = hint(lang, name, limits.names)
        return widget_error(lang, "err_unknown_layer", name=name, hint=close)

    def _target_class(self, value: object) -> int | None:
        """None (the top class), a class index, or a class name turned into its index."""
        classes = self.limits.classes
        if value is None:
            return None
        if not classes:
            raise widget_error(self.lang, "err_no_classes", value=value)
        if isinstance(value, str) and value in classes:
            return classes.index(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
            return value
        close = hint(self.lang, value, classes) if isinstance(value, str) else ""
        raise widget_error(self.lang, "err_target_class", classes=len(classes), value=value,
                           hint=close)  # fmt: skip

    def _colormap_error(self, name: object) -> ValueError | None:
        if name in COLORMAPS:
            return None
        try:  # any registered matplotlib name is accepted
            render.colormap_lut(name)
        except (ValueError, TypeError) as error:  # render's message, said in the language
            return reworded(self.lang, error)
        return None


def _raise(error: Exception | None) -> None:
    """Raise ``error`` unless it is None (the value checks of ``_options`` return, never raise)."""
    if error is not None:
        raise error
