"""The result of one attribution: its maps, what it explains, and how to draw it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import render


@dataclass(frozen=True)
class Attribution:
    """One method's answer to "why this score?" for one image.

    Attributes
    ----------
    map : np.ndarray
        float32 ``[H, W]`` at the size of ``image``: the CAM upsampled bilinearly (zero or
        above), or an input-space method's attributions summed over the colour channels (signed
        for Integrated Gradients and occlusion). Not normalized: values keep their units.
    layer_map : np.ndarray | None
        float32 ``[h, w]``: the CAM at the layer's resolution, before upsampling (CAM family).
    channels : np.ndarray | None
        float32 ``[C]``: each channel's contribution to the CAM, the mean of its weighted map
        (CAM family); see :meth:`top_channels`.
    input_map : np.ndarray | None
        float32 ``[C_in, H, W]``: the input attributions as Captum returns them (input methods).
    target : int | tuple[str, int]
        The class index explained, or ``(layer, channel)``.
    target_name : str | None
        The class's name when the model or ``weights=``/``labels=`` name it, ``"layer:channel"``
        for a channel target, else None.
    score : float
        The target's score on the image: the class logit, the channel's mean, a detection's
        score, or a segmentation class's scores summed over its pixels.
    method : str
    layer : str | None
        The layer the CAM was computed on (None for input-space methods).
    image : np.ndarray
        uint8 ``[H, W, 3]``: the picture the model saw, before normalization.
    box : int | None
        The detection explained (its rank in the model's output, best first; ``target`` is its
        class), else None.
    """

    map: np.ndarray
    layer_map: np.ndarray | None
    channels: np.ndarray | None
    input_map: np.ndarray | None
    target: int | tuple[str, int]
    target_name: str | None
    score: float
    method: str
    layer: str | None
    image: np.ndarray
    box: int | None = None

    def top_channels(self, k: int = 8) -> list[tuple[int, float]]:
        """The ``k`` channels that contribute most to the CAM: ``[(channel, contribution)]``,
        largest first.

        Examples
        --------
        >>> result.top_channels(3)  # doctest: +SKIP
        [(412, 0.031), (87, 0.027), (3, 0.019)]
        """
        if self.channels is None:
            raise ValueError(
                f"{self.method!r} explains input pixels, not a layer's channels: use a CAM method "
                "(e.g. method='gradcam') for channel contributions"
            )
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        order = np.argsort(-self.channels, kind="stable")[:k]
        return [(int(c), float(self.channels[c])) for c in order]

    def heat(self) -> np.ndarray:
        """The map as drawn: the CAM, or the magnitude of input attributions (float32 [H, W])."""
        return self.map if self.layer_map is not None else np.abs(self.map)

    def overlay(self, *, cmap: str = "jet", opacity: float = 0.5) -> np.ndarray:
        """The heatmap over the picture: uint8 ``[H, W, 3]`` (``render.overlay``)."""
        return render.overlay(self.image, self.heat(), alpha=opacity, cmap=cmap)

    def png(self, *, overlay: bool = True, cmap: str = "jet", opacity: float = 0.5) -> bytes:
        """PNG bytes of :meth:`overlay`, or of the heatmap alone (``overlay=False``)."""
        if overlay:
            return render.to_png(self.overlay(cmap=cmap, opacity=opacity))
        return render.to_png(render.colorize(render.normalize(self.heat()[None])[0], cmap))
