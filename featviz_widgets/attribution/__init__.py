"""Attribution: why the model gave this class (or this channel) its score, and where.

:func:`attribute` runs one method on one image: the CAM family on a layer (``"gradcam"``,
``"gradcam++"``, ``"hirescam"``, ``"layercam"``, ``"scorecam"``), or an input-space method through
Captum (``"saliency"``, ``"smoothgrad"``, ``"integrated_gradients"``, ``"occlusion"``,
``"guided_backprop"``). The engine knows every layer's layout, so there is no target layer or
reshape to write; the result, :class:`Attribution`, holds the maps and draws itself.
:func:`sanity_check` runs the model-randomization test of a method (does its map change when
the model's top layers forget what they learned?); :func:`faithfulness` the deletion and
insertion scores of an attribution (does the score follow the pixels it ranks first?).

Examples
--------
>>> import numpy as np, torchvision
>>> from featviz_widgets.attribution import attribute
>>> net = torchvision.models.resnet18()
>>> result = attribute(net, np.zeros((64, 64, 3), np.uint8), size=64)
>>> result.method, result.layer, result.map.shape
('gradcam', 'layer4', (64, 64))
"""

from __future__ import annotations

from ._attribute import METHODS, attribute
from ._faithfulness import Faithfulness, faithfulness
from ._result import Attribution
from ._sanity import SanityCheck, rank_correlation, sanity_check

__all__ = [
    "METHODS",
    "Attribution",
    "Faithfulness",
    "SanityCheck",
    "attribute",
    "faithfulness",
    "rank_correlation",
    "sanity_check",
]
