"""Where dataset-example results are saved on disk, one ``.npz`` per fingerprint and ``k``.

A result is found again by what made it (:mod:`featviz_widgets.examples.fingerprint`: weights,
layers, preprocessing, images), so a new explorer on the same model, dataset and preprocessing
reads it back instead of running. Files live under
``platformdirs.user_cache_dir("featviz_widgets")/examples``, or under ``$FEATVIZ_CACHE_DIR/examples``
when that variable is set (the tests point it at a temporary folder).

Examples
--------
>>> result_file("0123abcd" * 8, 9).name
'0123abcd0123abcd0123abcd0123abcd0123abcd-k9.npz'
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .result import Examples

CACHE_ENV = "FEATVIZ_CACHE_DIR"


def cache_dir() -> Path:
    """Where results are saved: ``$FEATVIZ_CACHE_DIR/examples`` or the user cache directory."""
    base = os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("featviz_widgets")
    return Path(base) / "examples"


def result_file(key: str, k: int) -> Path:
    """The file that holds the result of fingerprint ``key`` at top-``k`` (the folder may not
    exist yet: the run that saves it creates it)."""
    return cache_dir() / f"{key[:40]}-k{k}.npz"


def load_saved(path: Path) -> Examples | None:
    """The result saved at ``path`` (complete or partial), or None when there is none or the
    file is damaged (the next run replaces it)."""
    if not path.exists():
        return None
    try:
        return Examples.load(path)
    except ValueError:
        return None
