"""Run the full model sweep (torchvision, timm, transformers, Keras, detection, segmentation) and
write docs/COVERAGE.md.

Usage (from the repository root)::

    .venv/bin/python scripts/coverage.py [extra pytest args]

It runs ``tests/test_all_models.py`` with ``FEATVIZ_SWEEP=full`` (every classification builder of
``torchvision.models``, every timm / transformers model of ``tests/zoo.py`` and every builder of
``keras.applications`` on the torch backend) and
``FEATVIZ_COVERAGE_MD=docs/COVERAGE.md``; the test module writes one table per library (model,
layers, input size, seconds, result) when it finishes, failures included; ``tests/test_video.py``
writes the "Video" section (torchvision's six video classifiers) the same way. ``-k timm`` (or
``-k transformers``, ``-k keras``, ``-k "detection or segmentation"``: every builder of
``torchvision.models.detection`` and ``.segmentation``) regenerates that library's section and
keeps the others. The exit status is pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    env.setdefault("TORCH_HOME", str(ROOT / ".torch_home"))
    env.setdefault("HF_HUB_OFFLINE", "1")  # transformers models are built from configs
    env["KERAS_BACKEND"] = "torch"  # Keras applications are swept on the torch backend
    env["FEATVIZ_SWEEP"] = "full"
    env["FEATVIZ_COVERAGE_MD"] = str(ROOT / "docs" / "COVERAGE.md")
    command = [sys.executable, "-m", "pytest", "tests/test_all_models.py", "tests/test_video.py"]
    command += ["-p", "no:cacheprovider"]
    return subprocess.call([*command, *argv], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
