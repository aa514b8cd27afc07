"""featviz_widgets.lab: the subpackage re-exports its modules' names."""

from __future__ import annotations

import importlib

import featviz_widgets.lab as lab

MODULES = (
    "featviz_widgets.lab.patterns",
    "featviz_widgets.lab.tiny_cnn",
    "featviz_widgets.lab.samples",
)


def test_lab_reexports_every_public_name_of_its_modules() -> None:
    exported = set()
    for name in MODULES:
        module = importlib.import_module(name)
        for public in module.__all__:
            assert getattr(lab, public) is getattr(module, public), public
            exported.add(public)
    assert set(lab.__all__) == exported


def test_the_lab_keeps_no_copy_of_the_imagenet_statistics() -> None:
    """``featviz_widgets.inputs`` owns them; the lab's modules do not re-export them."""
    for name in MODULES:
        assert not any(
            public.startswith("IMAGENET_") for public in importlib.import_module(name).__all__
        )
