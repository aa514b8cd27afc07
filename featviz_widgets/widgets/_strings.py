"""Every word the explorer shows, one table per language: ``text("zh", "layer")`` -> "层".

Labels, tooltips, captions, messages and widget errors are looked up here by key, never written
inline, so ``LayerExplorer(..., lang="zh")`` shows Simplified Chinese everywhere. A test checks that
every language has exactly the keys of English. Values are ``str.format`` templates.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")

EN: dict[str, str] = {
    "layer": "Layer",
    "channel": "Channel",
}

ZH: dict[str, str] = {
    "layer": "层",
    "channel": "通道",
}

TABLES: dict[str, dict[str, str]] = {"en": EN, "zh": ZH}


def check_lang(lang: object) -> str:
    """``lang`` when it is a known language; ValueError naming the choices otherwise."""
    if lang not in TABLES:
        raise ValueError(f"lang={lang!r} is not supported; choose one of {LANGUAGES}")
    return lang  # type: ignore[return-value]


def text(lang: str, key: str, **values: object) -> str:
    """The string ``key`` in ``lang``, formatted with ``values`` (KeyError for an unknown key)."""
    return TABLES[lang][key].format(**values)
