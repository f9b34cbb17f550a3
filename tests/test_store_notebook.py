"""notebooks/run_records.ipynb executes (a short run); tests/test_notebook_sources.py keeps it equal to its source."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]


def test_run_records_notebook_runs(tmp_path, monkeypatch):
    nb = nbformat.read(REPO / "notebooks" / "run_records.ipynb", as_version=4)
    monkeypatch.setenv("BRW_NOTEBOOK_STEPS", "600")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "status='finished'" in text and "episodes, mean return" in text and "maps, steps" in text
    assert (tmp_path / "runs" / "notebook-dqn" / "index.json").exists()

