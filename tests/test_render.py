"""featviz_widgets.render against independent references: a tutorial's loop tiling, NumPy float64 formulas,
matplotlib's own colormaps, and PIL decoding of what we encode."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import warnings

import matplotlib
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from skimage import data

from featviz_widgets import render
from featviz_widgets.inputs import normalization
from featviz_widgets.render import NORMALIZATIONS, GridLayout
from featviz_widgets.render._grid import _downscale


@pytest.fixture(scope="module")
def resnet_acts() -> dict[str, np.ndarray]:
    """Real activations: scikit-image's chelsea through a seeded, randomly initialised resnet18."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    photo = np.asarray(Image.fromarray(data.chelsea()).resize((224, 224)), dtype=np.float32) / 255
    x = torch.from_numpy(photo).permute(2, 0, 1)[None]
    mean, std = (torch.tensor(v)[:, None, None] for v in normalization(None))
    x = (x - mean) / std
    names = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")
    acts: dict[str, np.ndarray] = {}
    modules = dict(model.named_modules())

    def keep(name):  # clone: torchvision's in-place ReLU would overwrite bn1's output
        return lambda module, inputs, output: acts.__setitem__(name, output[0].clone().numpy())

    handles = [modules[name].register_forward_hook(keep(name)) for name in names]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return acts


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def loop_grid_gray_image(imgs: np.ndarray, each_row: int) -> np.ndarray:
    """The loop-based tiling of the PyTorch hook tutorials (per-channel min-max, np.hstack per map,
    np.vstack per row) as the reference (float, no padding)."""
    row_num = imgs.shape[0] // each_row
    for i in range(row_num):
        img = imgs[i * each_row]
        img = (img - img.min()) / (img.max() - img.min())
        for j in range(1, each_row):
            tmp_img = imgs[i * each_row + j]
            tmp_img = (tmp_img - tmp_img.min()) / (tmp_img.max() - tmp_img.min())
            img = np.hstack((img, tmp_img))
        ans = img if i == 0 else np.vstack((ans, img))  # noqa: F821 (defined on the first row)
    return ans


@pytest.mark.parametrize(
    ("layer", "cols"), [("conv1", 8), ("layer1", 8), ("layer2", 16), ("layer3", 16)]
)
def test_grid_equals_loop_tiling_reference(resnet_acts, layer, cols):
    acts = resnet_acts[layer]
    with np.errstate(all="ignore"):  # the reference divides by zero on constant channels
        expected = loop_grid_gray_image(acts, cols)
    got = render.grid(acts, cols, pad=0, min_tile=1, cmap=None)
    assert got.shape == expected.shape
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=1e-6)
    assert np.all(
        got[~finite] == 0.5
    )  # where the reference produced NaN (constant channel) we draw mid grey


def test_grid_rgb_is_matplotlib_colormap_of_the_float_grid(resnet_acts):
    acts = resnet_acts["layer2"]
    x01 = render.grid(acts, 16, pad=0, min_tile=1, cmap=None)
    for name in ("gray", "viridis", "magma", "RdBu_r", "jet"):
        expected = np.round(matplotlib.colormaps[name](x01)[..., :3] * 255)
        got = render.grid(acts, 16, pad=0, min_tile=1, cmap=name).astype(np.float64)
        assert np.abs(got - expected).max() <= 1, name


def test_colorize_within_one_level_of_matplotlib():
    x = np.concatenate([np.linspace(0, 1, 10001), [0.0, 1.0, 0.5, 1 / 256, 255 / 256]]).astype(
        np.float32
    )
    for name in ("gray", "viridis", "inferno", "coolwarm", "cividis"):
        expected = matplotlib.colormaps[name](x)[:, :3] * 255
        assert np.abs(render.colorize(x, name) - expected).max() <= 1, name
    lut = render.colormap_lut("viridis")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8 and render.colormap_lut("viridis") is lut


def _reference(acts: np.ndarray, mode: str) -> np.ndarray:
    """Plain float64 formulas, one channel at a time."""
    x = acts.astype(np.float64)
    if mode == "layer":
        return (x - x.min()) / (x.max() - x.min())
    out = np.empty_like(x)
    for c, ch in enumerate(x):
        if mode == "channel":
            out[c] = (ch - ch.min()) / (ch.max() - ch.min())
        elif mode == "meanstd":
            out[c] = np.clip((ch - ch.mean()) / ch.std() * 64 + 128, 0, 255) / 255
        elif mode == "percentile":
            lo, hi = np.percentile(ch, [1, 99])
            if lo == hi:
                lo, hi = ch.min(), ch.max()
            out[c] = np.clip((ch - lo) / (hi - lo), 0, 1)
        else:
            out[c] = ch / np.abs(ch).max() * 0.5 + 0.5
    return out


@pytest.mark.parametrize("mode", NORMALIZATIONS)
@pytest.mark.parametrize("layer", ["bn1", "layer1", "layer4"])
def test_normalize_matches_float64_formula(resnet_acts, mode, layer, no_warnings):
    acts = resnet_acts[layer]
    acts = acts[acts.reshape(len(acts), -1).std(axis=1) > 0]  # constant channels: tested separately
    got = render.normalize(acts, mode)
    assert got.dtype == np.float32 and got.shape == acts.shape
    assert got.min() >= 0 and got.max() <= 1
    np.testing.assert_allclose(got, _reference(acts, mode), rtol=0, atol=2e-6)


def test_percentile_keeps_sparse_spikes_visible(no_warnings):
    sparse = np.zeros((1, 20, 20), np.float32)
    sparse[0, 3, 4] = 7.0  # 99th percentile is 0: fall back to min-max instead of a blank tile
    got = render.normalize(sparse, "percentile")
    assert got[0, 3, 4] == 1.0 and got.sum() == 1.0


def test_layer_normalization_uses_the_whole_layer_when_paging(resnet_acts):
    acts = resnet_acts["layer2"]
    page = render.grid(acts, 8, start=40, count=24, norm="layer", pad=0, min_tile=1, cmap=None)
    whole = render.normalize(acts, "layer")[40:64]
    expected = render.grid(whole, 8, norm=None, pad=0, min_tile=1, cmap=None)
    np.testing.assert_array_equal(page, expected)


@pytest.mark.parametrize("mode", NORMALIZATIONS)
def test_constant_nan_and_inf_channels_never_warn(mode, no_warnings):
    acts = np.random.default_rng(0).standard_normal((6, 9, 9)).astype(np.float32)
    acts[0] = 3.0
    acts[1] = 0.0
    acts[2, 0, 0], acts[2, 1, 1], acts[2, 2, 2] = np.nan, np.inf, -np.inf
    acts[3] = np.nan
    acts[4, :, :4] = np.inf
    got = render.normalize(acts, mode)
    if mode == "layer":  # one scale for the layer: constant channels keep their place on it
        assert np.ptp(got[0]) == 0 and np.ptp(got[1]) == 0 and got[0, 0, 0] > got[1, 0, 0]
    else:
        assert np.all(got[1] == 0.5)
        assert np.all(
            got[0] == (1.0 if mode == "signed" else 0.5)
        )  # signed keeps a constant's sign
    assert np.isnan(got[2, [0, 1, 2], [0, 1, 2]]).all() and np.isfinite(got[2]).sum() == 78
    assert np.isnan(got[3]).all() and np.isnan(got[4, :, :4]).all()
    assert np.isfinite(got[4, :, 4:]).all() and np.isfinite(got[5]).all()
    image = render.grid(acts, 3, norm=mode, pad=0, min_tile=1)
    assert (image[0, 9 * 2 + 0] == render.NAN_COLOR).all()  # NaN in channel 2 -> magenta
    assert render.to_png(image).startswith(b"\x89PNG")
    render.grid_png(acts, 3, norm=mode)
    render.aggregate(acts, "sum"), render.aggregate(acts, "max"), render.channel_stats(acts)
    (
        render.top_k(acts, 3),
        render.single(acts[4]),
        render.overlay(np.zeros((20, 20, 3), np.uint8), acts[2]),
    )
    render.kernels(acts.reshape(2, 3, 9, 9)), render.vector_strip(acts[2, 0])


def test_colorize_marks_nan_and_clips():
    got = render.colorize(np.array([np.nan, -1.0, 2.0]), "gray")
    assert got.tolist() == [list(render.NAN_COLOR), [0, 0, 0], [255, 255, 255]]


@pytest.mark.parametrize(("n", "page"), [(10, 3), (64, 16), (100, 64), (2048, 256)])
def test_paging_covers_every_channel_exactly_once(n, page):
    acts = ((np.arange(n, dtype=np.float32) + 0.5) / n)[
        :, None, None
    ]  # 1x1 maps holding their index
    seen = []
    for start in range(0, n, page):
        layout = render.grid_layout(n, 1, 1, 8, start=start, count=page, min_tile=1)
        tiles = render.grid(acts, 8, start=start, count=page, norm=None, min_tile=1, cmap=None)
        assert tiles.shape == (layout.height, layout.width)
        values = tiles[np.isfinite(tiles)]
        assert values.size == layout.count
        seen.extend(np.floor(values * n).astype(int).tolist())
    assert seen == list(range(n))


@pytest.mark.parametrize(
    ("shape", "cols", "kw"),
    [
        ((64, 112, 112), 8, {}),
        ((10, 7, 7), 4, {}),
        ((2048, 7, 7), 16, {"count": 256}),
        ((3, 5, 9), 8, {"pad": 3}),
    ],
)
def test_pngs_decode_to_the_layout_size(shape, cols, kw):
    acts = np.random.default_rng(1).random(shape, dtype=np.float32)
    layout = render.grid_layout(*shape, cols, **kw)
    image = render.grid(acts, cols, cmap="viridis", **kw)
    assert image.shape == (layout.height, layout.width, 3) and image.dtype == np.uint8
    for png in (render.to_png(image), render.grid_png(acts, cols, cmap="viridis", **kw)):
        decoded = Image.open(io.BytesIO(png))
        assert decoded.size == (layout.width, layout.height)
    fast = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    step = np.abs(np.diff(render.colormap_lut("viridis").astype(int), axis=0)).max()
    assert (
        np.abs(fast - image).max() <= 2 * step
    )  # 254-level palette: within a colormap step or two
    jpeg = Image.open(io.BytesIO(render.to_jpeg(image)))
    assert jpeg.format == "JPEG" and jpeg.size == (layout.width, layout.height)


def test_separators_and_partial_last_row_are_white():
    image = render.grid(np.zeros((5, 4, 4)), 3, min_tile=4, pad=2)
    assert image.shape == (4 * 2 + 2, 4 * 3 + 2 * 2, 3)
    assert (image[4:6] == 255).all() and (image[:, 4:6] == 255).all()
    assert (image[6:, 10:] == 255).all()  # the missing sixth tile
    assert (image[:4, :4] == 128).all()  # constant channel: mid grey


def test_small_maps_are_upscaled_and_huge_grids_fit_the_budget():
    assert render.grid_layout(2048, 7, 7, 16, count=256) == GridLayout(
        16, 16, 35, 35, 1, 5, 0, 256, 1
    )
    layout = render.grid_layout(64, 512, 512, 8)  # 4.2 M pixels at full size
    assert layout.step == 3 and layout.count == 64 and layout.height * layout.width <= 4_000_000
    acts = np.arange(4 * 6 * 6, dtype=np.float32).reshape(4, 6, 6)
    small = render.grid(acts, 2, norm="layer", pad=0, min_tile=1, max_pixels=6 * 6, cmap=None)
    expected = render.normalize(acts, "layer").reshape(4, 3, 2, 3, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(small[:3, :3], expected[0], atol=1e-6)  # box-averaged 2x2 blocks
    with pytest.raises(ValueError, match="count="):
        render.grid_layout(10_000, 4, 4, 100, max_pixels=1000)
    nearest = render.grid(np.arange(4.0).reshape(1, 2, 2), 1, min_tile=6, cmap=None)
    assert nearest.shape == (6, 6) and (nearest[:3, :3] == 0).all() and (nearest[3:, 3:] == 1).all()


def test_kernels_shapes(resnet_acts):
    rgb = render.kernels(np.random.default_rng(0).standard_normal((64, 3, 7, 7)))
    assert rgb.shape == (8 * 21 + 7, 8 * 21 + 7, 3)  # 8 x 8 colour tiles, 7 px upscaled x3
    tile = rgb[:21, :21].reshape(-1, 3)
    assert tile.min() == 0 and tile.max() == 255  # per-kernel min-max over its three slices
    general = render.kernels(np.zeros((16, 8, 3, 3)) + np.arange(9.0).reshape(3, 3))
    assert general.shape == (
        16 * 18 + 15,
        8 * 18 + 7,
        3,
    )  # one row of `in` slices per output kernel
    page = render.kernels(np.ones((16, 8, 3, 3)), start=5, count=2)
    assert page.shape == (2 * 18 + 1, 8 * 18 + 7, 3)
    depthwise = torchvision.models.mobilenet_v2().features[1].conv[0][0].weight.detach().numpy()
    assert depthwise.shape == (32, 1, 3, 3)
    assert render.kernels(depthwise).shape == (6 * 18 + 5, 6 * 18 + 5, 3)  # one tile per channel
    linear = render.kernels(np.random.default_rng(0).standard_normal((10, 84)))
    assert linear.shape == (120, 84, 3)  # 10 outputs stretched x12
    assert render.kernels(np.ones((64, 32, 1, 1))).shape == (128, 128, 3)  # 1x1 conv: a matrix
    assert render.kernels(np.ones((4, 2, 5))).shape == (
        4 * 4 + 3,
        2 * 20 + 1,
        3,
    )  # Conv1d: 1 x 5 kernels, x4
    resnet = torchvision.models.resnet18()
    assert render.kernels(resnet.conv1.weight.detach().numpy()).shape == (175, 175, 3)
    assert render.kernels(resnet.fc.weight.detach().numpy()).shape == (1000, 512, 3)


def test_overlay_aggregate_single_frames_strip(resnet_acts):
    acts = resnet_acts["layer2"]
    photo = np.asarray(Image.fromarray(data.chelsea()))
    heat = render.aggregate(acts, "sum")
    np.testing.assert_allclose(heat, acts.astype(np.float64).sum(0), rtol=1e-5)
    np.testing.assert_array_equal(render.aggregate(acts, "max"), acts.max(0))
    blended = render.overlay(photo, heat, alpha=0.4)
    assert blended.shape == photo.shape and blended.dtype == np.uint8
    np.testing.assert_array_equal(render.overlay(photo, heat, alpha=0.0), photo)
    assert not np.array_equal(blended, photo)
    assert render.single(acts[3]).shape == (252, 252, 3)  # 28 x 9
    assert render.single(np.ones((600, 300)), size=256).shape == (200, 100, 3)  # downscaled by 3
    clip = np.stack(
        [np.full((4, 4), t, np.float32) for t in range(5)]
    )  # brightness grows over time
    row = render.frames(clip, cmap="gray", min_tile=4)
    assert row.shape == (4, 5 * 4 + 4, 3) and row[0, 0, 0] == 0 and row[0, -1, 0] == 255
    assert render.frames(np.zeros((3, 5, 4, 4)), channel=2).shape == (32, 5 * 32 + 4, 3)
    assert render.vector_strip(np.arange(10.0)).shape == (32, 250, 3)
    assert render.vector_strip(np.arange(2500.0), height=8).shape == (24, 1024, 3)  # wrapped


def test_channel_stats_and_top_k(resnet_acts):
    acts = resnet_acts["layer3"]
    stats = render.channel_stats(acts)
    flat = acts.reshape(len(acts), -1).astype(np.float64)
    np.testing.assert_allclose(stats["mean"], flat.mean(1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats["std"], flat.std(1), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(stats["max"], acts.reshape(len(acts), -1).max(1))
    np.testing.assert_allclose(stats["frac_pos"], (flat > 0).mean(1))
    np.testing.assert_array_equal(
        render.top_k(acts, 5), np.argsort(-flat.mean(1), kind="stable")[:5]
    )
    assert render.top_k(np.array([1.0, np.nan, 3.0]), 5).tolist() == [2, 0, 1]


def test_bad_input_names_the_fix():
    acts = np.zeros((4, 5, 5))
    with pytest.raises(ValueError, match=r"acts\[0\]"):
        render.grid(acts[None], 2)
    with pytest.raises(ValueError, match="single"):
        render.grid(acts[0], 2)
    with pytest.raises(ValueError, match="vector_strip"):
        render.grid(acts[0, 0], 2)
    with pytest.raises(ValueError, match="channel, layer, meanstd, percentile, signed"):
        render.grid(acts, 2, norm="minmax")
    with pytest.raises(ValueError, match="Did you mean 'channel'"):
        render.grid(acts, 2, norm="chanel")
    with pytest.raises(ValueError, match="Did you mean 'viridis'.*matplotlib.colormaps"):
        render.grid(acts, 2, cmap="virdis")
    with pytest.raises(ValueError, match="cols must be >= 1"):
        render.grid(acts, 0)
    with pytest.raises(TypeError, match="cols must be an int"):
        render.grid(acts, 2.5)
    with pytest.raises(ValueError, match="start=4 is past"):
        render.grid(acts, 2, start=4)
    with pytest.raises(TypeError, match="colorize"):
        render.to_png(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="depth slice"):
        render.kernels(np.zeros((2, 2, 3, 3, 3)))
    with pytest.raises(TypeError, match="uint8"):
        render.overlay(np.zeros((8, 8, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="aggregate"):
        render.overlay(np.zeros((8, 8, 3), np.uint8), acts)
    with pytest.raises(ValueError, match="mean, max, std, frac_pos"):
        render.top_k(acts, 2, by="median")
    with pytest.raises(ValueError, match="sum, mean, max"):
        render.aggregate(acts, "median")


def test_render_imports_without_torch_or_ipywidgets():
    code = """
        import sys
        sys.modules["torch"] = None  # any import of these now raises ImportError
        sys.modules["ipywidgets"] = None
        import numpy as np
        from featviz_widgets import render
        png = render.grid_png(np.random.rand(8, 6, 6), 4, cmap="viridis")
        print(len(render.to_png(render.grid(np.random.rand(8, 6, 6), 4))) > 0, png[:4] == b"\\x89PNG")
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_kernels_matrix_pages_rows_with_the_whole_matrix_scale():
    weight = np.random.default_rng(1).standard_normal((300, 50)).astype(np.float32)
    full = render.kernels(weight)  # 300 x 50, columns stretched x2
    assert full.shape == (300, 100, 3)
    page = render.kernels(weight, start=100, count=20)  # 20 rows, stretched x6 and x2
    assert page.shape == (120, 100, 3)
    assert np.array_equal(page[::6], full[100:120])  # same colours: the scale is the whole matrix's
    conv = render.kernels(weight[:, :, None, None], start=100, count=20)  # a 1x1 conv: the same
    assert np.array_equal(conv, page)
    assert render.kernels(weight, start=290, count=50).shape == (120, 100, 3)  # cut at the end
    with pytest.raises(ValueError, match="start=300 is past"):
        render.kernels(weight, start=300)
    with pytest.raises(ValueError, match="count must be >= 1"):
        render.kernels(weight, count=0)


def test_kernels_matrix_over_max_pixels_is_block_averaged():
    weight = np.random.default_rng(2).standard_normal((2000, 3000)).astype(np.float32)
    weight[5, 7] = np.nan  # lands in block (0, 0)
    img = render.kernels(weight, max_pixels=100_000)
    assert img.shape == (250, 375, 3)  # 8 x 8 blocks: 93,750 px
    assert tuple(img[0, 0]) == render.NAN_COLOR
    finite = np.abs(weight[np.isfinite(weight)]).max()
    blocks = weight.astype(np.float64).reshape(250, 8, 375, 8).mean(axis=(1, 3))
    expected = render.colorize(blocks / (2 * finite) + 0.5, "RdBu_r")
    expected[0, 0] = render.NAN_COLOR
    assert np.mean(np.all(img == expected, axis=2)) > 0.99  # float32 sums: rare one-level steps
    page = render.kernels(weight, start=1000, count=10, max_pixels=100_000)
    assert page.shape == (30, 3000, 3)  # no blocks; rows stretched x3 only, x12 would pass the cap


def test_downscale_matches_a_float64_block_mean():
    x = np.random.default_rng(3).standard_normal((2, 11, 7, 3)).astype(np.float32)
    small = _downscale(x, 3)  # blocks of 3, the last row and column shorter (2 and 1)
    padded = np.full((2, 12, 9, 3), np.nan)
    padded[:, :11, :7] = x
    expected = np.nanmean(padded.reshape(2, 4, 3, 3, 3, 3), axis=(2, 4))
    np.testing.assert_allclose(small, expected, rtol=1e-5, atol=1e-6)


def _tile_rgb_reference(images: list[np.ndarray], cols: int, pad: int) -> np.ndarray:
    """Independent reference: a white canvas and one slice assignment per picture."""
    h, w = images[0].shape[:2]
    cols = min(cols, len(images))
    rows = -(-len(images) // cols)
    out = np.full((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
    return out


@pytest.mark.parametrize(
    ("n", "cols", "pad"), [(1, 1, 2), (5, 3, 2), (6, 3, 0), (4, 9, 1), (7, 2, 3)]
)
def test_tile_rgb_matches_a_loop_reference(n, cols, pad):
    rng = np.random.default_rng(n)
    images = [rng.integers(0, 256, (5, 7, 3), dtype=np.uint8) for _ in range(n)]
    got = render.tile_rgb(images, cols, pad=pad)
    assert got.dtype == np.uint8 and got.flags.c_contiguous
    assert np.array_equal(got, _tile_rgb_reference(images, cols, pad))
    assert np.array_equal(render.tile_rgb(np.stack(images), cols, pad=pad), got)  # [N, H, W, 3] too


def test_tile_rgb_rejects_what_it_cannot_tile():
    picture = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="at least one image"):
        render.tile_rgb([], 2)
    with pytest.raises(ValueError, match="one size"):
        render.tile_rgb([picture, np.zeros((5, 4, 3), np.uint8)], 2)
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 3\]"):
        render.tile_rgb([picture.astype(np.float32)], 2)
    with pytest.raises(ValueError, match="cols must be >= 1"):
        render.tile_rgb([picture], 0)


def test_signed_scale_is_one_rule_for_activations_and_weight_matrices():
    values = np.array([[-2.0, -1.0, 0.0, 0.5, 4.0]], dtype=np.float32)
    signed = render.normalize(values, "signed")
    np.testing.assert_allclose(signed, values / 8.0 + 0.5, atol=1e-7)
    assert signed[0, 2] == 0.5  # zero lands exactly on the centre of a diverging colormap
    weight = np.random.default_rng(4).standard_normal((64, 64)).astype(np.float32)
    weight[3, :10] = 0.0
    image = render.kernels(weight, cmap="RdBu_r")[::2, ::2]  # 64 x 64 is stretched x2 both ways
    assert (image[3, :10] == render.colormap_lut("RdBu_r")[128]).all()
    reference = render.colorize(weight / (2.0 * np.abs(weight).max()) + 0.5, "RdBu_r")
    assert np.mean(np.all(image == reference, axis=2)) > 0.99  # float32 vs float64: rare steps


def test_a_subnormal_span_is_a_constant_channel_without_overflow() -> None:
    """A channel whose values differ by less than float32's smallest normal number."""
    import warnings

    maps = np.zeros((2, 4, 4), np.float32)
    maps[0, 0, 0] = 1e-44  # subnormal: 1 / span overflows float32
    maps[1] = np.arange(16, dtype=np.float32).reshape(4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = render.normalize(maps, "channel")
    assert np.all(out[0] == 0.5)
    assert out[1].min() == 0.0 and out[1].max() == 1.0
