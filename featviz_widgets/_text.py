"""Small text helpers shared by error messages and captions: pure Python, no torch or NumPy.

Examples
--------
>>> f"unknown layer 'layer1.0.ad'.{did_you_mean('layer1.0.ad', ['layer1.0.add', 'layer1'])}"
"unknown layer 'layer1.0.ad'. Did you mean 'layer1.0.add'?"
>>> shape_label((128, 28, 28))
'128x28x28'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean", "shape_label"]


def did_you_mean(name: str, candidates: Iterable[str], n: int = 5, cutoff: float = 0.6) -> str:
    """A ``" Did you mean 'a', 'b'?"`` hint naming the candidates closest to ``name``, or ``""``.

    The hint starts with a space so it can follow a sentence directly. Each candidate is named at
    most once, best match first (``difflib.get_close_matches``); a ``name`` that is not a string
    gets no hint.

    Parameters
    ----------
    name : str
        What the user typed.
    candidates : iterable of str
        The valid names (duplicates are ignored; their first order breaks ties).
    n : int
        At most this many suggestions.
    cutoff : float
        Similarity in [0, 1] a candidate needs (``difflib.SequenceMatcher.ratio``).

    Examples
    --------
    >>> did_you_mean("viridiss", ["viridis", "magma", "viridis"])
    " Did you mean 'viridis'?"
    >>> did_you_mean("zzz", ["viridis"])
    ''
    """
    if not isinstance(name, str):
        return ""
    unique = list(dict.fromkeys(c for c in candidates if isinstance(c, str)))
    close = difflib.get_close_matches(name, unique, n=n, cutoff=cutoff)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


def shape_label(shape: Iterable[int]) -> str:
    """A shape as a compact label: ``(128, 28, 28)`` -> ``"128x28x28"``, ``()`` -> ``"scalar"``.

    Accepts any sequence of sizes (a tuple, ``torch.Size``, ``ndarray.shape``).

    Examples
    --------
    >>> shape_label([3, 224, 224]), shape_label(())
    ('3x224x224', 'scalar')
    """
    return "x".join(str(int(size)) for size in shape) or "scalar"
