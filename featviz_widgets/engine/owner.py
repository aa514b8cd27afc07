"""One owner per model: the lock every forward takes, the state it restores, the model's facts.

Everything in featviz that runs or traces a user's model (capture, graph nodes, activation
maximization, the widgets, the input-size probe) does it inside ``owner_for(model).using()``. The
owner serializes those paths across threads with a fair re-entrant lock, so a click in the
notebook and a step of a background job never interleave, and it snapshots the model's state when
the outermost user enters and restores it when that user leaves: training flags, ``requires_grad``,
``.grad``. Long jobs take the lock per step; a click waits for the current step, not the whole job,
and gets :class:`ModelBusy` ("Maximize is running: Cancel it or wait") if even that takes too long.

Examples
--------
>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
>>> owner = owner_for(net)
>>> owner is owner_for(net)
True
>>> with owner.using():
...     _ = net.eval()  # restored on exit
>>> net.training
True
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..messages import Message, MessageRuntimeError
from . import _facts
from ._state import check_model, model_device, model_dtype
from .adapters import Adapter, adapter_for

__all__ = ["ModelBusy", "ModelOwner", "owner_for"]

# Clip lengths the owner tries, shortest first, when it looks for the frames a video model takes:
# 4 frames is the shortest clip that still has a time axis after a temporal stride of 2 or 4;
# 16 is what MViT (exactly) and S3D (at least 13, its last pool) need.
CLIP_FRAMES = (4, 8, 16, 32)

# How long a widget action waits for a background job's current step before it gives up
# and tells the user the model is busy (library calls from a script wait without limit).
WIDGET_WAIT_S = 10.0


class ModelBusy(MessageRuntimeError):
    """The model is held by a background job for longer than the caller is willing to wait.

    Its message has the code ``model_busy`` and the job's name (``owner.running(name)``) as
    ``job``; without a named job, ``job`` is the message ``another_call``.
    """

    def __init__(self, job: str | None = None) -> None:
        super().__init__("model_busy", job=job or Message("another_call"))


class _FairLock:
    """A re-entrant lock that hands itself to waiters in arrival order.

    ``threading.RLock`` lets a releasing thread take the lock straight back, so a job that releases
    and re-acquires it every step could starve a waiting click forever. Here a releasing thread
    that asks again queues behind whoever was already waiting.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[object] = deque()

    def acquire(self, timeout: float | None = None) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            ticket = object()
            self._queue.append(ticket)
            granted = self._cond.wait_for(
                lambda: self._owner is None and self._queue[0] is ticket, timeout
            )
            if not granted:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line may be free to go now
                return False
            self._queue.popleft()
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a model lock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def held_by_me(self) -> bool:
        return self._owner == threading.get_ident()

    def depth(self) -> int:
        return self._depth if self.held_by_me() else 0


class ModelOwner:
    """The one object through which featviz touches ``model``.

    Attributes
    ----------
    model : the user's network.
    adapter : how its framework is listed, run and read (``engine.adapters``: torch, keras).
    job : the name of the background job that is using the model now ("Maximize"), or None.
    """

    def __init__(self, model: nn.Module) -> None:
        # A weak reference: owners live in a WeakKeyDictionary keyed by the model, and a strong
        # one here would keep every model ever shown alive for the life of the process.
        self._model = weakref.ref(check_model(model))
        self.adapter: Adapter = adapter_for(model)
        self.job: str | None = None
        self._lock = _FairLock()
        # (height, width) of an image, (frames, height, width) of a clip, run or probed -> why
        # it was rejected (None: accepted)
        self._sizes: dict[tuple[int, ...], str | None] = {}
        # Facts about the model computed once by other engine modules (receptive fields, by
        # layer and input size): they live as long as the model, here.
        self.memo: dict[tuple, object] = {}

    @property
    def model(self) -> nn.Module:
        model = self._model()
        if model is None:
            raise RuntimeError("the model of this owner was garbage-collected")
        return model

    # -- the lock and the state ----------------------------------------------------------------
    @contextmanager
    def using(self, timeout: float | None = None) -> Iterator[nn.Module]:
        """Hold the model: no other thread runs it until the block ends; state restored after.

        Re-entrant: a nested ``using`` in the same thread just runs. ``timeout`` (seconds) bounds
        the wait for another thread; past it, :class:`ModelBusy` says who holds the model.
        """
        if not self._lock.acquire(timeout=timeout):
            raise ModelBusy(self.job)
        try:
            outermost = self._lock.depth() == 1
            with self.adapter.preserved_state(self.model) if outermost else nullcontext(self.model):
                yield self.model
        finally:
            self._lock.release()

    @contextmanager
    def running(self, job: str) -> Iterator[None]:
        """Mark a background job as the model's user, for the busy message (not a lock)."""
        self.job = job
        try:
            yield
        finally:
            self.job = None

    def held(self) -> bool:
        """Whether the calling thread holds the model now."""
        return self._lock.held_by_me()

    # -- facts ---------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    @property
    def dtype(self) -> torch.dtype:
        return model_dtype(self.model)

    @property
    def input_channels(self) -> int | None:
        return self.adapter.input_channels(self.model)

    @property
    def takes_clips(self) -> bool:
        """Whether the model's input is a clip ``[N, C, T, H, W]`` (its stem is a Conv3d)."""
        return self.adapter.input_dims(self.model) == 3

    def still_clips(self, batch: torch.Tensor) -> torch.Tensor:
        """Images ``[N, C, H, W]`` as a video model's input: each photo repeated over the fewest
        frames the model runs on (the "boring video" used to inflate 2-D nets into 3-D ones).
        Any other batch, or any batch of an image model, is returned as it is (no copy)."""
        if batch.dim() != 4 or not self.takes_clips:
            return batch
        height, width = (int(s) for s in batch.shape[-2:])
        frames = self.clip_frames((height, width))
        if frames is None:
            raise ValueError(
                f"the video model runs on no short clip of {height}x{width} frames; pass a "
                "larger size= (its own crop size, e.g. 112 or 224)"
            )
        return batch.unsqueeze(2).expand(-1, -1, frames, -1, -1)

    def clip_frames(self, size: tuple[int, int]) -> int | None:
        """The fewest frames of :data:`CLIP_FRAMES` the model runs on at (height, width) ``size``,
        or None when it runs on none of them (one cached probe per length until one runs)."""
        seen = sorted(k[0] for k, why in self._sizes.items() if why is None and k[1:] == size)
        for frames in CLIP_FRAMES:
            if seen and seen[0] <= frames:  # a clip this short already ran at this size
                return seen[0]
            key = (frames, *size)
            if key not in self._sizes:
                self._probe(key, torch.zeros(1, self.input_channels or 3, *key))
            if self._sizes[key] is None:
                return frames
        return None

    def clip_refusal(self, size: tuple[int, int]) -> str | None:
        """Why the model refused the longest clip :meth:`clip_frames` tried at ``size``."""
        return self._sizes.get((CLIP_FRAMES[-1], *size))

    def fixed_input_size(self) -> tuple[int, int] | None:
        """The one (height, width) the model accepts, or None when it does not say it takes one.

        From the model's own metadata (:func:`~._facts.declared_input_size`: torchvision's
        ``image_size``, timm's ``img_size`` / ``patch_embed.img_size``, Hugging Face's
        ``config.image_size``). A model that only claims to be fixed-size (timm's
        ``pretrained_cfg["fixed_input_size"]``) gets one cheap probe, cached: the size it was
        already seen running at, else its pretrained ``input_size`` if the model accepts it.
        """
        declared = self.adapter.declared_input_size(self.model)
        if declared is not None:
            return declared
        claim = self.adapter.says_fixed_size(self.model)
        if claim is None:
            return None
        seen = [hw for hw, why in self._sizes.items() if why is None and len(hw) == 2]
        if seen:
            return seen[0]
        if claim not in self._sizes:
            self._probe(claim, torch.zeros(1, self.input_channels or 3, *claim))
        return claim if self._sizes[claim] is None else None

    def preferred_side(self) -> int | None:
        """The side of the square image to show the model, or None when it says none.

        The model's fixed square size (:meth:`fixed_input_size`); for a model that resizes its
        own inputs (torchvision detection), the short side it resizes to, so that the picture
        shown is the one the model works on.
        """
        fixed = self.fixed_input_size()
        if fixed is not None:
            return fixed[0] if fixed[0] == fixed[1] else None
        own = self.adapter.image_list_input(self.model)
        return own.side if own is not None else None

    def class_names(self) -> list[str] | None:
        """Class names the model carries (``config.id2label``, timm's ``label_names``), or None."""
        return self.adapter.class_names(self.model)

    def ran_at(self, size: tuple[int, ...]) -> None:
        """Note that a forward at this (height, width), or a clip of (frames, height, width),
        just succeeded (no probe needed for it)."""
        if len(size) in (2, 3):
            self._sizes.setdefault(tuple(int(s) for s in size), None)

    def accepts(self, size: int | tuple[int, int], example: Tensor) -> str | None:
        """None when the model runs on ``example`` resized to ``size``, else why not (cached).

        One no-grad forward per size, under the lock; the model's state is restored after. A
        clip ``[N, C, T, H, W]`` keeps its frames: each is resized.
        """
        hw = _facts.pair(size)
        if tuple(example.shape[-2:]) == hw:
            return None
        clip = example.dim() == 5
        key = (int(example.shape[2]), *hw) if clip else hw
        if key not in self._sizes:
            mode = "trilinear" if clip else "bilinear"
            x = F.interpolate(example.float(), size=key, mode=mode, align_corners=False)
            self._probe(key, x)
        return self._sizes[key]

    def _probe(self, hw: tuple[int, ...], x: Tensor) -> str | None:
        """Run ``x`` once (no grad, eval, state restored); cache and return why it failed."""
        with self.using(), torch.no_grad():
            self.adapter.to_eval(self.model)
            try:
                self.adapter.forward(self.model, x)
                self._sizes[hw] = None
            except Exception as error:  # the model's own error, whatever its type
                first = (str(error).strip().splitlines() or [""])[0]
                self._sizes[hw] = f"{type(error).__name__}: {first}"[:200]
        return self._sizes[hw]


def to_eval(model: nn.Module) -> None:
    """Inference mode as the model's framework has it (torch: eval, touching the modules only
    when one is training, ``__setattr__`` being slow; Keras: every call passes training=False)."""
    owner_for(model).adapter.to_eval(model)


_OWNERS: weakref.WeakKeyDictionary[nn.Module, ModelOwner] = weakref.WeakKeyDictionary()
_OWNERS_LOCK = threading.Lock()


def owner_for(model: nn.Module) -> ModelOwner:
    """The model's owner, created on first use and shared by every featviz path in the process.

    A wrapped model (``torch.compile``, ``DataParallel``) shares the owner of the network inside.
    """
    model = check_model(model)
    with _OWNERS_LOCK:
        owner = _OWNERS.get(model)
        if owner is None:
            owner = _OWNERS[model] = ModelOwner(model)
        return owner


def default_input_side(model: nn.Module, size: int | None = None) -> int:
    """The side of the square image to feed ``model`` when the caller names none.

    ``size`` when given; else the side the model prefers (:meth:`ModelOwner.preferred_side`: its
    fixed square input size, or the short side a detection model resizes to); else 224, the
    size most ImageNet models were trained at. The explorer and dataset examples both use it.

    Examples
    --------
    >>> default_input_side(nn.Conv2d(3, 4, 3)), default_input_side(nn.Conv2d(3, 4, 3), 64)
    (224, 64)
    """
    if size is not None:
        return size
    return owner_for(model).preferred_side() or 224
