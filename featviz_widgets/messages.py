"""Library messages as keys: a code plus parameters, worded in English by ``str()``.

An error or a note the library hands to a person is a :class:`Message`: a ``str`` (its English
text, so plain-Python users read a sentence and may compare or search it as before) that also
carries ``code`` and ``params``. Anything that shows it in another language (the widgets' tables,
``widgets/strings``) words it afresh from the code and the parameters; nothing parses the English
back. Errors carrying a message are :class:`MessageError` subclasses (``MessageValueError``...).

Two kinds of parameter are worded too, never shown raw: a nested :class:`Message` (in the same
language), and ``close``, the names close to a mistyped one, which becomes the " Did you mean
'a', 'b'?" sentence (the template of the code ``close``) or nothing when it is empty.

Pure Python: no NumPy, no torch, so every layer of the package may import it.

Examples
--------
>>> note = Message("layer_moved", asked="features.0.0", field="3x3", layer="features.3")
>>> str(note)
'features.0.0 sees 3x3 pixels; showing features.3, pick a layer to override'
>>> note.code, note.params["layer"]
('layer_moved', 'features.3')
>>> error = MessageValueError("unknown_normalization", name="chanel", choices="channel, layer",
...                           close=("channel",))
>>> str(error)
"unknown normalization 'chanel'; choose one of channel, layer. Did you mean 'channel'?"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "ENGLISH",
    "Message",
    "MessageError",
    "MessageRuntimeError",
    "MessageTypeError",
    "MessageValueError",
    "message_of",
]

_IMAGE_FORMS = (
    "a PIL image, a file path (str or pathlib.Path), an open binary file or bytes, a NumPy array "
    "or a torch tensor"
)
_CLIP_FORMS = (
    "a (T, H, W, 3) uint8 array, a list of frames, or a (C, T, H, W) / (1, C, T, H, W) tensor "
    "(a 4-D tensor with clip=True)"
)
_FRAME_FORMS = (
    "a (T, H, W, 3) uint8 array, a list of frames (PIL images, arrays, paths or tensors), or a "
    "(C, T, H, W) / (1, C, T, H, W) tensor"
)

# The English template of every code (``str.format``; a translation table has the same fields).
ENGLISH: dict[str, str] = {
    # -- words used inside other messages --------------------------------------------------------
    "close": " Did you mean {names}?",
    "another_call": "another featviz call",
    "file_object": "the file object",
    "given_bytes": "the bytes given",
    # -- the model and its layers --------------------------------------------------------------
    "model_busy": "{job} is running: Cancel it or wait for it to finish, then try again",
    "unknown_layer": (
        "unknown layer {name!r} for {model}.{close} list_layers(model) lists its layer names{note}"
    ),
    "unknown_layer_or_node": (
        "unknown layer {name!r} for {model}.{close} list_layers(model) lists module names, "
        "list_nodes(model) lists graph node names{note}"
    ),
    "layer_moved": "{asked} sees {field} pixels; showing {layer}, pick a layer to override",
    # -- images ------------------------------------------------------------------------------------
    "image_type": f"cannot use a {{kind}} as an image; pass {_IMAGE_FORMS}",
    "image_frames": (
        "cannot use a {kind} as an image (a list of frames is a clip: for a video model); "
        f"pass {_IMAGE_FORMS}"
    ),
    "image_text_mode": "the file is open in text mode; open it with mode 'rb'",
    "image_not_found": "image file not found: {path!r}; check the path (cwd: {cwd})",
    "image_directory": "{path!r} is a directory; pass the path of one image file",
    "bad_image": "{name} is not an image PIL can read; pass a PNG, JPEG or other image file",
    "image_truncated": "could not decode {name}: {error}; is the file complete?",
    "image_too_large": (
        "{name} is too large to decode safely ({error}); PIL's decompression-bomb guard is on: "
        "downscale the image first, or raise PIL.Image.MAX_IMAGE_PIXELS only for files you trust"
    ),
    "image_empty": "the {what} is empty (shape {shape}); pass an image with pixels",
    "image_not_finite": (
        "the {what} contains NaN or Inf pixels; replace them first, e.g. np.nan_to_num(a)"
    ),
    "image_negative": (
        "the {what} has negative pixels (min {low:.3g}): it looks normalized; pass the raw image "
        "(uint8, or float in 0..1 or 0..255)"
    ),
    # -- clips and video models --------------------------------------------------------------------
    "clip_type": f"cannot use a {{kind}} as a clip; pass {_FRAME_FORMS}",
    "clip_empty": "the clip is an empty list; pass at least one frame",
    "clip_sizes": "the clip's frames differ in size ({sizes}); pass frames of one size",
    "clip_flag": "clip must be True, False or None, got {value!r}",
    "clip_ambiguous": (
        "a 4-D tensor {shape} for a video model is ambiguous: pass clip=True to read it as one "
        "clip (C, T, H, W) (a (T, C, H, W) tensor: x.permute(1, 0, 2, 3)), or clip=False for one "
        "image (1, C, H, W)"
    ),
    "clip_for_image_model": (
        "got a clip, but {model} takes images (its first convolution is not a Conv3d): pass one "
        "frame, e.g. frames[0] or x[0, :, 0] of a (1, C, T, H, W) tensor, or a video model"
    ),
    "image_for_video_model": (
        "{model} takes clips (its first convolution is a Conv3d), got one image: pass a clip, "
        f"{_CLIP_FORMS}"
    ),
    "clip_size_refused": (
        "{model} does not run on clips of {height}x{width} frames ({error}); pass size=224 or the "
        "model's weights= (their crop size)"
    ),
    "clip_frames_refused": (
        "{model} does not run on a clip of {frames} frames at {height}x{width}; it runs on {need} "
        "frames (its temporal strides and pools need them): pass a clip of {need} frames"
    ),
    "clip_preprocess": (
        "preprocess= is for Keras image models; a clip is normalized with mean/std (weights=, "
        "else ImageNet's): leave preprocess out"
    ),
    # -- captions of the input ---------------------------------------------------------------------
    "unit_scale": "pixels scaled to [0, 1] (no preprocess=)",
    # -- rendering ---------------------------------------------------------------------------------
    "colormap_type": "cmap must be a matplotlib colormap name (str), got {kind}",
    "unknown_colormap": (
        "unknown colormap {name!r}.{close} Use a matplotlib colormap name, e.g. {common} "
        "(all {count}: sorted(matplotlib.colormaps))"
    ),
    "unknown_normalization": "unknown normalization {name!r}; choose one of {choices}.{close}",
    # -- models as users hand them over ----------------------------------------------------------
    "model_unwrapped": (
        "featviz explores the {inner} inside this {wrapper} (model.{path}); layer names work "
        "with or without the '{path}.' prefix"
    ),
    "model_uncompiled": (
        "featviz explores the {inner} inside this {wrapper} (model.{path}) and runs it "
        "uncompiled: hooks would recompile it at every layer change; layer names work with or "
        "without the '{path}.' prefix"
    ),
    "model_scripted": (
        "{model} is a TorchScript model (torch.jit.script or torch.jit.load): torch does not let "
        "its layers be hooked; explore the eager nn.Module it was scripted from instead"
    ),
    "model_lazy": (
        "layer {layer!r} ({kind}) has no parameters yet: run the model once on an input "
        "(model(x)) before exploring it"
    ),
    "input_independent": (
        "layer {layer!r} does not depend on the input pixels (e.g. a position-bias table): "
        "there is no picture to find for it; pick a layer the image flows through"
    ),
    "inside_scripted": (
        " ({name!r} is inside the TorchScript module {scripted!r}, whose insides torch does not "
        "let anyone hook: pick {scripted!r} itself or a layer outside it)"
    ),
}


class Message(str):
    """A message: its English text as a ``str``, plus ``code`` and ``params`` to word it again.

    Parameters
    ----------
    code : str
        A key of :data:`ENGLISH` (KeyError otherwise: a code is never made up on the spot).
    **params
        The values its template names. ``close`` is a sequence of names (worded as the "Did you
        mean" sentence); a :class:`Message` value is worded in the same language as its parent.

    Examples
    --------
    >>> Message("model_busy", job="Maximize").params["job"]
    'Maximize'
    """

    code: str
    params: Mapping[str, Any]

    def __new__(cls, code: str, /, **params: Any) -> Message:
        if code not in ENGLISH:
            raise KeyError(f"no message has the code {code!r}; see featviz_widgets.messages")
        english = _word(code, params, ENGLISH.get)
        message = super().__new__(cls, english)
        message.code = code
        message.params = MappingProxyType(dict(params))
        return message

    def worded(self, template_of: Callable[[str], str | None]) -> str | None:
        """This message worded with ``template_of(code)``; None when it has no template.

        A nested message without a template of its own falls back to its English.
        """
        return _word(self.code, self.params, template_of)

    def __reduce__(self) -> tuple:
        return (_rebuild_message, (self.code, dict(self.params)))


def _rebuild_message(code: str, params: dict[str, Any]) -> Message:
    return Message(code, **params)


def _word(code: str, params: Mapping[str, Any], template_of: Callable[[str], str | None]) -> Any:
    template = template_of(code)
    if template is None:
        return None
    values = {name: _value(name, value, template_of) for name, value in params.items()}
    return template.format(**values)


def _value(name: str, value: Any, template_of: Callable[[str], str | None]) -> Any:
    if isinstance(value, Message):
        return value.worded(template_of) or str(value)
    if name == "close":
        if not value:
            return ""
        sentence = template_of("close") or ENGLISH["close"]
        return sentence.format(names=", ".join(map(repr, value)))
    return value


class MessageError(Exception):
    """An error whose text is a :class:`Message` (mixed with ValueError, TypeError...).

    ``str(error)`` is the English text; ``error.message``, ``error.code`` and ``error.params``
    say it again in any language. Errors pickle by code and parameters (a Ray worker's error
    arrives whole).
    """

    message: Message

    def __init__(self, code: str, /, **params: Any) -> None:
        message = Message(code, **params)
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return self.message.code

    @property
    def params(self) -> Mapping[str, Any]:
        return self.message.params

    def __reduce__(self) -> tuple:
        return (_rebuild_error, (type(self), self.code, dict(self.params)))


def _rebuild_error(cls: type[MessageError], code: str, params: dict[str, Any]) -> MessageError:
    error = cls.__new__(cls)
    MessageError.__init__(error, code, **params)  # not cls.__init__: a subclass may take others
    return error


class MessageValueError(MessageError, ValueError):
    """A ValueError carrying a :class:`Message`."""


class MessageTypeError(MessageError, TypeError):
    """A TypeError carrying a :class:`Message`."""


class MessageRuntimeError(MessageError, RuntimeError):
    """A RuntimeError carrying a :class:`Message`."""


# Where a type is named to a person ("ValueError: unknown colormap ..." in a widget, a caption),
# these read as the built-in error they are: ``__name__`` is the built-in's, while ``__qualname__``
# (what a traceback prints, with the module) keeps the class's own name.
MessageValueError.__name__ = "ValueError"
MessageTypeError.__name__ = "TypeError"
MessageRuntimeError.__name__ = "RuntimeError"


def message_of(error: BaseException) -> Message | None:
    """The :class:`Message` an error carries, or None for an error worded only in English."""
    return error.message if isinstance(error, MessageError) else None
