"""Moved to :mod:`featviz_widgets.lab.patterns`; this alias keeps old notebooks working.

Import from ``featviz_widgets.lab.patterns`` (or ``featviz_widgets.lab``) in new code.
"""

from __future__ import annotations

from featviz_widgets.lab.patterns import CLASS_NAMES, PatternDataset, make_patterns

__all__ = ["CLASS_NAMES", "PatternDataset", "make_patterns"]
