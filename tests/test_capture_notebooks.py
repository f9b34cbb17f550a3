"""notebooks/sb3.ipynb and notebooks/cleanrl_style.ipynb execute (short runs); tests/test_notebook_sources.py keeps
them equal to their sources, notebooks/*.py."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["sb3.ipynb", "cleanrl_style.ipynb"])
def test_capture_notebook_runs(name, tmp_path, monkeypatch):
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    monkeypatch.setenv("BRW_NOTEBOOK_STEPS", "600")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
    assert "td_error" in text  # the TD-error channel reached the widget state
    if name == "cleanrl_style.ipynb":
        assert "priority range:" in text
    if name == "sb3.ipynb":
        assert "SAC largest |TD-error|:" in text  # the critic estimator's TD-errors reached SAC's widget

