"""The classic-MDP and continual notebooks run top to bottom (nbclient, a real kernel)."""

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["classic_mdps", "continual"])
def test_notebook_runs(name, tmp_path):
    src = REPO / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(src, as_version=4)
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(src, work)
    saved = dict(os.environ)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved.get("PYTHONPATH", "")]))
    # Tiny networks and matrices: one BLAS/OpenMP thread each. On a loaded 2-core machine the default thread
    # pools oversubscribe and a 64-unit MLP step takes 100x longer.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    if name == "classic_mdps":
        assert (work / "runs" / "classic" / "manifest.json").exists()
        figures = [o for c in nb.cells for o in c.get("outputs", [])
                   if "application/vnd.plotly.v1+json" in o.get("data", {})]
        assert len(figures) >= 5
