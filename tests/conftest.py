"""Fixtures shared by the unit tests; the plain helpers live in support.py."""

from __future__ import annotations

import pytest
from support import make_tiny_cnn
from torch import nn


@pytest.fixture
def tiny_cnn() -> nn.Sequential:
    return make_tiny_cnn()
