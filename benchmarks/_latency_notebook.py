"""What ``browser_latency.py`` runs in the kernel: one ``LayerExplorer`` on a model, timed, on
this checkout's package or on an older commit's (the same-run baseline, ``package_at``).

The explorer's ``_render`` and ``_fill_channels`` are wrapped to append their time per call to a
file the benchmark reads (kernel ms of each change), and the feature-map PNG cache is cleared before
each render so every change pays for a fresh one (the worst case).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MODELS = {
    "MobileNetV2 (ImageNet weights)": (
        "from torchvision.models import MobileNet_V2_Weights, mobilenet_v2\n"
        "weights = MobileNet_V2_Weights.IMAGENET1K_V1\n"
        "model = mobilenet_v2(weights=weights).eval()\n"
    ),
    "ResNet-50 (random weights)": (
        "from torchvision.models import resnet50\n"
        "torch.manual_seed(0)\n"
        "weights = None\n"
        "model = resnet50(weights=None).eval()\n"
    ),
}

# The kernel side: build the explorer, and log how long each change spends in Python.
_SETUP = """\
import time
import ipywidgets
import skimage.data
import torch
from featviz_widgets.widgets import LayerExplorer
try:  # the benchmark switches the pictures' value readout; a baseline tree has no Picture
    from featviz_widgets.widgets._picture import Picture
except ImportError:
    Picture = None
{model}
explorer = LayerExplorer(model, skimage.data.chelsea(), weights=weights)
TIMINGS = {timings!r}


def _timed(method):
    def run(*args, **kwargs):
        if method.__name__ == "_render":
            explorer.tab_object("maps").clear_cache()  # measure fresh renders, not cache hits
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            with open(TIMINGS, "a") as log:
                log.write(f"{{(time.perf_counter() - start) * 1000:.3f}}\\n")
    return run


explorer._fill_channels = _timed(explorer._fill_channels)
explorer._render = _timed(explorer._render)
explorer
"""


def write_notebook(folder: Path, name: str, model_code: str, timings: Path) -> str:
    """Write ``folder/name.ipynb`` building the explorer on ``model_code``; return its file name."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(_SETUP.format(model=model_code, timings=str(timings)))]
    filename = f"{name}.ipynb"
    nbformat.write(nb, folder / filename)
    return filename


def package_at(rev: str, dest: Path) -> Path:
    """A tree holding ``featviz_widgets`` as of commit ``rev`` (read with ``git archive``, which
    changes nothing in the repository); kernels started with ``code_root=dest`` import it."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "featviz_widgets"], capture_output=True
    )
    if archive.returncode != 0:
        raise SystemExit(f"--baseline {rev}: git archive failed: {archive.stderr.decode()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest
