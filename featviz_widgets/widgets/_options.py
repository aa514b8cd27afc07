"""Option lists and value checks for the explorer's controls (plain data, no widgets)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from featviz_widgets._text import shape_label
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._views import ChannelStats, LayerView
from featviz_widgets.widgets.strings import hint, text, widget_error

MAX_PAGE = 256  # channels per grid page at most: wider layers (512-2048 channels) page through
MAX_COLUMNS = 64
GRID, SUM = "grid", "sum"
FILTERS = ("conv", "all", "nodes")  # convolution outputs, every module call, torch.fx nodes
ORDERS = ("index", "strongest")


def layer_label(key: str, shape: Sequence[int]) -> str:
    """Dropdown label: the name and the output shape without the batch, ``conv1  64x112x112``."""
    return f"{key}  {shape_label(shape[1:])}"


def channel_options(
    view: LayerView, stats: ChannelStats, order: str, lang: str = "en"
) -> list[tuple[str, int | str]]:
    """Grid, sum, then every channel with its mean (a unit's value), by index or strongest first.

    The labels are in ``lang`` (``widgets/strings``); the values are what ``ex.channel`` takes.
    """
    channels = stats.strongest if order == "strongest" else range(view.channels)
    word = "option_value" if view.kind == "vector" else "option_mean"
    options: list[tuple[str, int | str]] = [
        (text(lang, "option_grid"), GRID),
        (text(lang, "option_sum"), SUM),
    ]
    options += [(text(lang, word, channel=int(c), value=stats.means[c]), int(c)) for c in channels]
    return options


def page_count(view: LayerView) -> int:
    """Grid pages of a layer (1 for vectors, whose strip is never paged)."""
    return max(1, -(-view.channels // MAX_PAGE)) if view.kind == "maps" else 1


def page_size(view: LayerView) -> int:
    """Channels per page, balanced: 384 channels are 2 pages of 192, not 256 + 128."""
    return max(1, -(-view.channels // page_count(view)))


def bounded_int_error(
    name: str, value: object, low: int, high: int, lang: str = "en"
) -> ValueError | None:
    """The ValueError for a value that is not an int in [low, high] (None when it is)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return widget_error(lang, "err_bounded", name=name, low=low, high=high, value=value)
    return None


def channel_error(value: object, channels: int, layer: str, lang: str = "en") -> ValueError | None:
    """The ValueError for a channel that is not None, "sum" or an index of ``layer``."""
    if value in (None, GRID, SUM):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < channels:
        return widget_error(lang, "err_channel", channels=channels, layer=layer, value=value)
    return None


def choice_error(
    name: str, value: object, choices: Sequence[str], lang: str = "en"
) -> ValueError | None:
    """The ValueError for a value outside ``choices``, with close matches."""
    if value in choices:
        return None
    close = hint(lang, str(value), choices)
    return widget_error(
        lang, "err_choice", name=name, value=value, choices=tuple(choices), hint=close
    )


def frame_count(view: LayerView) -> int:
    """Frames of a video layer (``frames`` is ``[C, T, H, W]``); 1 for every other layer."""
    return 1 if view.frames is None else int(view.frames.shape[1])


def frame_error(value: object, frames: int, layer: str, lang: str = "en") -> ValueError | None:
    """The ValueError for a frame that is not an int in [0, frames) of ``layer`` (None if it is)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < frames:
        key = "err_frame_flat" if frames == 1 else "err_frame"  # a layer without a time axis
        return widget_error(lang, key, frames=frames, layer=layer, value=value)
    return None


# -- which layers a filter lists ------------------------------------------------------------
def keys_for(data: ExplorerData, kind: str, lang: str = "en") -> list[str]:
    """The capture keys the Layer dropdown lists under filter ``kind`` (ValueError when none)."""
    keys = data.load_nodes() if kind == "nodes" else data.module_keys(convs_only=kind == "conv")
    if not keys:
        raise widget_error(lang, "err_no_layers", kind=kind)
    return keys


def layer_limits(data: ExplorerData) -> dict[str, Any]:
    """What the selection's ``layer`` is checked against (``selection.Limits``), from the survey:
    every layer it can show -> the filter listing it, every module's type, the names known."""
    names = data.all_names()
    layers = dict.fromkeys(data.shapes, "all")
    for name in names:  # graph nodes known so far (a module name never is one)
        if name not in layers and name not in data.infos:
            layers[name] = "nodes"
    modules = {name: info.type for name, info in data.infos.items()}
    return {"layers": layers, "modules": modules, "restricted": data.restrict is not None,
            "names": tuple(names)}  # fmt: skip


def class_limits(data: ExplorerData) -> tuple[str, ...]:
    """The name of every class of the model's class-score output, index by index (what the
    selection's ``target_class`` is checked against); empty when the output has no class vector."""
    scores = data.class_vector()
    return () if scores is None else tuple(data.class_name(i) for i in range(len(scores)))


def nodes_known(
    data: ExplorerData, kinds: Mapping[str, str], name: object
) -> dict[str, Any] | None:
    """New layer limits when ``name`` may be a graph node not listed yet: the graph's node names
    are read (a trace, no forward; cached); None when there is nothing to learn."""
    if not isinstance(name, str) or name in kinds or name in data.infos:
        return None
    try:
        data.node_names()
    except ValueError:
        return None  # an untraceable model has module names only
    return layer_limits(data)


def load_for(
    data: ExplorerData, name: str, value: Any, *, shown: str, listed: Sequence[str],
    kinds: Mapping[str, str], lang: str = "en",
) -> None:  # fmt: skip
    """Capture what selection ``name = value`` will show (``shown``: the layer shown now;
    ``listed``: the layers listed; ``kinds``: layer -> the filter listing it). A forward that runs
    anyway keeps the other listed layers too, so the next changes draw from memory."""
    if name == "layer":
        keys = listed if value in listed else keys_for(data, kinds[value], lang)
        data.entries([value], prefetch=keys)
    elif name == "filter":
        keys = keys_for(data, value, lang)  # an untraceable model: no graph nodes
        data.stats(shown if shown in keys else keys[0])
    elif name == "channel" and shown:
        data.entries([shown])  # the layer may need capturing again
