"""Fixtures shared by the unit tests; the plain helpers live in support.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import make_tiny_cnn
from torch import nn


@pytest.fixture(autouse=True, scope="session")
def _cache_in_a_temp_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dataset-example results (and notebook kernels, which inherit the environment) are saved
    under a temp folder, never in the user's cache directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path_factory.mktemp("featviz_cache")))
        yield


@pytest.fixture
def tiny_cnn() -> nn.Sequential:
    return make_tiny_cnn()
