"""Each committed notebook is its percent-format source: notebooks/<name>.ipynb holds exactly the cells of
notebooks/<name>.py (read by jupytext), the same kernel, and no outputs. The .py is what people edit and ruff lints."""

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
RESYNC = ("edit notebooks/<name>.py (the source), then run `jupytext --sync notebooks/*.py` from the repository root "
          "(the pairing is set in pyproject.toml [tool.jupytext]); commit both files")


def _names(pattern: str) -> set[str]:
    return {p.stem for p in NOTEBOOKS.glob(pattern)}


def test_every_notebook_has_a_source_and_every_source_a_notebook():
    notebooks, sources = _names("*.ipynb"), _names("*.py")
    assert notebooks, "no notebooks found"
    assert not notebooks - sources, (f"notebooks without a percent-format source: {sorted(notebooks - sources)}; "
                                     "create it with `jupytext --sync notebooks/<name>.ipynb`")
    assert not sources - notebooks, (f"sources without a notebook: {sorted(sources - notebooks)}; "
                                     "create it with `jupytext --sync notebooks/<name>.py`")


@pytest.mark.parametrize("name", sorted(_names("*.ipynb")))
def test_notebook_is_its_source(name):
    source = jupytext.read(NOTEBOOKS / f"{name}.py", fmt="py:percent")
    kept = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    want = [(c.cell_type, c.source) for c in source.cells]
    have = [(c.cell_type, c.source) for c in kept.cells]
    if want != have:
        i = next((i for i, (a, b) in enumerate(zip(want, have)) if a != b), min(len(want), len(have)))
        pytest.fail(f"notebooks/{name}.ipynb differs from notebooks/{name}.py from cell {i} on "
                    f"({len(have)} cells against {len(want)}):\n  .py:    {want[i] if i < len(want) else None!r}\n"
                    f"  .ipynb: {have[i] if i < len(have) else None!r}\nTo resync: {RESYNC}")
    assert kept.metadata.get("kernelspec") == source.metadata.get("kernelspec") == {
        "display_name": "Python 3", "language": "python", "name": "python3"}, f"kernelspec differs. To resync: {RESYNC}"
    ran = [i for i, c in enumerate(kept.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not ran, (f"notebooks/{name}.ipynb is committed with outputs (cells {ran}); clear them, e.g. "
                     f"`jupyter nbconvert --clear-output --inplace notebooks/{name}.ipynb`")
