"""layout: reading token, channels-last and windowed activations as [C, H, W] maps.

Synthetic arrays pin the shape rules; real torchvision transformers (random weights, small inputs)
check that the detected layout is the true one and that what is left in the picture stays left.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import models

from featviz_widgets.layout import HINTS, hint_for, layout_hints, to_channel_maps

torch.set_num_threads(1)


def _record(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every module's output in execution order, keyed like ``capture`` ("name", "name[0]")."""
    outputs: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def store(_module, _inputs, output):
            if torch.is_tensor(output):
                outputs[name] = output
                return
            for index, part in enumerate(output):
                if torch.is_tensor(part):
                    outputs[f"{name}[{index}]"] = part

        return store

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def _views(model: torch.nn.Module, x: torch.Tensor):
    """(key, raw output, hint, ChannelMaps) for every recorded output."""
    outputs = _record(model.eval(), x)
    hints = layout_hints(model, outputs)
    for key, output in outputs.items():
        hint = hint_for(hints, key)
        yield key, output, hint, to_channel_maps(output[0].numpy(), hint=hint)


def _left_bright(size: int) -> torch.Tensor:
    image = torch.full((1, 3, size, size), -1.0)
    image[..., : size // 2] = 1.0
    return image


def _impulse_pair(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two inputs that differ only in the top-right 8 x 8 pixels (a transposed map would move the
    change to the bottom-left)."""
    base = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    poked = base.clone()
    poked[..., :8, -8:] += 3.0
    return base, poked


# --- shape rules ------------------------------------------------------------------------------


def test_vectors_and_scalars() -> None:
    for act in (np.float32(2.0), np.arange(10.0), np.ones((5, 1, 1))):
        view = to_channel_maps(act)
        assert view.kind == "vector" and view.maps.ndim == 1
    assert to_channel_maps(np.ones((5, 1, 1))).maps.shape == (5,)


def test_tokens_with_and_without_class_token() -> None:
    patches = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)  # token t, feature d -> 3t + d
    view = to_channel_maps(patches)
    assert (view.kind, view.layout, view.maps.shape) == ("spatial", "tokens", (3, 4, 4))
    # token t sits at row t // 4, column t % 4 (ViT flattens its patch grid row-major)
    assert view.maps[2, 1, 3] == patches[1 * 4 + 3, 2]
    with_cls = np.concatenate([np.full((1, 3), -7.0, np.float32), patches])
    view = to_channel_maps(with_cls)
    np.testing.assert_array_equal(view.maps, to_channel_maps(patches).maps)
    np.testing.assert_array_equal(view.class_token, [-7.0, -7.0, -7.0])


def test_non_square_tokens_are_one_image_and_signals_are_strips() -> None:
    view = to_channel_maps(np.zeros((7, 5)))
    assert (view.layout, view.maps.shape) == ("image", (1, 7, 5))
    view = to_channel_maps(np.zeros((16, 40)), hint="channels_first")
    assert (view.layout, view.maps.shape) == ("channels_first", (16, 1, 40))


def test_channels_last_by_hint_and_by_square_shape() -> None:
    nhwc = np.random.default_rng(0).normal(size=(6, 6, 10))
    for hint in ("channels_last", None):
        view = to_channel_maps(nhwc, hint=hint)
        assert view.layout == "channels_last"
        np.testing.assert_array_equal(view.maps, nhwc.transpose(2, 0, 1))
    nchw = nhwc.transpose(2, 0, 1)
    assert to_channel_maps(nchw).layout == "channels_first"
    # an explicit hint beats the shape rule
    assert to_channel_maps(nhwc, hint="channels_first").maps.shape == (6, 6, 10)


def _partition(image: np.ndarray, p: int) -> np.ndarray:
    """MaxViT's WindowPartition for one item: [C, H, W] -> [H/p * W/p, p*p, C]."""
    c, h, w = image.shape
    tiles = image.reshape(c, h // p, p, w // p, p).transpose(1, 3, 2, 4, 0)
    return tiles.reshape((h // p) * (w // p), p * p, c)


def test_windows_and_grid_windows_invert_the_partition() -> None:
    image = np.random.default_rng(1).normal(size=(4, 12, 12)).astype(np.float32)
    windows = _partition(image, 3)
    np.testing.assert_array_equal(to_channel_maps(windows, hint="windows").maps, image)
    grid = windows.transpose(1, 0, 2)  # MaxViT's SwapAxes(-2, -3) for grid attention
    np.testing.assert_array_equal(to_channel_maps(grid, hint="grid_windows").maps, image)
    # a partition that is not square falls back to the shape rules instead of failing
    assert to_channel_maps(np.zeros((6, 9, 4)), hint="windows").layout == "channels_first"


def test_video_folding_dtype_and_bad_hint() -> None:
    assert to_channel_maps(np.zeros((3, 4, 5, 6))).kind == "video"
    view = to_channel_maps(np.zeros((4, 5, 6, 3)), hint="channels_last")
    assert (view.kind, view.maps.shape) == ("video", (3, 4, 5, 6))
    assert to_channel_maps(np.zeros((2, 3, 4, 5, 6))).maps.shape == (24, 5, 6)
    assert to_channel_maps(np.ones((2, 3, 3), np.uint8)).maps.dtype == np.float32
    with pytest.raises(ValueError, match="unknown layout hint"):
        to_channel_maps(np.zeros((3, 4, 4)), hint="nhwc")
    with pytest.raises(ValueError, match="Did you mean 'channels_last'"):
        to_channel_maps(np.zeros((3, 4, 4)), hint="channel_last")
    assert set(HINTS) >= {"channels_first", "channels_last", "tokens", "windows"}


def test_hint_for_strips_capture_suffixes() -> None:
    hints = {"a.b": "tokens", "c[0]": "channels_last"}
    assert hint_for(hints, "a.b[0]") == "tokens"
    assert hint_for(hints, "a.b#3[1]") == "tokens"
    assert hint_for(hints, "c[0]") == "channels_last"
    assert hint_for(hints, "zzz") is None


# --- real transformers ---------------------------------------------------------------------------


def test_vit_tokens_become_the_patch_grid_with_left_on_the_left() -> None:
    torch.manual_seed(0)
    model = models.vit_b_16(weights=None, image_size=64)
    # without position embeddings attention is permutation-equivariant: tokens of identical
    # patches stay identical in every layer, so the left/right split must survive every layer
    with torch.no_grad():
        model.encoder.pos_embedding.zero_()
    token_layers = 0
    for key, output, _hint, view in _views(model, _left_bright(64)):
        if output.dim() != 3 or key.startswith("heads"):
            continue
        token_layers += 1
        assert view.layout == "tokens" and view.maps.shape[1:] == (4, 4), key
        assert view.class_token is not None and view.class_token.shape == (output.shape[2],), key
        maps = view.maps
        for half in (maps[:, :, :2], maps[:, :, 2:]):  # each half is one repeated token
            np.testing.assert_allclose(
                half, np.broadcast_to(half[:, :1, :1], half.shape), atol=1e-5
            )
        assert np.abs(maps[:, 0, 0] - maps[:, 0, 3]).max() > 1e-3, key
    assert token_layers > 100


def test_vit_tokens_match_the_patch_embedding_exactly() -> None:
    torch.manual_seed(0)
    model = models.vit_b_16(weights=None, image_size=48).eval()
    outputs = _record(model, torch.randn(1, 3, 48, 48))
    hints = layout_hints(model, outputs)
    view = to_channel_maps(
        outputs["encoder.dropout"][0].numpy(), hint=hint_for(hints, "encoder.dropout")
    )
    position = model.encoder.pos_embedding[0, 1:].detach().T.reshape(768, 3, 3).numpy()
    np.testing.assert_allclose(view.maps - position, outputs["conv_proj"][0].numpy(), atol=1e-5)


def _assert_local(model: torch.nn.Module, size: int, prefixes: tuple[str, ...]) -> int:
    """Poking the top-right input corner changes only the top-right quarter of every early map."""
    base, poked = _impulse_pair(size)
    before = dict((k, v) for k, _o, _h, v in _views(model, base))
    checked = 0
    for key, _output, hint, view in _views(model, poked):
        if not key.startswith(prefixes) or view.kind != "spatial":
            continue
        change = np.abs(view.maps - before[key].maps).max(axis=0)
        h, w = change.shape
        assert change[: h // 2, w // 2 :].max() > 1e-4, (key, hint)
        assert change[h // 2 :, :].max() < 1e-5 and change[:, : w // 2].max() < 1e-5, (key, hint)
        checked += 1
    return checked


def test_swin_stages_are_channels_last_and_stay_spatial() -> None:
    torch.manual_seed(0)
    model = models.swin_t(weights=None)
    views = {
        key: (output, hint, view)
        for key, output, hint, view in _views(model, torch.randn(1, 3, 64, 64))
    }
    output, hint, view = views["features.0.1"]  # Permute([0, 2, 3, 1]) after the patch conv
    assert hint == "channels_last"
    np.testing.assert_array_equal(view.maps, output[0].permute(2, 0, 1).numpy())
    np.testing.assert_array_equal(view.maps, views["features.0.0"][2].maps)
    for key, (output, hint, view) in views.items():
        if key.startswith("features.") and key != "features.0.0":
            assert hint == "channels_last", key
            assert view.maps.shape == tuple(output[0].permute(2, 0, 1).shape), key
    assert views["norm"][1] == "channels_last" and views["permute"][1] == "channels_first"
    # stage 1's first block (16 x 16 tokens, unshifted 7 x 7 windows) keeps a corner poke local
    assert _assert_local(model, 64, ("features.0", "features.1.0.")) >= 10


def test_swin_v2_stages_are_channels_last() -> None:
    model = models.swin_v2_t(weights=None)
    views = {
        key: (hint, view) for key, _output, hint, view in _views(model, torch.randn(1, 3, 64, 64))
    }
    assert views["features.1.0.attn"][0] == "channels_last"
    assert views["features.1.0.attn"][1].maps.shape == (96, 16, 16)
    assert views["features.7"][1].maps.shape == (768, 2, 2)


def test_convnext_permuted_blocks_are_detected() -> None:
    torch.manual_seed(0)
    model = models.convnext_tiny(weights=None)
    views = {
        key: (output, hint, view)
        for key, output, hint, view in _views(model, torch.randn(1, 3, 64, 64))
    }
    for index in range(1, 6):
        output, hint, view = views[f"features.1.0.block.{index}"]
        assert hint == "channels_last", index
        np.testing.assert_array_equal(view.maps, output[0].permute(2, 0, 1).numpy())
    assert views["features.1.0.block.6"][1] == "channels_first"
    assert views["features.1.0"][1] == "channels_first"
    assert _assert_local(model, 64, ("features.1.0.",)) >= 8


def test_maxvit_windows_and_grids_unpartition_to_the_feature_map() -> None:
    torch.manual_seed(0)
    model = models.maxvit_t(weights=None)
    views = {
        key: (hint, view) for key, _output, hint, view in _views(model, torch.randn(1, 3, 224, 224))
    }
    block = "blocks.0.layers.0.layers"
    mbconv = views[f"{block}.MBconv"][1].maps
    window_out = views[f"{block}.window_attention"][1].maps
    assert views[f"{block}.window_attention.partition_op"][0] == "windows"
    np.testing.assert_array_equal(views[f"{block}.window_attention.partition_op"][1].maps, mbconv)
    np.testing.assert_array_equal(
        views[f"{block}.window_attention.departition_swap"][1].maps, window_out
    )
    assert views[f"{block}.grid_attention.partition_swap"][0] == "grid_windows"
    np.testing.assert_array_equal(
        views[f"{block}.grid_attention.partition_swap"][1].maps, window_out
    )
    grid_out = views[f"{block}.grid_attention"][1].maps
    assert views[f"{block}.grid_attention.departition_swap"][0] == "windows"
    np.testing.assert_array_equal(
        views[f"{block}.grid_attention.departition_swap"][1].maps, grid_out
    )
    for key, (hint, view) in views.items():
        if ".attn_layer" in key or ".mlp_layer" in key:
            assert hint in ("windows", "grid_windows") and view.maps.shape[1:] in (
                (56, 56),
                (28, 28),
                (14, 14),
                (7, 7),
            ), key


def test_hints_from_list_layers_style_items() -> None:
    class Info:
        def __init__(self, name: str, shapes) -> None:
            self.name, self.shapes = name, shapes

    model = models.convnext_tiny(weights=None)
    outputs = _record(model.eval(), torch.randn(1, 3, 32, 32))
    infos = [Info(key, (tuple(value.shape),)) for key, value in outputs.items()] + [
        Info("never", None)
    ]
    assert layout_hints(model, infos) == layout_hints(model, outputs)
