"""Every word the explorer shows, one table per language: ``text("zh", "layer")`` -> "层".

Labels, tooltips, captions, messages and widget errors are looked up here by key, never written
inline, so ``LayerExplorer(..., lang="zh")`` shows Simplified Chinese everywhere. A test checks that
every language has exactly the keys of English. Values are ``str.format`` templates.
"""

from __future__ import annotations

from collections.abc import Iterable

from featviz_widgets._text import did_you_mean
from featviz_widgets.engine import ModelBusy
from featviz_widgets.widgets._strings_en import EN
from featviz_widgets.widgets._strings_zh import ZH

LANGUAGES = ("en", "zh")

TABLES: dict[str, dict[str, str]] = {"en": EN, "zh": ZH}


def check_lang(lang: object) -> str:
    """``lang`` when it is a known language; ValueError naming the choices otherwise."""
    if not isinstance(lang, str) or lang not in TABLES:
        raise ValueError(f"lang={lang!r} is not supported; choose one of {LANGUAGES}")
    return lang  # type: ignore[return-value]


def text(lang: str, key: str, **values: object) -> str:
    """The string ``key`` in ``lang``, formatted with ``values`` (KeyError for an unknown key)."""
    return TABLES[lang][key].format(**values)


def hint(lang: str, name: object, candidates: Iterable[str]) -> str:
    """``did_you_mean``'s " Did you mean 'a', 'b'?" in ``lang`` ("" when nothing is close)."""
    english = did_you_mean(name, candidates)  # type: ignore[arg-type]
    if not english:
        return ""
    # The close names are found once, by did_you_mean; only the sentence around them is worded.
    names = english.removeprefix(" Did you mean ").removesuffix("?")
    return text(lang, "hint", names=names)


# The names JobRunner gives the model's owner (``owner.running(name)``), as ModelBusy says them.
_JOBS = {"Maximize": "job_maximize", "Examples": "job_examples"}


def error_line(lang: str, error: BaseException, lead: str = "error") -> str:
    """The line the widget shows for ``error``: ``"ValueError: ..."`` in English.

    Messages from the library below the widgets (engine, inputs, optvis) are English by design;
    in another language they come after a lead line in that language (``lead``: "error",
    "error_layer", "error_image"). A message the widget layer already wrote in ``lang`` is shown
    as it is, and ``ModelBusy`` is worded afresh with the job's name in ``lang``.
    """
    detail, kind = str(error), type(error).__name__
    if lang != "en" and isinstance(error, ModelBusy):
        job = next((key for name, key in _JOBS.items() if detail.startswith(f"{name} ")), None)
        return text(lang, "busy", job=text(lang, job or "job_other"))
    if lang != "en" and _has_cjk(detail):
        return f"{kind}: {detail}"
    return text(lang, lead, kind=kind, detail=detail)


def _has_cjk(message: str) -> bool:
    """Whether ``message`` holds CJK ideographs (it was worded in Chinese by the widget layer)."""
    return any("\u4e00" <= char <= "\u9fff" for char in message)
