"""Option lists and value checks for the explorer's controls (plain data, no widgets)."""

from __future__ import annotations

from collections.abc import Sequence

from featviz_widgets._text import did_you_mean, shape_label
from featviz_widgets.widgets._views import ChannelStats, LayerView

MAX_PAGE = 256  # channels per grid page at most: wider layers (512-2048 channels) page through
GRID, SUM = "grid", "sum"


def layer_label(key: str, shape: Sequence[int]) -> str:
    """Dropdown label: the name and the output shape without the batch, ``conv1  64x112x112``."""
    return f"{key}  {shape_label(shape[1:])}"


def channel_options(
    view: LayerView, stats: ChannelStats, order: str
) -> list[tuple[str, int | str]]:
    """Grid, sum, then every channel with its mean (a unit's value), by index or strongest first."""
    channels = stats.strongest if order == "strongest" else range(view.channels)
    word = "value" if view.kind == "vector" else "mean"
    options: list[tuple[str, int | str]] = [("all channels (grid)", GRID), ("sum of channels", SUM)]
    options += [(f"{c}  {word} {stats.means[c]:.3g}", int(c)) for c in channels]
    return options


def page_count(view: LayerView) -> int:
    """Grid pages of a layer (1 for vectors, whose strip is never paged)."""
    return max(1, -(-view.channels // MAX_PAGE)) if view.kind == "maps" else 1


def page_size(view: LayerView) -> int:
    """Channels per page, balanced: 384 channels are 2 pages of 192, not 256 + 128."""
    return max(1, -(-view.channels // page_count(view)))


def bounded_int_error(name: str, value: object, low: int, high: int) -> ValueError | None:
    """The ValueError for a value that is not an int in [low, high] (None when it is)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return None


def channel_error(value: object, channels: int, layer: str) -> ValueError | None:
    """The ValueError for a channel that is not None, "sum" or an index of ``layer``."""
    if value in (None, GRID, SUM):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < channels:
        return ValueError(
            f"channel must be None (grid), 'sum' or an int in [0, {channels}) for {layer}, "
            f"got {value!r}"
        )
    return None


def choice_error(name: str, value: object, choices: Sequence[str]) -> ValueError | None:
    """The ValueError for a value outside ``choices``, with close matches."""
    if value in choices:
        return None
    hint = did_you_mean(str(value), choices)
    return ValueError(f"unknown {name} {value!r}; choose one of {tuple(choices)}.{hint}")
