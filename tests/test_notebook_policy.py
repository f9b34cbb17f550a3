"""notebooks/policy_visualizer.ipynb runs top to bottom and shows plotly figures."""

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_policy_visualizer_notebook_executes(tmp_path):
    src = REPO / "notebooks" / "policy_visualizer.ipynb"
    shutil.copy(src, tmp_path / src.name)
    nb = nbformat.read(tmp_path / src.name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    mimes = [m for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) for m in o.get("data", {})]
    assert mimes.count("application/vnd.plotly.v1+json") >= 6  # five from plot_all, one more map
    assert (tmp_path / "runs" / "cartpole_dqn").is_dir()
