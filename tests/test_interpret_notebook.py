"""notebooks/interpretability.ipynb executes (short runs); tests/test_notebook_sources.py keeps it equal to its
source."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NAME = "interpretability.ipynb"


@pytest.mark.timeout(900)
def test_interpretability_notebook_runs(tmp_path, monkeypatch):
    pytest.importorskip("minatar")
    nb = nbformat.read(REPO / "notebooks" / NAME, as_version=4)
    monkeypatch.setenv("BRW_NOTEBOOK_STEPS", "1500")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    text = "".join(o.get("text", "") for o in outputs)
    assert text.count("Calibration(n=") == 2  # CartPole and MinAtar
    assert "transition_entropy" in text
    assert "live panels:" in text and "refreshes; skills {" in text
    figs = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figs) >= 12

