"""notebooks/interpretability.ipynb executes (short runs) and is what its generator writes."""

import os
import subprocess
import sys
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


def test_interpretability_notebook_matches_its_generator(tmp_path):
    out = tmp_path / "notebooks"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_interpret_notebooks.py")], check=True,
                   env={**os.environ, "BRW_NOTEBOOKS_DIR": str(out)})
    fresh, kept = (nbformat.read(p / NAME, as_version=4) for p in (out, REPO / "notebooks"))
    assert [(c.cell_type, c.source) for c in fresh.cells] == [(c.cell_type, c.source) for c in kept.cells]
