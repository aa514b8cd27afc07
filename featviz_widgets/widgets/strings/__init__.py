"""Every word the explorer shows, one table per language: ``text("zh", "layer")`` -> "层".

Labels, tooltips, captions, messages and widget errors are looked up here by key, never written
inline, so ``LayerExplorer(..., lang="zh")`` shows Simplified Chinese everywhere. Values are
``str.format`` templates.

A language is one module of this package named by its code (``en.py``, ``zh.py``) holding a
``TABLE`` dict: the modules are found when a table is first needed, so a new language is one new
file. A test checks that every shipped language has exactly the keys of English; a key a table
lacks is looked up in English.

The library's messages (``featviz_widgets.messages``: a code plus parameters) are worded by the
key ``msg_<code>``; nothing here reads their English. An error the widget layer words itself is
a :class:`WidgetError` that knows its language.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from types import MappingProxyType

from featviz_widgets._text import close_names
from featviz_widgets.messages import Message, message_of

__all__ = [
    "WidgetError",
    "WidgetTypeError",
    "WidgetValueError",
    "check_lang",
    "error_line",
    "hint",
    "languages",
    "reworded",
    "say",
    "tables",
    "text",
    "widget_error",
]

# The names the widgets' job runners give the model's owner (``owner.running(name)``), which a
# busy message carries as its ``job``, and the key of each in the tables.
_JOBS = {"Maximize": "job_maximize", "Examples": "job_examples", "Attribution": "job_attribution"}


@cache
def tables() -> Mapping[str, Mapping[str, str]]:
    """Every language's table, by code: English first, then the others by name."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            found[module.name] = importlib.import_module(f"{__name__}.{module.name}").TABLE
    order = ["en", *sorted(name for name in found if name != "en")]
    return MappingProxyType({name: MappingProxyType(found[name]) for name in order})


def languages() -> tuple[str, ...]:
    """The codes ``lang=`` accepts: ``("en", "zh")`` and any table added to this package."""
    return tuple(tables())


def check_lang(lang: object) -> str:
    """``lang`` when it is a known language; ValueError naming the choices otherwise."""
    if not isinstance(lang, str) or lang not in tables():
        raise ValueError(f"lang={lang!r} is not supported; choose one of {languages()}")
    return lang


def text(lang: str, key: str, /, **values: object) -> str:
    """The string ``key`` in ``lang`` (else in English), formatted with ``values``.

    KeyError for a key English does not have either.
    """
    template = tables()[lang].get(key)
    if template is None:
        template = tables()["en"][key]
    return template.format(**values)


def _own_templates(lang: str) -> Callable[[str], str | None]:
    """The template of a message code in ``lang``'s own table (None where it has none)."""
    table = tables()[lang]
    return lambda code: table.get(f"msg_{code}")


def _worded(lang: str, message: Message) -> str | None:
    """``message`` in ``lang``, or None when the table has no template for its code."""
    job = message.params.get("job")
    if isinstance(job, str) and not isinstance(job, Message) and job in _JOBS:
        message = Message(message.code, **{**message.params, "job": text(lang, _JOBS[job])})
    return message.worded(_own_templates(lang))


def say(lang: str, note: str) -> str:
    """A note of the library in ``lang``: a :class:`Message` is worded by its code (in English
    where the table has no template for it); any other string is code or a name, shown as it is.
    """
    if not isinstance(note, Message):
        return note
    worded = _worded(lang, note)
    return str(note) if worded is None else worded


def hint(lang: str, name: object, candidates: Iterable[str]) -> str:
    """The " Did you mean 'a', 'b'?" sentence in ``lang`` ("" when nothing is close)."""
    close = close_names(name, candidates)  # type: ignore[arg-type]
    return text(lang, "msg_close", names=", ".join(map(repr, close))) if close else ""


class WidgetError(Exception):
    """An error the widget layer worded itself, in the language ``lang``."""

    def __init__(self, message: str, lang: str) -> None:
        super().__init__(message)
        self.lang = lang


class WidgetValueError(WidgetError, ValueError):
    """A ValueError worded by the widget layer."""


class WidgetTypeError(WidgetError, TypeError):
    """A TypeError worded by the widget layer."""


# Named to a person as the built-in error they are (see featviz_widgets.messages).
WidgetValueError.__name__ = "ValueError"
WidgetTypeError.__name__ = "TypeError"


def widget_error(
    lang: str, key: str, error_type: type[Exception] = ValueError, /, **values: object
) -> WidgetError:
    """The error worded by ``key`` in ``lang``: a TypeError when ``error_type`` is one, else a
    ValueError."""
    flavour = WidgetTypeError if issubclass(error_type, TypeError) else WidgetValueError
    return flavour(text(lang, key, **values), lang)


def reworded(lang: str, error: BaseException) -> BaseException:
    """A library error as the widget says it: a :class:`WidgetValueError` in ``lang`` when it
    carries a message with a template there, else ``error`` itself (its English is shown after a
    lead line)."""
    message = message_of(error)
    worded = None if message is None else _worded(lang, message)
    return error if worded is None else WidgetValueError(worded, lang)


def error_line(lang: str, error: BaseException, lead: str = "error") -> str:
    """The line the widget shows for ``error``: ``"ValueError: ..."`` in English.

    An error the widget layer worded in ``lang``, or a library message with a template in
    ``lang``, reads ``"<type>: <sentence>"``. Any other error (a library message without a
    template there, an error of the model or of a library worded only in English) keeps its
    English after the lead line ``lead`` in ``lang``: "error", "error_layer" or "error_image".
    """
    kind = type(error).__name__
    if isinstance(error, WidgetError) and error.lang == lang:
        return f"{kind}: {error}"
    message = message_of(error)
    worded = None if message is None else _worded(lang, message)
    if worded is not None:
        return f"{kind}: {worded}"
    return text(lang, lead, kind=kind, detail=str(error))
