"""Which layer and channels a Maximize run targets: the receptive-field rule and the channel pick.

:func:`plan_layer` applies optvis's receptive-field rule to the explorer's layer: a layer whose
units see too little of the picture (under 1/8) is swapped for the nearest one that sees enough,
unless the user picked it. :func:`plan_channels` then says which channels of that layer run: the
first N, the selected channel, or (in grid mode, or after a move) the strongest on the image.
"""

from __future__ import annotations

from featviz_widgets import layout
from featviz_widgets.optvis.targets import LayerChoice, layer_to_maximize, maximizable_channels
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.tabs._base import Say, Selection


def candidates(data: ExplorerData) -> tuple[list[str], dict[str, int]]:
    """Module outputs that can be maximized (:func:`maximizable_channels`: maps, tokens, pooled
    channels), in execution order, and their channel axes."""
    axes = {k: _probe_axis(_channel_axis(data, k)) for k in data.module_keys() if k in data.infos}
    names = [k for k, axis in axes.items() if maximizable_channels(data.shape(k), axis)]
    return names, {k: axes[k] for k in names}


def _channel_axis(data: ExplorerData, key: str) -> int:
    return layout.channel_axis(layout.hint_for(data.hints, key))


def _probe_axis(axis: int) -> int:
    return 1 if axis == 1 else -1


def plan_layer(data: ExplorerData, layer: str, size: int, explicit: bool) -> LayerChoice:
    """The receptive-field rule for ``layer`` at the side the model will see."""
    fixed = data.owner.fixed_input_size()
    side = fixed[0] if fixed is not None else size
    names, axes = candidates(data)
    if layer not in names:
        return LayerChoice(layer, layer, None)
    return layer_to_maximize(data.model, layer, side, names, explicit=explicit, channel_axes=axes)


def plan_channels(
    data: ExplorerData, sel: Selection, *, mode: str, count: int, size: int, picked: bool, say: Say
) -> tuple[LayerChoice, tuple[int, ...], bool]:
    """The layer a channel (or first-N) run targets, its channels, and whether the channel is
    the strongest on the image (picked for the user). ValueError (in ``say``'s language) when
    the selection has no channel maps to optimize.

    ``picked`` says the user chose the explorer's layer: the receptive-field rule then yields,
    as it does for a channel chosen by index.
    """
    if sel.layer not in data.infos:
        raise ValueError(say("max_not_module", layer=sel.layer))
    explicit = picked or isinstance(sel.channel, int)
    with data.using():
        choice = plan_layer(data, sel.layer, size, explicit)
    # optvis finds the same channel axis (the layout's: last for channels-last, tokens and
    # windows) when it runs, so a channel here is the map this explorer shows
    axis = _channel_axis(data, choice.layer)
    channels = maximizable_channels(data.shape(choice.layer), axis)
    view = data.view(choice.layer)
    if channels is None or (view.maps is not None and view.shape[axis] != view.channels):
        raise ValueError(say("max_no_maps", layer=choice.layer, shape=view.label))
    if mode == "first":
        return choice, tuple(range(min(count, channels))), False
    if isinstance(sel.channel, int) and not choice.moved:
        return choice, (sel.channel,), False
    return choice, (int(data.stats(choice.layer).strongest[0]),), True
