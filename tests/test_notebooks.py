"""Every tutorial notebook runs top to bottom offline, and is committed with its outputs cleared."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {
    "01_quickstart.ipynb",
    "02_feature_maps.ipynb",
    "03_activation_maximization.ipynb",
    "04_teaching_lab.ipynb",
    "05_keras.ipynb",
    "06_attribution.ipynb",
    "app.ipynb",
}
CELL_TIMEOUT_S = 300
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The notebooks that open a LayerExplorer (02, 03 and 06 draw static figures only).
WITH_WIDGETS = {"01_quickstart.ipynb", "04_teaching_lab.ipynb", "05_keras.ipynb", "app.ipynb"}


def _ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


def test_the_tutorials_are_all_there() -> None:
    assert {path.name for path in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_with_outputs_cleared(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
    assert notebook.metadata.kernelspec.name == "python3"


def test_the_app_hides_its_code() -> None:
    notebook = nbformat.read(NOTEBOOK_DIR / "app.ipynb", as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True
        assert "hide-input" in cell.metadata.get("tags", [])


def _execute(path: Path, workdir: Path) -> tuple[nbformat.NotebookNode, float]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        # Run in a scratch folder: nothing a notebook writes lands in the repository.
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


@pytest.mark.pretrained
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch) -> None:
    # The kernel inherits this environment: the offline weights' cache, and no bytecode in the repo.
    monkeypatch.setenv("TORCH_HOME", os.environ.get("TORCH_HOME", str(ROOT / ".torch_home")))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    # OpenMP threads that spin while waiting make torch 10-50x slower when the machine is busy
    # (measured: 67 s instead of 1.3 s for one maximize run); passive waiting costs nothing when idle.
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    notebook, seconds = _execute(path, tmp_path)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells)
    errors = [
        output for cell in code_cells for output in cell.outputs if output.output_type == "error"
    ]
    assert not errors, errors
    # Warnings printed by a tutorial distract students, and Voila would show them in the app.
    stderr = [o.text for c in code_cells for o in c.outputs if o.get("name") == "stderr"]
    assert not stderr, stderr
    images = [o for c in code_cells for o in c.outputs if "image/png" in o.get("data", {})]
    if path.name not in WITH_WIDGETS or path.name in {"04_teaching_lab.ipynb", "05_keras.ipynb"}:
        assert images, f"{path.name} drew no figure"
    if path.name in WITH_WIDGETS:
        views = [o for c in code_cells for o in c.outputs if WIDGET_VIEW in o.get("data", {})]
        assert views, f"{path.name} displayed no widget"
    print(f"{path.name}: {seconds:.1f}s")
