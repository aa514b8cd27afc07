"""The explorer's languages: the string tables, and a ``lang="zh"`` explorer that shows no English.

The widget test walks every widget an explorer built (``widget_tree``) after showing every tab,
a channel, the sum, a finished Maximize run and a finished Examples run, and looks for any word
of the English table in what the user can read: a string forgotten outside the tables fails it.
The AST test catches the same mistake before it runs: a literal English sentence handed to a
label, a description, a tooltip, a caption or a note anywhere in ``featviz_widgets/widgets``.
"""

from __future__ import annotations

import ast
import html
import re
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from support import make_tiny_cnn, model_held

import featviz_widgets.widgets as widgets_package
from featviz_widgets import engine
from featviz_widgets.lab.patterns import make_patterns
from featviz_widgets.messages import ENGLISH, Message
from featviz_widgets.optvis.targets import LayerChoice
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets._views import interpret, summary
from featviz_widgets.widgets.controls import widget_tree
from featviz_widgets.widgets.strings import check_lang, error_line, hint, tables, text, widget_error

# Keys whose Chinese may equal the English: none today. A value made only of numbers, units and
# names ("PNG", "ReLU", "{layer}") would belong here, with the reason.
SAME_IN_BOTH: set[str] = set()

# English words that stay English in Chinese text: code (keyword arguments, API values, class
# and file-format names) and units. Everything else in the EN table is a word to translate.
CODE_WORDS = {
    "None", "sum", "grid", "layers", "weights", "labels", "preprocess", "torch", "add", "PNG",
    "RGB", "featviz", "LayerExplorer", "token", "tokens", "ReLU", "png", "px",
}  # fmt: skip

EN, ZH = tables()["en"], tables()["zh"]
LABELS = [f"类别{i}" for i in range(10)]  # Chinese class names, as labels= may give them
PATTERNS = make_patterns(6, size=32, seed=1)


def _fields(template: str) -> set[str]:
    """The placeholder names of a str.format template (``{value:.3g}`` -> ``value``)."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None:
            names.add(re.split(r"[.\[]", field)[0])
    return names


# -- the tables ------------------------------------------------------------------------------
def test_every_language_has_exactly_the_keys_of_english() -> None:
    assert tuple(tables()) == ("en", "zh")
    for lang, table in tables().items():
        assert set(table) == set(EN), (lang, set(table) ^ set(EN))
    # every library message has its key: a code added to messages.ENGLISH needs a translation
    assert {key for key in EN if key.startswith("msg_")} == {f"msg_{code}" for code in ENGLISH}


def test_every_template_has_the_placeholders_of_its_english() -> None:
    wrong = {key: (_fields(EN[key]), _fields(ZH[key])) for key in EN}
    wrong = {key: pair for key, pair in wrong.items() if pair[0] != pair[1]}
    assert not wrong, wrong


def test_chinese_differs_from_english_except_on_the_allow_list() -> None:
    same = {key for key in EN if EN[key] == ZH[key]}
    assert same <= SAME_IN_BOTH, same - SAME_IN_BOTH


def test_every_template_formats_with_its_placeholders() -> None:
    samples = {"value": 1.5, "low": 0.0, "high": 1.0, "mean": 0.5, "zeros": 10.0, "alpha": 0.5,
               "rate": 3.0, "seconds": 1.2, "params": 1234}  # fmt: skip
    for lang, table in tables().items():
        for key, template in table.items():
            values = {name: samples.get(name, 7) for name in _fields(template)}
            assert text(lang, key, **values), (lang, key)


def test_unknown_language_is_a_value_error_naming_the_choices() -> None:
    for bad in ("fr", "ZH", None, ["zh"]):
        with pytest.raises(ValueError, match=r"choose one of \('en', 'zh'\)"):
            check_lang(bad)
    with pytest.raises(ValueError, match="lang='fr'.*'en', 'zh'"):
        LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, lang="fr")


def test_hint_summary_and_error_lines_speak_the_language() -> None:
    assert hint("en", "conv", ["conv1", "fc"]) == " Did you mean 'conv1'?"
    assert hint("zh", "conv", ["conv1", "fc"]) == " 您是不是想输入 'conv1'？"
    assert hint("zh", "zzz", ["conv1"]) == ""
    values = np.array([0.0, 1.0, 2.0, 3.0])
    assert summary(values) == "min 0 · max 3 · mean 1.5 · 25.0% zeros"
    assert summary(values, "zh") == "最小值 0 · 最大值 3 · 均值 1.5 · 零值占 25.0%"
    assert summary(np.array([np.nan]), "zh") == ZH["no_finite"]
    busy = engine.ModelBusy("Maximize")
    assert str(busy) == "Maximize is running: Cancel it or wait for it to finish, then try again"
    assert error_line("en", busy) == f"ModelBusy: {busy}"
    assert error_line("zh", busy) == "ModelBusy: 激活最大化正在运行：请先取消它，或等它结束后再试"
    other = engine.ModelBusy()
    assert str(other).startswith("another featviz call is running")
    assert error_line("zh", other).startswith("ModelBusy: 另一个 featviz 调用正在运行")
    below = RuntimeError("forward failed at conv2")  # library text: English, led by Chinese
    assert error_line("en", below) == "RuntimeError: forward failed at conv2"
    assert error_line("zh", below) == "出错了：RuntimeError: forward failed at conv2"
    assert error_line("zh", below, "error_layer").startswith("无法读取该层：RuntimeError: ")
    ours = widget_error("zh", "err_no_picture", layer="fc")  # worded in Chinese: shown as is
    assert error_line("zh", ours) == "ValueError: fc 没有可以保存的图片"
    assert error_line("en", ours) == "ValueError: fc 没有可以保存的图片"  # English lead: "{kind}: "


# -- a Chinese explorer ----------------------------------------------------------------------
def _english_words() -> set[str]:
    words = set()
    for template in EN.values():
        bare = re.sub(r"\{[^}]*\}", " ", template)
        words.update(re.findall(r"[A-Za-z]{2,}", bare))
    return {word.lower() for word in words} - {word.lower() for word in CODE_WORDS}


def _visible_text(widget) -> list[str]:
    """What a user can read on ``widget``: labels, tooltips, titles, option labels, HTML text."""
    found = []
    for attr in ("description", "tooltip", "placeholder", "tip"):
        value = getattr(widget, attr, None)
        if isinstance(value, str):
            found.append(value)
    for attr in ("tooltips", "titles", "_options_labels", "header"):
        found.extend(str(item) for item in getattr(widget, attr, None) or ())
    for row in getattr(widget, "rows", None) or ():  # the Layers table's cells
        found.extend(str(cell) for cell in row)
    words = getattr(widget, "words", None)  # the picture widget's hover words
    if isinstance(words, dict):
        found.extend(str(value) for value in words.values())
    value = getattr(widget, "value", None)
    shown_as_html = ("HTML", "Label", "HTMLMath", "ClickableHTML")  # the last: Predictions
    if type(widget).__name__ in shown_as_html and isinstance(value, str):
        value = re.sub(r"<style>.*?</style>", " ", value, flags=re.S)
        found.append(html.unescape(re.sub(r"<[^>]+>", " ", value)))
    return found


def _english_in(ex: LayerExplorer) -> dict[str, list[str]]:
    """Every visible text of ``ex`` that holds a word of the English table (layer names aside)."""
    english = _english_words()
    names = sorted({*ex.activations, *(t.type for t in ex._data.infos.values())}, key=len)
    wrong: dict[str, list[str]] = {}
    for widget in widget_tree(ex):
        for shown in _visible_text(widget):
            bare = shown
            for name in reversed(names):  # longest first: "conv1" is not read as "conv"
                bare = bare.replace(name, " ")
            hits = [w for w in re.findall(r"(?<![\w.])[A-Za-z]{2,}(?![\w.])", bare)
                    if w.lower() in english]  # fmt: skip
            if hits:
                wrong.setdefault(shown, hits)
    return wrong


def _show_everything(ex: LayerExplorer) -> None:
    """Every tab, with the grid, one channel and the sum; a finished Maximize and Examples run."""
    maximize = ex.tab_object("maximize")
    maximize.steps.value, maximize.size.value = 4, 64
    examples = ex.tab_object("examples")
    for channel in (None, 0, "sum"):
        ex.channel = channel
        for title in ex.tab_names:
            ex.tab = title
    ex.channel = 1
    ex.tab = "Maximize"
    maximize.run()
    assert maximize.wait(60) is not None
    ex.tab = "Examples"
    examples.run()
    assert examples.wait(60) is not None
    ex.channel = None
    ex.tab = "Feature maps"
    ex.layer = "fc"  # a vector: unit options and a strip
    ex.tab = "Kernels"
    ex.layer = "relu1"  # no weights: the Kernels note
    ex.tab = "Overlay"
    ex.layer = "fc"  # no spatial map: the Overlay note
    ex.tab = "Layers"


def test_a_chinese_explorer_shows_no_english_word() -> None:
    ex = LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, lang="zh", labels=LABELS,
                       dataset=list(PATTERNS.images))  # fmt: skip
    try:
        assert ex.lang == "zh"
        _show_everything(ex)
        wrong = _english_in(ex)
        assert not wrong, wrong
        tab_titles = set(ex._tab.titles)
        assert {"特征图", "卷积核", "激活最大化", "预测", "层列表"} <= tab_titles
        assert ex._panel.layer.description == "层" and ex._panel.channel.description == "通道"
    finally:
        ex.close()


def test_the_english_scan_catches_a_forgotten_string() -> None:
    ex = LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, lang="zh")
    try:
        assert _english_in(ex) == {}
        ex.tab_object("overlay").opacity.description = "Opacity"
        ex._message.widget.value = "<div>no class names here</div>"
        assert set(_english_in(ex)) == {"Opacity", " no class names here "}
    finally:
        ex.close()


def test_chinese_class_names_and_chinese_errors_in_the_widget() -> None:
    ex = LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, lang="zh", labels=LABELS)
    try:
        ex.tab = "Predictions"
        table = ex.tab_object("predictions").html.value
        assert "类别" in table and "概率" in table and sum(name in table for name in LABELS) == 5
        with pytest.raises(ValueError, match=r"channel 必须是.*收到的是 999"):
            ex.channel = 999
        assert ex.error is not None and "收到的是 999" in ex.error
        assert "收到的是 999" in ex._message.widget.value
        with pytest.raises(ValueError, match="未知的层 'conv'。 您是不是想输入 'conv1'"):
            ex.layer = "conv"
    finally:
        ex.close()


def test_english_stays_the_default() -> None:
    ex = LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, labels=LABELS)
    try:
        assert ex.lang == "en" and ex._panel.layer.description == "Layer"
        assert ex._tab.titles[0] == "Feature maps"
        assert "channels 1-8 of 8" in ex.tab_object("maps").caption.value
        with pytest.raises(ValueError, match=r"an int in \[0, 8\) for conv1, got 999"):
            ex.channel = 999
    finally:
        ex.close()


# -- no literal sentence outside the tables ----------------------------------------------------
TEXT_KEYWORDS = {"description", "tooltip", "tooltips", "titles", "placeholder"}
TEXT_CALLS = {"Label", "caption", "note", "_label"}  # their first argument is shown as text


def _literal_words(node: ast.AST) -> list[str]:
    """Words (2+ letters, markup removed) of the string literals inside ``node``.

    The literals of a table lookup (``text(lang, f"tip_{kind}")``) name a key, not a sentence.
    """
    if isinstance(node, ast.Call) and _is_lookup(node):
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.findall(r"[A-Za-z]{2,}", re.sub(r"<[^>]*>|&\w+;", " ", node.value))
    return [word for child in ast.iter_child_nodes(node) for word in _literal_words(child)]


def _shown_arguments(call: ast.Call) -> list[ast.AST]:
    """The arguments of ``call`` that end up on screen as text."""
    shown = [k.value for k in call.keywords if k.arg in TEXT_KEYWORDS]
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name in TEXT_CALLS and call.args:
        shown.append(call.args[0])
    if name in {"HTML", "Label"}:
        shown.extend(k.value for k in call.keywords if k.arg == "value")
    return shown


def test_no_widget_text_is_a_literal_sentence() -> None:
    root = Path(widgets_package.__file__).parent
    wrong = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                for argument in _shown_arguments(node):
                    words = _literal_words(argument)
                    if words:
                        wrong.append(f"{path.relative_to(root)}:{node.lineno} {words}")
    assert not wrong, wrong


def _is_lookup(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in {"text", "say", "get"}


def test_the_literal_check_flags_sentences_and_passes_lookups() -> None:
    def flagged(source: str) -> list[str]:
        call = ast.parse(source).body[0].value
        return [word for arg in _shown_arguments(call) for word in _literal_words(arg)]

    assert flagged('w.Button(description="Run", icon="play")') == ["Run"]
    assert flagged('caption(f"running: {job.describe()}")') == ["running"]
    assert flagged("w.HTML(value=\"<div style='x'>no names</div>\")") == ["no", "names"]
    assert flagged('w.Button(description=say("run"), icon="play")') == []
    assert flagged('w.ToggleButtons(tooltips=[text(lang, f"tip_{k}") for k in KINDS])') == []
    assert flagged('caption(f"{head} · {span}")') == []


def test_no_picture_is_drawn_with_text() -> None:
    """Exported PNGs carry no text, so no CJK font is needed: nothing imports a text drawer."""
    root = Path(widgets_package.__file__).parent.parent
    drawers = {"PIL.ImageDraw", "PIL.ImageFont", "matplotlib.pyplot", "matplotlib.figure"}
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {f"{node.module}.{alias.name}" for alias in node.names}
                names.add(node.module or "")
            else:
                continue
            if names & drawers:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found, found


def test_the_input_caption_of_the_library_is_worded_in_the_language() -> None:
    ex = LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, lang="zh")
    try:
        ex._data._input_note = Message("unit_scale")  # what inputs says for a Keras model
        assert ex._data.input_note("zh") == ZH["msg_unit_scale"]
        assert ex._data.input_note() == "pixels scaled to [0, 1] (no preprocess=)"
        ex._data._input_note = "preprocess=keras.applications.resnet.preprocess_input"
        assert ex._data.input_note("zh") == ex._data._input_note  # a function name is code
    finally:
        ex.close()


def test_messages_from_below_get_a_chinese_lead_line() -> None:
    with pytest.raises(ValueError, match="^无法读取 dataset=：images folder not found"):
        LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, lang="zh",
                      dataset="no/such/folder")  # fmt: skip
    ex = LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, lang="zh")
    try:
        why = Message("layer_moved", asked="conv1", field="3x3", layer="conv2")
        reason = ex.tab_object("maximize")._reason(
            LayerChoice("conv2", "conv1", None, why)
        )  # worded by code
        assert reason.startswith(
            "conv1 的感受野只覆盖图像的一小部分，改为显示 conv2（conv1 只看到 3x3"
        )
        assert ex.tab_object("maximize")._reason(LayerChoice("conv1", "conv1", None)) == ""
    finally:
        ex.close()


def test_layout_notes_are_worded_in_the_language() -> None:
    view = interpret("blocks.0", torch.zeros(1, 17, 8), hint="tokens")  # class token + 4x4
    assert view.note() == "tokens as a grid (class token set aside)"
    assert view.note("zh") == "token 排成网格（已去掉类别 token）"
    assert interpret("x", torch.zeros(1, 8, 4, 4)).note("zh") == ""
    assert interpret("x", torch.zeros(1)).note("zh") == ZH["note_empty"]


def test_a_busy_model_and_a_bad_image_are_said_in_chinese(monkeypatch) -> None:
    monkeypatch.setattr(engine.owner, "WIDGET_WAIT_S", 0.2)
    model = make_tiny_cnn()
    ex = LayerExplorer(model, PATTERNS.images[0], size=32, lang="zh")
    with model_held(model, "Maximize"):
        with pytest.raises(engine.ModelBusy, match="Maximize is running"):  # the raised text
            ex.layer = "conv2"  # never captured: it needs the model
        assert ex.error == "ModelBusy: 激活最大化正在运行：请先取消它，或等它结束后再试"  # shown
        assert "激活最大化正在运行" in ex._message.widget.value
    try:
        with pytest.raises(ValueError, match=r"the array is empty \(shape \(0, 5\)\)"):
            ex.set_image(np.zeros((0, 5)))  # a message of inputs: worded by its code
        assert ex.error == "ValueError: array 是空的（形状 (0, 5)）；请传入有像素的图像"
        with pytest.raises(ValueError) as raised:  # an error worded only in English
            ex.set_image(np.zeros((4, 4, 7)))
        assert ex.error == f"无法读取这张图像：ValueError: {raised.value}"
        ex.columns = 3
        assert ex.error is None and ex._message.widget.value == ""
    finally:
        ex.close()


class _Unused(torch.nn.Module):
    """A convolution and a module that never runs in the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.unused = torch.nn.Conv2d(4, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_the_value_checks_of_the_controls_are_chinese() -> None:
    ex = LayerExplorer(_Unused(), PATTERNS.images[0], size=32, lang="zh")
    try:
        with pytest.raises(
            ValueError, match=r"层 'unused'（Conv2d）在这张图像的前向传播中没有运行"
        ):
            ex.layer = "unused"
        with pytest.raises(ValueError, match=r"columns 必须是 \[1, 64\] 内的整数，收到的是 0"):
            ex.columns = 0
        with pytest.raises(ValueError, match="未知的 normalization：'chanel'.*想输入 'channel'"):
            ex.normalization = "chanel"
        assert (
            "未知的 normalization" in ex.error
            and "未知的 normalization" in ex._message.widget.value
        )
        with pytest.raises(ValueError, match="未知的色图 'nope'"):
            ex.colormap = "nope"
    finally:
        ex.close()
