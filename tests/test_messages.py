"""Library messages as keys: a code plus parameters with its English text, worded by the widgets.

The library's side: every converted raise site keeps its English text for plain-Python users
and carries its code and parameters; errors survive pickling whole. The widgets' side: a message
is worded by its code in each table, a language is one table module found by discovery (a fake
French table proves it), and missing keys fall back to English.
"""

from __future__ import annotations

import pickle
import string
import sys

import numpy as np
import pytest
from support import make_tiny_cnn, model_held
from torchvision.transforms import InterpolationMode

import featviz_widgets.widgets.strings as strings
from featviz_widgets import engine, inputs, render
from featviz_widgets.lab.patterns import make_patterns
from featviz_widgets.messages import (
    ENGLISH,
    Message,
    MessageError,
    MessageTypeError,
    MessageValueError,
    message_of,
)
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets.strings import error_line, reworded, say, text, widget_error

PATTERNS = make_patterns(4, size=32, seed=3)


# -- the library's side ----------------------------------------------------------------------
def test_a_message_is_its_english_text_with_a_code_and_parameters() -> None:
    moved = Message("layer_moved", asked="features.0.0", field="3x3", layer="features.3")
    assert moved == "features.0.0 sees 3x3 pixels; showing features.3, pick a layer to override"
    assert isinstance(moved, str) and type(str(moved)) is str
    assert moved.code == "layer_moved" and dict(moved.params) == {
        "asked": "features.0.0", "field": "3x3", "layer": "features.3"
    }  # fmt: skip
    with pytest.raises(TypeError):
        moved.params["layer"] = "fc"  # read-only: the English cannot drift from the parameters
    with pytest.raises(KeyError, match="no message has the code 'made_up'"):
        Message("made_up")


def test_close_names_are_a_parameter_worded_as_a_sentence() -> None:
    error = MessageValueError(
        "unknown_normalization", name="chanel", choices="channel, layer", close=("channel",)
    )
    assert str(error) == (
        "unknown normalization 'chanel'; choose one of channel, layer. Did you mean 'channel'?"
    )
    assert error.params["close"] == ("channel",)
    nothing = MessageValueError("unknown_normalization", name="x", choices="channel", close=())
    assert str(nothing) == "unknown normalization 'x'; choose one of channel."


def test_message_errors_are_the_builtin_errors_by_type_and_by_shown_name() -> None:
    error = MessageValueError("clip_empty")
    assert isinstance(error, ValueError) and isinstance(error, MessageError)
    assert type(error).__name__ == "ValueError" and repr(error).startswith("ValueError(")
    assert type(MessageTypeError("image_text_mode")).__name__ == "TypeError"
    assert message_of(error) is error.message and error.code == "clip_empty"
    assert message_of(ValueError("plain")) is None


def test_messages_and_their_errors_survive_pickling() -> None:
    note = Message("unit_scale")
    assert pickle.loads(pickle.dumps(note)).code == "unit_scale"
    for error in (
        MessageValueError("bad_image", name=Message("given_bytes")),
        engine.ModelBusy("Examples"),
        engine.ModelBusy(),
    ):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error)
        assert back.code == error.code and dict(back.params) == dict(error.params)


def test_model_busy_names_the_job_or_another_call() -> None:
    busy = engine.ModelBusy("Maximize")
    assert (busy.code, busy.params["job"]) == ("model_busy", "Maximize")
    assert str(busy) == "Maximize is running: Cancel it or wait for it to finish, then try again"
    other = engine.ModelBusy()
    assert other.params["job"].code == "another_call"
    assert str(other).startswith("another featviz call is running: Cancel it")


def test_render_choices_are_coded_with_the_close_names() -> None:
    with pytest.raises(
        ValueError, match=r"unknown colormap 'viridiss'\. Did you mean 'viridis'"
    ) as raised:
        render.colormap_lut("viridiss")
    assert raised.value.code == "unknown_colormap" and "viridis" in raised.value.params["close"]
    with pytest.raises(
        TypeError, match=r"cmap must be a matplotlib colormap name \(str\), got int"
    ) as raised:
        render.colormap_lut(3)  # type: ignore[arg-type]
    assert raised.value.code == "colormap_type"
    with pytest.raises(
        ValueError, match=r"choose one of channel, layer.*Did you mean 'channel'"
    ) as raised:
        render.normalize(np.zeros((1, 2, 2)), "chanel")
    assert raised.value.params["close"] == ("channel",)  # fmt: skip


def test_image_and_clip_refusals_are_coded(tmp_path) -> None:
    cases = [
        (lambda: inputs.load_image(b"not an image"), "bad_image",
         "the bytes given is not an image PIL can read; pass a PNG, JPEG or other image file"),
        (lambda: inputs.load_image(3.5), "image_type", "cannot use a float as an image; pass a PIL"),
        (lambda: inputs.load_image([np.zeros((2, 2))]), "image_frames",
         "cannot use a list as an image (a list of frames is a clip: for a video model)"),
        (lambda: inputs.load_image(str(tmp_path / "no.png")), "image_not_found",
         "image file not found: "),
        (lambda: inputs.load_image(tmp_path), "image_directory", "is a directory; pass the path"),
        (lambda: inputs.load_image(np.zeros((0, 3))), "image_empty",
         "the array is empty (shape (0, 3)); pass an image with pixels"),
        (lambda: inputs.load_image(np.full((2, 2), -1.0)), "image_negative",
         "the array has negative pixels (min -1): it looks normalized"),
        (lambda: inputs.load_clip([]), "clip_empty", "the clip is an empty list"),
        (lambda: inputs.is_clip(np.zeros((2, 2)), None, clip="yes"), "clip_flag",
         "clip must be True, False or None, got 'yes'"),
        (lambda: inputs.prepare_image([np.zeros((2, 2))], clip=True, preprocess=abs),
         "clip_preprocess", "preprocess= is for Keras image models"),
    ]  # fmt: skip
    for call, code, english in cases:
        with pytest.raises((ValueError, TypeError)) as raised:
            call()
        assert raised.value.code == code and english in str(raised.value), code
    with pytest.raises(ValueError) as raised:  # a clip for an image model
        inputs.is_clip(np.zeros((2, 4, 4, 3)), make_tiny_cnn(), clip=True)
    assert (
        raised.value.code == "clip_for_image_model" and raised.value.params["model"] == "Sequential"
    )


def test_the_unit_scale_caption_is_a_message() -> None:
    recipe = inputs.Preprocessing(
        channels=3, resize=(32,), crop=(32,), interpolation=InterpolationMode.BILINEAR,
        mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    )  # fmt: skip
    caption = recipe.caption()
    assert caption == "pixels scaled to [0, 1] (no preprocess=)" and caption.code == "unit_scale"
    named = inputs.Preprocessing(**{**recipe.__dict__, "function": _keep}).caption()
    assert named == f"preprocess={__name__}._keep" and not isinstance(named, Message)  # code


def _keep(batch: np.ndarray) -> np.ndarray:
    return batch


# -- the widgets' side -----------------------------------------------------------------------
def test_library_messages_are_worded_by_code_in_chinese() -> None:
    assert error_line("en", engine.ModelBusy("Examples")).startswith(
        "ModelBusy: Examples is running"
    )
    assert error_line("zh", engine.ModelBusy("Examples")).startswith("ModelBusy: 查找样例正在运行")
    bad = MessageValueError("bad_image", name=Message("given_bytes"))  # a nested message too
    assert error_line("zh", bad, "error_image") == (
        "ValueError: 传入的字节数据 不是 PIL 能读取的图像；请传入 PNG、JPEG 或其他图像文件"
    )
    close = MessageValueError(
        "unknown_normalization", name="chanel", choices="a", close=("channel",)
    )
    assert error_line("zh", close).endswith("您是不是想输入 'channel'？")
    note = Message("layer_moved", asked="conv1", field="3x3", layer="conv2")
    assert say("en", note) == str(note) and say("zh", note).startswith("conv1 的感受野")
    assert say("zh", "preprocess=numpy.sqrt") == "preprocess=numpy.sqrt"


def test_widget_errors_are_marked_by_type_not_by_their_characters() -> None:
    ours = widget_error("zh", "err_no_picture", layer="fc")
    assert isinstance(ours, ValueError) and type(ours).__name__ == "ValueError"
    assert error_line("zh", ours) == "ValueError: fc 没有可以保存的图片"
    # Chinese characters alone do not make an error the widget's own: it gets the lead line.
    assert error_line("zh", ValueError("模型出错")) == "出错了：ValueError: 模型出错"
    assert isinstance(widget_error("en", "err_dataset", TypeError, error="x"), TypeError)


def test_a_library_error_is_reworded_for_the_widget() -> None:
    with pytest.raises(ValueError) as raised:
        render.colormap_lut("nope")
    assert str(reworded("en", raised.value)) == str(raised.value)
    chinese = reworded("zh", raised.value)
    assert isinstance(chinese, ValueError) and str(chinese).startswith("未知的色图 'nope'。")
    plain = ValueError("no code")
    assert reworded("zh", plain) is plain


@pytest.fixture
def french(tmp_path):
    """A third language as one new table module beside en.py and zh.py, found by discovery."""
    (tmp_path / "fr.py").write_text(
        "TABLE = {\n"
        "    'layer': 'Couche',\n"
        "    'error': 'erreur : {kind}: {detail}',\n"
        "    'msg_model_busy': '{job} tourne : annulez-le ou attendez sa fin, puis réessayez',\n"
        "    'msg_close': ' Vouliez-vous dire {names} ?',\n"
        "}\n",
        encoding="utf-8",
    )
    path = list(strings.__path__)
    strings.__path__.append(str(tmp_path))
    strings.tables.cache_clear()
    try:
        yield
    finally:
        strings.__path__[:] = path
        sys.modules.pop(f"{strings.__name__}.fr", None)
        strings.tables.cache_clear()


def test_a_third_language_is_one_table_file(french) -> None:
    assert strings.languages() == ("en", "fr", "zh")
    assert strings.check_lang("fr") == "fr"
    assert (
        text("fr", "layer") == "Couche" and text("fr", "channel") == "Channel"
    )  # English fills in
    assert strings.hint("fr", "conv", ["conv1"]) == " Vouliez-vous dire 'conv1' ?"
    busy = error_line("fr", engine.ModelBusy("Maximize"))  # the job name has no French: English
    assert busy == "ModelBusy: Maximize tourne : annulez-le ou attendez sa fin, puis réessayez"
    # a code the table does not word: its lead line, then the English detail
    bad = MessageValueError("clip_empty")
    assert error_line("fr", bad) == f"erreur : ValueError: {bad}"
    assert error_line("fr", bad, "error_image") == f"ValueError: {bad}"  # English lead
    ex = LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, lang="fr")
    try:
        assert ex.lang == "fr" and ex._panel.layer.description == "Couche"
        assert ex._panel.channel.description == "Channel"
        with pytest.raises(ValueError, match="Vouliez-vous dire 'channel'"):
            ex.normalization = "chanel"
    finally:
        ex.close()


def test_without_the_fake_table_french_is_refused() -> None:
    assert strings.languages() == ("en", "zh")
    with pytest.raises(
        ValueError, match=r"lang='fr' is not supported; choose one of \('en', 'zh'\)"
    ):
        strings.check_lang("fr")


def test_a_busy_model_is_said_in_the_explorers_language(monkeypatch) -> None:
    monkeypatch.setattr(engine.owner, "WIDGET_WAIT_S", 0.1)
    model = make_tiny_cnn()
    ex = LayerExplorer(model, PATTERNS.images[0], size=32, lang="zh")
    try:
        with model_held(model):
            with pytest.raises(engine.ModelBusy, match="^another featviz call is running"):
                ex.layer = "conv2"
            assert ex.error.startswith("ModelBusy: 另一个 featviz 调用正在运行")
    finally:
        ex.close()


def test_every_code_has_an_english_template_and_formats() -> None:
    samples = {"low": -1.5, "close": ("a",), "shape": (1, 2), "sizes": [(1, 2)]}
    for code, template in ENGLISH.items():
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        message = Message(code, **{name: samples.get(name, "x") for name in fields})
        assert str(message) and "{" not in str(message), code
        assert say("zh", message) != str(message), code  # worded in Chinese, not passed through
