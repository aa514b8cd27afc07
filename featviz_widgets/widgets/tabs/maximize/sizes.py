"""Which image sizes a Maximize run may use for the explorer's model.

Sizes are the model owner's facts. A model that declares one input size
(``owner.fixed_input_size()``, e.g. a ViT's ``image_size``) is offered every size: optvis resizes
each picture to the model's size before the forward. For other models, Run asks
``owner.accepts(size, batch)`` (one probe forward per size, cached); a size the model rejects (a
CNN with a fixed Linear head) runs at the explorer's own size instead, says so, and Size offers
that size from then on, so the first click still gives a picture.
"""

from __future__ import annotations

from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.tabs._base import Say

SIZES = (64, 96, 128, 160, 224)


def square_side(data: ExplorerData) -> int | None:
    """The side of the explorer's own input when it is square (the model is known to take it)."""
    height, width = data.input_size
    return height if height == width else None


def size_choices(data: ExplorerData, rejected: str | None, say: Say) -> tuple[tuple[int, ...], str]:
    """The sizes to offer and the note under them: every size (a declared size is named), or
    only the explorer's own once a size was ``rejected`` (the note then says why)."""
    fixed, native = data.owner.fixed_input_size(), square_side(data)
    if fixed is not None:
        return SIZES, say("max_fixed_size", height=fixed[0], width=fixed[1])
    if rejected is not None and native is not None:
        return (native,), rejected
    return SIZES, ""


def accepted_size(data: ExplorerData, size: int, say: Say) -> tuple[int, str | None]:
    """``size``, or the explorer's own side with the note that says why when the model rejects
    ``size``. ValueError when it is rejected and the explorer's input is not square.

    One probe forward per new size (cached by the model's owner); a model that declares its
    size needs none (optvis resizes the picture to it).
    """
    if data.owner.fixed_input_size() is not None:
        return size, None
    with data.using():
        why = data.owner.accepts(size, data.prepared.batch)
    if why is None:
        return size, None
    native = square_side(data)
    if native is None:
        raise ValueError(say("max_rejected", size=size, why=why))
    return native, say("max_rejected_now", size=size, why=why, native=native)
