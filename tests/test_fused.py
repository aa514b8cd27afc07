"""The batch-norm-folded twin (engine.fused) that class pictures run on."""

from __future__ import annotations

import torch
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.engine import owner_for
from featviz_widgets.engine.fused import output_twin
from featviz_widgets.optvis import MaximizeSettings, maximize, objectives, optimize


def test_twin_gives_the_models_logits_without_batch_norms_and_follows_weight_changes() -> None:
    model = make_tiny_cnn().train()
    before = model_state(model)
    twin = output_twin(model)
    assert_model_unchanged(model, before)  # back in training mode, nothing else touched
    assert not any(isinstance(m, nn.BatchNorm2d) for m in twin.modules())
    assert all(not p.requires_grad for p in twin.parameters())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model.eval()(x), atol=1e-5, rtol=1e-5)
    assert output_twin(model) is twin  # cached in the owner
    with torch.no_grad():
        model.bn1.weight.mul_(2)  # an in-place update: the twin is rebuilt
    rebuilt = output_twin(model)
    assert rebuilt is not twin
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), atol=1e-5, rtol=1e-5)


def test_class_pictures_run_on_the_twin_and_match_the_model(monkeypatch) -> None:
    model = make_tiny_cnn()
    settings = MaximizeSettings(steps=6, size=32)
    fast = maximize(model, objectives.class_logit(3), settings=settings)
    assert owner_for(model).memo[("output_twin",)][1] is not None
    monkeypatch.setattr(optimize, "output_twin", lambda m: None)  # the model itself runs
    slow = maximize(model, objectives.class_logit(3), settings=settings)
    torch.testing.assert_close(torch.tensor(fast.history), torch.tensor(slow.history), atol=1e-3,
                               rtol=1e-3)  # fmt: skip
    for a, b in zip(fast.images, slow.images, strict=True):
        assert abs(a.astype(int) - b.astype(int)).max() <= 2


def test_models_without_batch_norm_or_that_cannot_trace_have_no_twin() -> None:
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert output_twin(plain) is None

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bn(self.conv(x)) if x.sum() > -1e9 else x  # fx cannot trace this

    model = Branchy().eval()
    assert output_twin(model) is None
    settings = MaximizeSettings(steps=2, size=16)
    assert maximize(model, objectives.class_logit(0), settings=settings).steps == 2
