"""The engine: the only code in featviz that touches a model (imports torch, never widgets).

Module names (``model.named_modules()``, e.g. ``"layer1.0.conv1"``) are recorded with forward
hooks; FX graph node names (``"layer1.0.add"``, ``"flatten"``) go through torchvision's feature
extraction. Every path runs inside the model's :class:`ModelOwner` (``owner_for(model)``): one
re-entrant lock per model, the state snapshot and restore (no hooks left, training flags,
``requires_grad``, ``.grad``, parameters and buffers as before, also when the forward raises), the
device/dtype and the input size the model accepts. Captured activations that live on (in the
explorer) are kept under one process-wide memory budget (:func:`set_memory_budget`).

The framework is the owner's business: ``owner_for(model).adapter`` (``adapters.torch`` for any
``nn.Module``, ``adapters.keras`` for Keras 3 models on the torch backend) lists layers, records
outputs, feeds inputs in the model's layout and reads kernels in torch's layout.

Code that runs a model many times records through :class:`Recording` (activation maximization
with the autograd graph, dataset examples batch after batch); the layout of every output comes
from :func:`layouts`, layer names are checked by :func:`check_layers` (one unknown-layer error,
:func:`unknown_layer_error`), and the image side to feed a model by :func:`default_input_side`.

Submodules: ``adapters`` (torch, keras), ``_types`` (LayerInfo, is_keras: the leaf every other
module may import), ``_capture`` (list_layers, list_nodes, capture, survey, survey_nodes),
``_names`` (the layer-name check and its error), ``_context`` (Capture), ``_recording``
(Recording), ``_wrappers`` (the network inside torch.compile / DataParallel wrappers, refusals
of scripted and uninitialized lazy models), ``_layouts`` (layouts), ``_recorder`` (the one hook mechanism and the output-naming
grammar), ``_fx`` (graph nodes), ``_state`` (snapshot, device, dtype), ``_facts`` (input size,
class names and scores a model declares, the image list a detection model takes), ``_outputs``
(what an output holds: class scores, detected boxes, a segmentation), ``owner`` (ModelOwner),
``budget`` (the memory budget), ``fused`` (the batch-norm-folded twin), ``receptive`` (how much
of the image a layer sees), ``attribution`` (gradients of a class or channel: the entry point)
with ``attribution_target`` (what is explained: a class, a channel, a detection, a segmentation
class), ``attribution_layers`` (the default layer), ``attribution_cam`` (the CAM family on a
layer's maps), ``attribution_input`` (Captum's input-space methods), ``attribution_perturb``
(RISE deletion and insertion curves) and ``attribution_random`` (the model-randomization copy).

Examples
--------
>>> import torch, torchvision
>>> from featviz_widgets.engine import capture, list_layers
>>> model = torchvision.models.resnet18()
>>> acts = capture(model, torch.randn(1, 3, 64, 64), ["layer1", "layer1.0.add"])
>>> list(acts)
['layer1.0.add', 'layer1']
"""

from __future__ import annotations

from ._capture import Survey, capture, list_layers, list_nodes, survey, survey_nodes
from ._context import Capture
from ._facts import class_scores
from ._layouts import layouts
from ._names import check_layers, unknown_layer_error
from ._outputs import Detections, detections, output_kind, segmentation_scores
from ._recorder import CaptureKey, base_name, parse_key
from ._recording import Recording, RecordingError
from ._state import check_model, input_channels, model_device, model_dtype, preserved_state
from ._types import LayerInfo
from ._wrappers import strip_wrapper_prefix
from .attribution import ATTRIBUTION_METHODS, AttributionMaps, attribution_maps
from .budget import BudgetCache, memory_budget, memory_in_use, set_memory_budget
from .fused import output_twin
from .owner import ModelBusy, ModelOwner, default_input_side, owner_for
from .receptive import ReceptiveField, receptive_field

__all__ = [
    "ATTRIBUTION_METHODS",
    "AttributionMaps",
    "BudgetCache",
    "Capture",
    "CaptureKey",
    "Detections",
    "LayerInfo",
    "ModelBusy",
    "ModelOwner",
    "ReceptiveField",
    "Recording",
    "RecordingError",
    "Survey",
    "attribution_maps",
    "base_name",
    "capture",
    "check_layers",
    "check_model",
    "class_scores",
    "default_input_side",
    "detections",
    "input_channels",
    "layouts",
    "list_layers",
    "list_nodes",
    "memory_budget",
    "memory_in_use",
    "model_device",
    "model_dtype",
    "output_kind",
    "output_twin",
    "owner_for",
    "parse_key",
    "preserved_state",
    "receptive_field",
    "segmentation_scores",
    "set_memory_budget",
    "strip_wrapper_prefix",
    "survey",
    "survey_nodes",
    "unknown_layer_error",
]
