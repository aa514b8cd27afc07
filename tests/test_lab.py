"""featviz_widgets.lab: the subpackage re-exports its modules' names, and the old paths still work."""

from __future__ import annotations

import importlib

import pytest

import featviz_widgets.lab as lab

# old module (kept as an alias for old notebooks) -> the module it moved to
MOVED = {
    "featviz_widgets.datasets": "featviz_widgets.lab.patterns",
    "featviz_widgets.models": "featviz_widgets.lab.tiny_cnn",
    "featviz_widgets.samples": "featviz_widgets.lab.samples",
}


@pytest.mark.parametrize(("old", "new"), MOVED.items())
def test_old_import_paths_give_the_same_objects(old: str, new: str) -> None:
    alias, module = importlib.import_module(old), importlib.import_module(new)
    assert alias.__all__ == module.__all__
    for name in module.__all__:
        assert getattr(alias, name) is getattr(module, name), f"{old}.{name}"
    assert "moved to" in alias.__doc__.lower() and new in alias.__doc__


def test_old_from_imports_still_work() -> None:
    from featviz_widgets.datasets import make_patterns
    from featviz_widgets.models import IMAGENET_MEAN, TinyCNN, train
    from featviz_widgets.samples import load_sample

    assert make_patterns is lab.make_patterns and TinyCNN is lab.TinyCNN and train is lab.train
    assert load_sample is lab.load_sample
    from featviz_widgets.inputs import IMAGENET_MEAN as ONE_DEFINITION

    assert IMAGENET_MEAN is ONE_DEFINITION


def test_lab_reexports_every_public_name_of_its_modules() -> None:
    exported = set()
    for new in MOVED.values():
        module = importlib.import_module(new)
        for name in module.__all__:
            if name.startswith("IMAGENET_"):  # owned by featviz_widgets.inputs, not lab material
                continue
            assert getattr(lab, name) is getattr(module, name), name
            exported.add(name)
    assert set(lab.__all__) == exported
