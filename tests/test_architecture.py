"""The shape of the house: public API, import directions, and the engine without ipywidgets."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import featviz_widgets

ENGINE_MODULES = [
    "featviz_widgets.engine",
    "featviz_widgets.inputs",
    "featviz_widgets.layout",
    "featviz_widgets.render",
    "featviz_widgets.optvis",
    "featviz_widgets.examples",
    "featviz_widgets.lab",
    "featviz_widgets.lab.patterns",
    "featviz_widgets.lab.tiny_cnn",
    "featviz_widgets.lab.samples",
]


def _run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_every_public_name_resolves() -> None:
    for name in featviz_widgets.__all__:
        assert getattr(featviz_widgets, name) is not None, name
    assert featviz_widgets.__version__.count(".") == 2


def test_unknown_attribute_is_a_clear_attribute_error() -> None:
    try:
        featviz_widgets.no_such_thing  # noqa: B018
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_engine_imports_with_ipywidgets_absent() -> None:
    result = _run_isolated(
        f"""
        import sys
        sys.modules["ipywidgets"] = None  # any import of it now raises ImportError
        import featviz_widgets
        for name in {ENGINE_MODULES!r}:
            __import__(name)
        featviz_widgets.engine, featviz_widgets.render, featviz_widgets.maximize
        try:
            featviz_widgets.LayerExplorer
        except ImportError:
            print("widgets need ipywidgets")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "widgets need ipywidgets" in result.stdout


def test_render_and_layout_are_torch_free() -> None:
    result = _run_isolated(
        """
        import sys
        import featviz_widgets.layout
        import featviz_widgets.render
        print("torch" in sys.modules, "ipywidgets" in sys.modules)
        """
    )
    assert result.stdout.split() == ["False", "False"], result.stdout + result.stderr


def test_capture_imports_neither_widgets_nor_renderer() -> None:
    result = _run_isolated(
        """
        import sys
        import featviz_widgets.engine
        import featviz_widgets.inputs
        watched = ("ipywidgets", "featviz_widgets.render", "featviz_widgets.widgets",
                   "featviz_widgets.optvis")
        print([m for m in watched if m in sys.modules])
        """
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_widgets_are_lazy_and_capture_stays_the_function() -> None:
    result = _run_isolated(
        """
        import sys
        import featviz_widgets
        print("ipywidgets" in sys.modules)
        from featviz_widgets import LayerExplorer, capture
        import featviz_widgets.engine
        from featviz_widgets import capture as again
        print(callable(capture), capture is again, featviz_widgets.capture is capture)
        """
    )
    assert result.stdout.split() == ["False", "True", "True", "True"], result.stdout + result.stderr


def test_timm_and_transformers_are_never_imported() -> None:
    """They are optional: featviz reads their models' metadata by attribute name."""
    result = _run_isolated(
        """
        import sys
        import featviz_widgets
        from featviz_widgets import LayerExplorer, inputs, layout, maximize, engine, examples
        print([m for m in ("timm", "transformers") if m in sys.modules])
        """
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_keras_is_never_imported() -> None:
    """Optional: a Keras model is recognized by its classes' modules; keras is imported only by
    the Keras adapter, once such a model (and so keras itself) is already there."""
    result = _run_isolated(
        """
        import sys
        import featviz_widgets
        from featviz_widgets import LayerExplorer, inputs, layout, maximize, engine, examples
        from featviz_widgets.engine import adapters, owner_for
        from torch import nn
        conv = nn.Conv2d(3, 4, 3)
        owner_for(conv).input_channels
        print([m for m in ("keras", "tensorflow", "jax") if m in sys.modules])
        """
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


HOOK_CALLS = {
    "register_forward_hook",
    "register_forward_pre_hook",
    "register_full_backward_hook",
    "register_full_backward_pre_hook",
    "register_backward_hook",
    "register_module_forward_hook",
    "register_module_forward_pre_hook",
}
TRACE_CALLS = {"create_feature_extractor", "get_graph_node_names", "symbolic_trace"}


def _calls_by_file(names: set[str]) -> dict[str, list[int]]:
    """Package files (relative paths) that mention any of ``names`` as a call or attribute."""
    root = Path(featviz_widgets.__file__).parent
    found: dict[str, list[int]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            name = (
                node.attr if isinstance(node, ast.Attribute)
                else node.id if isinstance(node, ast.Name)
                else node.name if isinstance(node, ast.alias)
                else None
            )  # fmt: skip
            if name in names or (isinstance(node, ast.alias) and node.name.split(".")[-1] in names):
                found.setdefault(path.relative_to(root).as_posix(), []).append(node.lineno)
    return found


def test_hooks_are_registered_in_one_engine_module_only() -> None:
    found = _calls_by_file(HOOK_CALLS)
    assert set(found) == {"engine/_recorder.py"}, found


def test_fx_tracing_lives_in_the_engine_only() -> None:
    found = _calls_by_file(TRACE_CALLS)
    assert set(found) == {"engine/_fx.py"}, found


def test_the_detector_sees_a_hook_outside_the_engine(tmp_path, monkeypatch) -> None:
    """The AST walk must fail on a stray registration, or the two tests above prove nothing."""
    fake = tmp_path / "featviz_widgets"
    (fake / "widgets").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "widgets" / "x.py").write_text("def f(m):\n    return m.register_forward_hook(print)\n")
    monkeypatch.setattr(featviz_widgets, "__file__", str(fake / "__init__.py"))
    assert _calls_by_file(HOOK_CALLS) == {"widgets/x.py": [2]}


# The import arrows the README's Architecture section draws: unit -> units it may import.
ALLOWED_IMPORTS = {
    "messages": set(),
    "_text": {"messages"},
    "_images": {"messages"},
    "_processors": set(),
    "_layout_rules": set(),
    "engine": {"layout", "_layout_rules", "_text", "messages"},
    "inputs": {"engine", "_processors", "_images", "_text", "messages"},
    "layout": {"_layout_rules", "_text"},
    "render": {"_text", "messages"},
    "optvis": {"engine", "inputs", "layout", "_text", "messages"},
    "examples": {"engine", "inputs", "layout", "_text", "messages"},
    "widgets": {
        "engine",
        "optvis",
        "examples",
        "attribution",
        "render",
        "inputs",
        "layout",
        "_text",
        "messages",
    },  # fmt: skip
    "attribution": {"engine", "inputs", "render", "_text", "messages"},
    "lab": {"inputs", "_text"},
}


def _imported_units(path: Path, root: Path) -> set[str]:
    """Top-level package units (``engine``, ``render``...) that ``path`` imports."""
    parts = path.relative_to(root).parts
    package = ["featviz_widgets", *parts[:-1]]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            modules = [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for module in modules:
            pieces = module.split(".")
            if pieces[0] == "featviz_widgets" and len(pieces) > 1:
                found.add(pieces[1].removesuffix(".py"))
    return found


def test_imports_follow_the_readme_arrows() -> None:
    root = Path(featviz_widgets.__file__).parent
    wrong = {}
    for path in sorted(root.rglob("*.py")):
        unit = path.relative_to(root).parts[0].removesuffix(".py")
        if unit == "__init__":
            continue  # the lazy public API names everything
        extra = _imported_units(path, root) - ALLOWED_IMPORTS[unit] - {unit}
        if extra:
            wrong[path.relative_to(root).as_posix()] = sorted(extra)
    assert not wrong, wrong
    readme = (root.parent / "README.md").read_text()
    for unit, targets in ALLOWED_IMPORTS.items():
        for target in targets - {"_text", "messages"}:
            assert f"`{unit} -> {target}`" in readme, f"README lacks {unit} -> {target}"


def _calls_on_an_adapter(root: Path) -> dict[str, list[int]]:
    """Files (relative paths) that call ``<adapter>.forward(...)`` or ``<adapter>.watch(...)``:
    an attribute call named forward/watch on anything spelled with "adapter"."""
    found: dict[str, list[int]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"forward", "watch"}
                and "adapter" in ast.unparse(node.func.value).lower()
            ):
                found.setdefault(path.relative_to(root).as_posix(), []).append(node.lineno)
    return found


def test_only_the_engine_runs_a_model_through_its_adapter() -> None:
    """Outside ``engine/`` a model runs through engine functions (capture, Recording...), which
    hold the model's owner and name its outputs; never through ``adapter.forward``/``watch``."""
    found = _calls_on_an_adapter(Path(featviz_widgets.__file__).parent)
    assert found, "the engine itself calls its adapters: the detector found none"
    outside = {path: lines for path, lines in found.items() if not path.startswith("engine/")}
    assert not outside, outside


def test_the_detector_sees_an_adapter_call_outside_the_engine(tmp_path) -> None:
    (tmp_path / "optvis").mkdir()
    (tmp_path / "optvis" / "x.py").write_text(
        "def f(owner, m, x):\n"
        "    with owner.adapter.watch(m, ['a'], print):\n"
        "        return owner.adapter.forward(m, x)\n"
        "def g(layer, x):\n"
        "    return layer.forward(x)\n"  # not an adapter: allowed
    )
    assert _calls_on_an_adapter(tmp_path) == {"optvis/x.py": [2, 3]}


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith(
        "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at module level or inside functions and classes, except those
    under ``if TYPE_CHECKING:`` (they never run)."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif _type_checking_only(node):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from . import x`` names module ``x``; a
    name imported from a package is an import of the package's ``__init__``)."""
    package = root.name
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            else:
                pieces = here.split(".")
                base = pieces[: len(pieces) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                wanted = [
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                    for alias in node.names
                ]
            for target in wanted:
                while target and target not in modules:  # "a.b.c" names module "a.b" at least
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    """Function-level imports count too: they only postpone a cycle until the call."""
    graph = import_graph(Path(featviz_widgets.__file__).parent)
    assert "featviz_widgets.engine._types" in graph["featviz_widgets.engine._state"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_sees_a_cycle_hidden_in_a_function(tmp_path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("from .a import f\n")
    (root / "sub" / "a.py").write_text("from .. import leaf\ndef f():\n    from . import b\n")
    (root / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nfrom .a import f\n")
    (root / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import a\n"
    )
    graph = import_graph(root)
    assert graph["pkg.sub.a"] == {"pkg.leaf", "pkg.sub.b"}
    assert graph["pkg.leaf"] == set()  # TYPE_CHECKING imports never run
    assert find_cycle(graph) == ["pkg.sub.a", "pkg.sub.b", "pkg.sub.a"]
    (root / "sub" / "b.py").write_text("x = 1\n")
    assert find_cycle(import_graph(root)) is None


def _private_engine_imports(root: Path) -> dict[str, list[str]]:
    """Files outside ``engine/`` that import a private engine module or name (a leading
    underscore: ``engine._recorder``, ``from ..engine import _x``)."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("engine/"):
            continue
        here = [root.name, *path.relative_to(root).parts[:-1]]
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = here[: len(here) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                names = [f"{module}.{alias.name}" for alias in node.names]
            for name in names:
                pieces = name.split(".")
                if pieces[:2] == [root.name, "engine"] and any(p.startswith("_") for p in pieces):
                    found.setdefault(relative, []).append(name)
    return {relative: sorted(names) for relative, names in found.items()}


def test_nothing_outside_the_engine_imports_its_private_names(tmp_path) -> None:
    root = Path(featviz_widgets.__file__).parent
    assert _private_engine_imports(root) == {}
    fake = tmp_path / "featviz_widgets"
    (fake / "optvis").mkdir(parents=True)
    (fake / "optvis" / "x.py").write_text(
        "from ..engine._recorder import StopForward\nfrom ..engine import Recording, _fx\n"
    )
    assert _private_engine_imports(fake) == {
        "optvis/x.py": [
            "featviz_widgets.engine._fx",
            "featviz_widgets.engine._recorder.StopForward",
        ]
    }
