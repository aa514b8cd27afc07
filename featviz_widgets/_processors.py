"""Preprocessing presets of other libraries, read as resize / centre-crop / mean / std.

``weights=`` takes, besides a torchvision weights enum member (handled in ``inputs``):

- a Hugging Face transformers image processor (``AutoImageProcessor.from_pretrained(...)``):
  ``image_mean`` / ``image_std``, ``size`` (``height``/``width`` -> that exact size,
  ``shortest_edge`` -> the short side), ``crop_size`` when ``do_center_crop``, ConvNeXt's
  ``crop_pct``, ``resample``;
- a timm data config (``timm.data.resolve_data_config(model=model)``) or a model's
  ``pretrained_cfg``: ``input_size``, ``crop_pct``, ``crop_mode``, ``interpolation``, ``mean``,
  ``std``, with timm's eval recipe (resize to ``input_size / crop_pct``, centre-crop ``input_size``).

Both are read by attribute / key name: neither library is imported.

Examples
--------
>>> preset = processor_preset({"input_size": (3, 224, 224), "crop_pct": 0.875,
...                            "interpolation": "bicubic", "mean": (0.5,) * 3, "std": (0.5,) * 3})
>>> preset.resize, preset.crop, preset.interpolation.value
([256], [224, 224], 'bicubic')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torchvision.transforms import InterpolationMode

__all__ = ["ProcessorPreset", "processor_preset"]

# PIL's resampling filters by number (what transformers' ``resample`` holds) and timm's names.
_PIL_FILTERS = {
    0: InterpolationMode.NEAREST,
    1: InterpolationMode.LANCZOS,
    2: InterpolationMode.BILINEAR,
    3: InterpolationMode.BICUBIC,
    4: InterpolationMode.BOX,
    5: InterpolationMode.HAMMING,
}
_TIMM_DEFAULT_CROP_PCT = 0.875


@dataclass(frozen=True)
class ProcessorPreset:
    """Resize (one int: the short side; two: height and width), centre-crop, interpolation, mean, std."""

    resize: list[int]
    crop: list[int] | None
    interpolation: InterpolationMode
    mean: tuple[float, ...]
    std: tuple[float, ...]


def processor_preset(weights: Any) -> ProcessorPreset | None:
    """The preset of a transformers image processor or a timm data config; None for others."""
    if weights is None or isinstance(weights, str):
        return None
    if hasattr(weights, "image_mean") and hasattr(weights, "image_std"):
        return _from_image_processor(weights)
    if all(_field(weights, key) is not None for key in ("input_size", "mean", "std")):
        return _from_timm_config(weights)
    return None


def _field(source: Any, key: str) -> Any:
    """``source[key]`` for a mapping, else ``source.key`` (timm's PretrainedCfg, SizeDict)."""
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def _floats(values: Any, what: str) -> tuple[float, ...]:
    if isinstance(values, int | float):
        values = (values,) * 3
    try:
        result = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"the processor's {what} is {values!r}, not a list of numbers") from None
    if len(result) not in (1, 3):
        raise ValueError(f"the processor's {what} has {len(result)} values; expected 1 or 3")
    return result * 3 if len(result) == 1 else result


def _interpolation(value: Any, default: InterpolationMode) -> InterpolationMode:
    if isinstance(value, InterpolationMode):
        return value
    if isinstance(value, str):
        try:
            return InterpolationMode(value.lower())
        except ValueError:
            return default  # timm's "random" and other training-only choices
    try:
        return _PIL_FILTERS.get(int(value), default)
    except (TypeError, ValueError):
        return default


def _from_image_processor(processor: Any) -> ProcessorPreset:
    if _field(processor, "do_normalize") is False:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    else:
        mean = _floats(processor.image_mean, "image_mean")
        std = _floats(processor.image_std, "image_std")
    size = _field(processor, "size")
    height, width = _field(size, "height"), _field(size, "width")
    short = _field(size, "shortest_edge")
    if isinstance(size, int):
        height = width = size
    crop_size = _field(processor, "crop_size")
    crop = None
    if _field(processor, "do_center_crop") and crop_size is not None:
        crop = [int(_field(crop_size, "height")), int(_field(crop_size, "width"))]
    if height and width:
        resize = [int(height), int(width)]
    elif short:
        resize, crop = _shortest_edge(processor, int(short), crop)
    else:
        raise ValueError(
            f"cannot read the size of {type(processor).__name__} (size={size!r}); pass "
            "size= and no weights, or a processor with size height/width or shortest_edge"
        )
    interpolation = _interpolation(_field(processor, "resample"), InterpolationMode.BILINEAR)
    return ProcessorPreset(resize, crop, interpolation, mean, std)


def _shortest_edge(processor: Any, short: int, crop: list[int] | None) -> tuple[list[int], Any]:
    """ConvNeXt's processor: below 384 px, resize to ``short / crop_pct`` and crop ``short``."""
    crop_pct = _field(processor, "crop_pct")
    if isinstance(crop_pct, float) and 0 < crop_pct <= 1:
        if short >= 384:
            return [short, short], None
        return [int(short / crop_pct)], [short, short]
    return [short], crop


def _from_timm_config(config: Any) -> ProcessorPreset:
    size = _field(config, "input_size")
    height, width = (int(size[-2]), int(size[-1])) if not isinstance(size, int) else (size, size)
    crop_pct = _field(config, "crop_pct") or _TIMM_DEFAULT_CROP_PCT
    scaled = [math.floor(height / crop_pct), math.floor(width / crop_pct)]
    if _field(config, "crop_mode") == "squash" or scaled[0] != scaled[1]:
        resize = scaled
    else:
        resize = scaled[:1]  # the short side, as timm's eval transform
    interpolation = _interpolation(_field(config, "interpolation"), InterpolationMode.BILINEAR)
    mean = _floats(_field(config, "mean"), "mean")
    std = _floats(_field(config, "std"), "std")
    return ProcessorPreset(resize, [height, width], interpolation, mean, std)
