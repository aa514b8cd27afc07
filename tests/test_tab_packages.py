"""The tab registry and the shared job row: a tab is one package, found without being listed.

- Every shipped tab is a package under ``widgets/tabs/`` that sets ``TAB``; none imports another.
- :func:`discover` finds the tabs of any package in ``order`` (a new tab needs no registry edit),
  and an explorer's context builds them.
- :class:`JobTab` owns the Run / Cancel / progress / status row: controls off while a job runs,
  the result or a red failure line at the end, the runner's cache answering at once.
"""

from __future__ import annotations

import ast
import sys
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace

import ipywidgets as w
import numpy as np
import pytest

import featviz_widgets.widgets as widgets_package
import featviz_widgets.widgets.tabs as tabs_package
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets.jobs import JobRunner
from featviz_widgets.widgets.tabs import TABS, JobTab, TabContext, build_tabs, discover
from featviz_widgets.widgets.tabs._base import PngCache

TABS_DIR = Path(tabs_package.__file__).parent
PREFIX = "featviz_widgets.widgets.tabs."


def test_the_registry_finds_every_tab_package_in_display_order() -> None:
    assert [cls.name for cls in TABS] == [
        "maps", "overlay", "kernels", "maximize", "examples", "predictions", "attribution",
        "layers",
    ]  # fmt: skip
    packages = sorted(p.parent.name for p in TABS_DIR.glob("*/__init__.py"))
    assert packages == sorted(cls.__module__.split(".")[3] for cls in TABS)
    for cls in TABS:
        package = sys.modules[cls.__module__.rsplit(".", 1)[0]]
        assert package.TAB is cls, cls
    assert [cls.order for cls in TABS] == sorted(cls.order for cls in TABS)


def _imported(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_a_tab_never_imports_another_tab() -> None:
    """Inside a tab package, only the package itself and the shared ``_`` modules of tabs/."""
    checked = 0
    for path in TABS_DIR.glob("*/*.py"):
        own = path.parent.name
        for module in _imported(path):
            if module.startswith(PREFIX):
                first = module[len(PREFIX) :].split(".")[0]
                assert first == own or first.startswith("_"), f"{own}/{path.name} imports {module}"
                checked += 1
    assert checked > 10  # the walk saw the tabs' imports


def test_no_tab_parts_are_left_at_the_widgets_level() -> None:
    folder = Path(widgets_package.__file__).parent
    assert not list(folder.glob("_*_parts.py"))
    assert not [p.name for p in TABS_DIR.glob("*.py") if not p.name.startswith("_")]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


NEW_TAB = """
    import ipywidgets as w
    from featviz_widgets.widgets.tabs import Tab

    class {cls}(Tab):
        name = "{name}"
        title = "{title}"
        order = {order}

        def __init__(self, ctx):
            super().__init__(ctx)
            self.widget = w.HTML()

        def draw(self, sel):
            self.widget.value = sel.layer

    TAB = {cls}
"""


@pytest.fixture
def new_tabs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A package ``newtabs`` with two tab packages (out of order by name) and a shared module."""
    _write(tmp_path, {
        "newtabs/__init__.py": "",
        "newtabs/_shared.py": "WORD = 'shared code, not a tab'\n",
        "newtabs/saliency/__init__.py": NEW_TAB.format(cls="SaliencyTab", name="saliency",
                                                        title="Saliency", order=45),
        "newtabs/atlas/__init__.py": NEW_TAB.format(cls="AtlasTab", name="atlas",
                                                     title="Atlas", order=80),
    })  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    import newtabs

    yield newtabs
    for name in [m for m in sys.modules if m == "newtabs" or m.startswith("newtabs.")]:
        del sys.modules[name]


def test_a_new_tab_is_one_package_and_an_explorer_context_builds_it(new_tabs, tiny_cnn) -> None:
    found = discover(new_tabs)
    assert [cls.name for cls in found] == ["saliency", "atlas"]  # by order, not by name
    merged = tuple(sorted(TABS + found, key=lambda cls: cls.order))
    assert [cls.name for cls in merged][3:6] == ["maximize", "saliency", "examples"]
    ex = LayerExplorer(tiny_cnn, np.zeros((32, 32, 3), np.uint8), size=32)
    try:
        tabs = build_tabs(ex.tab_object("maps").ctx, found)
        assert list(tabs) == ["saliency", "atlas"]
        tabs["saliency"].update(ex.tab_object("maps").ctx.selection())
        assert tabs["saliency"].widget.value == ex.layer
    finally:
        ex.close()


def test_a_tab_package_without_a_tab_class_is_named(tmp_path, monkeypatch) -> None:
    _write(tmp_path, {"badtabs/__init__.py": "", "badtabs/broken/__init__.py": "TAB = 3\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    import badtabs

    try:
        with pytest.raises(TypeError, match=r"badtabs\.broken must set TAB"):
            discover(badtabs)
    finally:
        for name in [m for m in sys.modules if m.startswith("badtabs")]:
            del sys.modules[name]


# -- JobTab: the shared job row -----------------------------------------------------------------


class _CountTab(JobTab):
    """A job tab counting to ``limit``: the smallest user of the shared row."""

    name = "count"
    title = "Count"
    failed_key = "max_failed"

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self._pngs = PngCache()
        self.limit = w.IntSlider(value=3, min=1, max=10)
        self.gate = threading.Event()
        self.shown: list[tuple] = []
        self.ended: list[object] = []
        runner = JobRunner("Count", cache_if=lambda result: 8 if result > 0 else None)
        row = self._job_row(runner, "Go", "play", "steps")
        self.widget = w.VBox([self.limit, row, self.status])

    def _controls(self) -> list[w.ValueWidget]:
        return [self.limit]

    def run(self) -> None:
        limit = int(self.limit.value)
        self.progress.value, self.progress.max = 0, limit

        def work(cancel, progress):
            self.gate.wait(30)
            if limit == 7:
                raise ZeroDivisionError("seven")
            for step in range(limit):
                if cancel.is_set():
                    return -step
                progress(step + 1)
            return limit

        self.started = self._submit(("count", limit), work, self._step)

    def _step(self, step: int) -> None:
        self.progress.value = step

    def _show_result(self, job, result) -> None:
        self.shown.append((job, result))
        self.status.value = f"counted {result}"

    def _ended(self, error) -> None:
        self.ended.append(error)


def _count_tab() -> _CountTab:
    data = SimpleNamespace(owner=None)
    ctx = TabContext(data=data, selection=lambda: None, request=lambda: None)  # type: ignore[arg-type]
    return _CountTab(ctx)


def test_a_job_tab_owns_its_row_and_greys_its_controls_while_running() -> None:
    tab = _count_tab()
    classes = {part: getattr(tab, part)._dom_classes for part in
               ("run_button", "cancel_button", "progress", "status")}  # fmt: skip
    assert classes["run_button"] == ("featviz-count-run",)
    assert classes["progress"] == ("featviz-count-progress",)
    assert tab.run_button.description == "Go" and tab.cancel_button.description == "Cancel"
    assert not tab.run_button.disabled and tab.cancel_button.disabled
    tab.run_button.click()
    assert tab.running and tab.run_button.disabled and tab.limit.disabled
    assert not tab.cancel_button.disabled
    tab.gate.set()
    assert tab.wait(30) == 3
    assert tab.shown == [(("count", 3), 3)] and tab.ended == [None]
    assert tab.progress.value == 3 and tab.status.value == "counted 3"
    assert not tab.run_button.disabled and not tab.limit.disabled and tab.cancel_button.disabled
    tab.status.value = ""
    tab.run()  # the runner's cache answers: nothing starts, the controls stay on
    assert tab.started is False and not tab.running and not tab.run_button.disabled
    assert tab.runner.result == 3 and len(tab.shown) == 1
    tab.close()


def test_a_job_tab_shows_a_failure_in_red_and_wait_raises_it() -> None:
    tab = _count_tab()
    tab.limit.value = 7
    tab.gate.set()
    tab.run()
    with pytest.raises(ZeroDivisionError, match="seven"):
        tab.wait(30)
    assert "maximize failed: ZeroDivisionError: seven" in tab.status.value
    assert "#b00020" in tab.status.value and isinstance(tab.ended[0], ZeroDivisionError)
    assert not tab.run_button.disabled and not tab.limit.disabled and tab.cancel_button.disabled
    assert tab.shown == []
    tab.close()


def test_cancel_reaches_the_work_and_stop_waits_for_it() -> None:
    tab = _count_tab()
    tab.limit.value = 10
    tab.run()
    tab.cancel_button.click()
    tab.gate.set()
    assert tab.wait(30) == 0 and tab.shown == [(("count", 10), 0)]
    assert tab.runner.cached(("count", 10)) is None  # a cancelled run is not kept
    tab.gate.clear()
    tab.run()
    assert tab.running
    threading.Timer(0.2, tab.gate.set).start()
    tab.stop()  # cancels, then waits for the thread to end
    assert not tab.running and not tab.run_button.disabled and tab.ended == [None, None]
    tab.close()
