"""A tiny CNN and a training helper for the teaching lab.

``TinyCNN`` is small enough to train from scratch on :func:`featviz_widgets.lab.patterns.make_patterns`
in seconds on a laptop CPU, and its first layer (``conv1``, eight 5x5 kernels) is large enough to
show the kernels turning into edge and stripe detectors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from featviz_widgets.inputs import normalization
from featviz_widgets.lab.patterns import PatternDataset

__all__ = [
    "TinyCNN",
    "TrainHistory",
    "evaluate",
    "standardize",
    "train",
]

# conv1's SGD learning rate, relative to the Adam learning rate of the other layers.
_CONV1_LR_SCALE = 7.0


def standardize(images: torch.Tensor) -> torch.Tensor:
    """Images in ``[0, 1]`` ``[N, 3, H, W]`` -> the ImageNet-standardized input a model is trained on.

    :func:`featviz_widgets.prepare_image` (and so ``LayerExplorer``) standardizes every image this way
    when no ``weights`` are given, so :func:`train` and :func:`evaluate` do the same: a model trained
    here sees in the explorer exactly what it saw in training.

    Examples
    --------
    >>> standardize(torch.ones(1, 3, 2, 2))[0, :, 0, 0]
    tensor([2.2489, 2.4286, 2.6400])
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected [N, 3, H, W] images, got shape {tuple(images.shape)}")
    mean, std = (
        torch.tensor(values, dtype=images.dtype).view(1, -1, 1, 1) for values in normalization(None)
    )
    return (images - mean) / std


class TinyCNN(nn.Module):
    """Three conv blocks and a linear classifier, with one named attribute per layer.

    Layer names (``conv1``, ``relu1``, ``pool1``, ... ``fc``) are what ``list_layers`` and
    ``LayerExplorer`` show, so they are spelled out instead of hidden in an ``nn.Sequential``.

    Parameters
    ----------
    num_classes : int
        Size of the output logits.
    in_channels : int
        Channels of the input images (3 for RGB).
    width : int
        Channels of ``conv1``; ``conv2`` and ``conv3`` have ``2 * width`` and ``4 * width``.

    Examples
    --------
    >>> model = TinyCNN(num_classes=7)
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 7])
    """

    def __init__(self, num_classes: int = 7, in_channels: int = 3, width: int = 8) -> None:
        super().__init__()
        if num_classes < 1 or in_channels < 1 or width < 1:
            raise ValueError(
                f"num_classes, in_channels and width must be >= 1, got "
                f"{num_classes}, {in_channels}, {width}"
            )
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(width, 2 * width, kernel_size=3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(2 * width, 4 * width, kernel_size=3, padding=1)
        self.relu3 = nn.ReLU()
        self.pool3 = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)
        with torch.no_grad():
            # conv1 starts at a tenth of PyTorch's default scale, so after training its kernels show
            # what was learned (oriented edges and stripes) rather than leftover initial noise.
            self.conv1.weight.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.pool3(self.relu3(self.conv3(x)))
        return self.fc(torch.flatten(x, 1))


@dataclass
class TrainHistory:
    """What :func:`train` measured, one entry per epoch.

    ``test_accuracy`` stays empty when no test set was given.
    """

    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train(
    model: nn.Module,
    dataset: PatternDataset,
    epochs: int = 5,
    *,
    test: PatternDataset | None = None,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    on_epoch: Callable[[int, TrainHistory], None] | None = None,
) -> TrainHistory:
    """Train ``model`` in place (Adam, cosine learning-rate decay); leave it in eval mode.

    A ``conv1`` weight (as in :class:`TinyCNN`) is trained with SGD with momentum instead: its updates
    follow the gradient, so the kernels become clean edge detectors, where Adam's per-weight step
    sizes leave them speckled with colour noise.

    Images are :func:`standardize`-d first, as ``LayerExplorer`` does with any image it is given.

    Parameters
    ----------
    model : nn.Module
        A classifier taking ``dataset.images`` batches and returning logits.
    dataset : PatternDataset
        Training data (anything with ``images`` and ``labels`` tensors).
    epochs : int
        Passes over the training data.
    test : PatternDataset, optional
        Held-out data evaluated after every epoch.
    batch_size, lr : int, float
        Mini-batch size and Adam learning rate (``conv1``'s SGD uses ``7 * lr``).
    seed : int
        Seeds the shuffling, so the same seed and initial weights give the same run.
    on_epoch : callable, optional
        ``on_epoch(epoch, history)`` after every epoch (epoch counts from 1), e.g. to print progress.

    Returns
    -------
    TrainHistory

    Examples
    --------
    >>> from featviz_widgets.lab.patterns import make_patterns
    >>> history = train(TinyCNN(), make_patterns(700), epochs=1)
    >>> len(history.loss)
    1
    """
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(
            f"epochs and batch_size must be >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}"
        )
    images, labels = _tensors(dataset)
    generator = torch.Generator().manual_seed(seed)
    optimizers = _optimizers(model, lr)
    # Cosine decay to zero: the last epochs settle instead of oscillating around the optimum.
    steps = epochs * -(-len(labels) // batch_size)
    schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=steps) for o in optimizers]
    history = TrainHistory()
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        total_loss, correct = 0.0, 0
        for batch in order.split(batch_size):
            logits = model(images[batch])
            loss = F.cross_entropy(logits, labels[batch])
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for optimizer, schedule in zip(optimizers, schedules, strict=True):
                optimizer.step()
                schedule.step()
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(1) == labels[batch]).sum())
        history.loss.append(total_loss / len(labels))
        history.train_accuracy.append(correct / len(labels))
        if test is not None:
            history.test_accuracy.append(evaluate(model, test))
        history.seconds = time.perf_counter() - start
        if on_epoch is not None:
            on_epoch(epoch, history)
    model.eval()
    return history


def _optimizers(model: nn.Module, lr: float) -> list[torch.optim.Optimizer]:
    conv1 = getattr(model, "conv1", None)
    first = conv1.weight if isinstance(conv1, nn.Conv2d) else None
    rest = [p for p in model.parameters() if p is not first]
    optimizers: list[torch.optim.Optimizer] = [torch.optim.Adam(rest, lr=lr)] if rest else []
    if first is not None:
        optimizers.append(torch.optim.SGD([first], lr=_CONV1_LR_SCALE * lr, momentum=0.9))
    return optimizers


@torch.no_grad()
def evaluate(model: nn.Module, dataset: PatternDataset, batch_size: int = 512) -> float:
    """Accuracy of ``model`` on ``dataset`` (a float in [0, 1]), on :func:`standardize`-d images.

    The model's training flag is restored afterwards.

    Examples
    --------
    >>> from featviz_widgets.lab.patterns import make_patterns
    >>> 0.0 <= evaluate(TinyCNN(), make_patterns(70)) <= 1.0
    True
    """
    images, labels = _tensors(dataset)
    was_training = model.training
    model.eval()
    try:
        correct = sum(
            int((model(x).argmax(1) == y).sum())
            for x, y in zip(images.split(batch_size), labels.split(batch_size), strict=True)
        )
    finally:
        model.train(was_training)
    return correct / len(labels)


def _tensors(dataset: PatternDataset) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = getattr(dataset, "images", None), getattr(dataset, "labels", None)
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"dataset must have `images` and `labels` tensors (e.g. make_patterns()), "
            f"got {type(dataset).__name__}"
        )
    if len(labels) == 0 or len(images) != len(labels):
        raise ValueError(f"dataset has {len(images)} images and {len(labels)} labels")
    return standardize(images), labels
