"""Moved to :mod:`featviz_widgets.lab.samples`; this alias keeps old notebooks working.

Import from ``featviz_widgets.lab.samples`` (or ``featviz_widgets.lab``) in new code.
"""

from __future__ import annotations

from featviz_widgets.lab.samples import (
    SAMPLE_NAMES,
    astronaut,
    chelsea,
    coffee,
    grace_hopper,
    imagenet_mobilenet_v2,
    load_sample,
)

__all__ = [
    "SAMPLE_NAMES",
    "astronaut",
    "chelsea",
    "coffee",
    "grace_hopper",
    "imagenet_mobilenet_v2",
    "load_sample",
]
