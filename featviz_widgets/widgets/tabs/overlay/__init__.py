"""The Overlay tab: the selected channel's map over the photo."""

from __future__ import annotations

from featviz_widgets.widgets.tabs.overlay.tab import OverlayTab

TAB = OverlayTab

__all__ = ["TAB", "OverlayTab"]
