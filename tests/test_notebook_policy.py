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
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    plots = [o["data"]["application/vnd.plotly.v1+json"] for o in outputs
             if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) >= 8  # five from plot_all, the map by action, return-to-go and value
    assert (tmp_path / "runs" / "cartpole_dqn").is_dir()
    # checkpoints: one legend entry per training step; return-to-go and value: titled colour bars
    names = {t.get("name") for p in plots for t in p["data"]}
    assert {"step 1,500", "step 3,000", "step 4,500", "action 0", "action 1"} <= names
    bars = {t["marker"]["colorbar"]["title"]["text"] for p in plots for t in p["data"]
            if t.get("marker", {}).get("showscale")}
    assert {"return-to-go (γ=0.99)", "value (max Q or V)"} <= bars
