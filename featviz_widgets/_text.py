"""Small text helpers shared by error messages and captions: pure Python, no torch or NumPy.

Examples
--------
>>> f"unknown layer 'layer1.0.ad'.{did_you_mean('layer1.0.ad', ['layer1.0.add', 'fc'])}"
"unknown layer 'layer1.0.ad'. Did you mean 'layer1.0.add'?"
>>> shape_label((128, 28, 28))
'128x28x28'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .messages import ENGLISH

__all__ = ["close_names", "did_you_mean", "shape_label"]


def close_names(
    name: str, candidates: Iterable[str], n: int = 5, cutoff: float = 0.6
) -> tuple[str, ...]:
    """The candidates closest to ``name``, best first: the ``close`` parameter of a message.

    Candidates are scored as ``difflib.get_close_matches`` does (``SequenceMatcher.ratio``); each
    is named once, and equally close ones keep the order they were given in. A ``name`` that is
    not a string has no close names.

    Parameters
    ----------
    name : str
        What the user typed.
    candidates : iterable of str
        The valid names (repeats are ignored).
    n : int
        At most this many names (>= 1).
    cutoff : float
        Similarity in [0, 1] a candidate needs.

    Examples
    --------
    >>> close_names("layer1.0.ad", ["layer1.0.add", "fc", "layer2.0.add"])
    ('layer1.0.add', 'layer2.0.add')
    """
    if n < 1 or not 0.0 <= cutoff <= 1.0:
        raise ValueError(f"n must be >= 1 and cutoff in [0, 1], got n={n!r}, cutoff={cutoff!r}")
    if not isinstance(name, str):
        return ()
    matcher = difflib.SequenceMatcher(b=name)
    scored = []
    for candidate in dict.fromkeys(c for c in candidates if isinstance(c, str)):
        matcher.set_seq1(candidate)
        # the two cheap upper bounds first, as difflib.get_close_matches does
        if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
            score = matcher.ratio()
            if score >= cutoff:
                scored.append((score, candidate))
    scored.sort(key=lambda item: -item[0])  # stable: ties keep the candidates' order
    return tuple(candidate for _, candidate in scored[:n])


def did_you_mean(name: str, candidates: Iterable[str], n: int = 5, cutoff: float = 0.6) -> str:
    """A ``" Did you mean 'a', 'b'?"`` hint naming :func:`close_names`, or ``""``.

    The hint starts with a space so it can follow a sentence directly; it is the English of a
    message's ``close`` parameter (``featviz_widgets.messages``).

    Examples
    --------
    >>> did_you_mean("viridiss", ["viridis", "magma", "viridis"])
    " Did you mean 'viridis'?"
    >>> did_you_mean("zzz", ["viridis"])
    ''
    """
    close = close_names(name, candidates, n, cutoff)
    return ENGLISH["close"].format(names=", ".join(map(repr, close))) if close else ""


def shape_label(shape: Iterable[int]) -> str:
    """A shape as a compact label: ``(128, 28, 28)`` -> ``"128x28x28"``, ``()`` -> ``"scalar"``.

    Accepts any sequence of sizes (a tuple, ``torch.Size``, ``ndarray.shape``).

    Examples
    --------
    >>> shape_label([3, 224, 224]), shape_label(())
    ('3x224x224', 'scalar')
    """
    return "x".join(str(int(size)) for size in shape) or "scalar"
