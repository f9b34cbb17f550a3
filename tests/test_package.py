"""The package's surface: every public name resolves and shows in dir(), importing it (and seeding) stays light,
and the version is written once."""

import importlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

import better_rl_widget

ROOT = Path(__file__).resolve().parent.parent
LAZY_PACKAGES = ["better_rl_widget", "better_rl_widget.store", "better_rl_widget.embed", "better_rl_widget.analysis"]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_public_name_resolves_and_is_listed_by_dir(package):
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert missing == []
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018 - the lookup is the test


def _fresh_import(code: str) -> set[str]:
    """Names of the heavy modules a fresh interpreter has loaded after running ``code``."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, check=True).stdout
    return set(out.split()) & {"pandas", "pyarrow", "sklearn", "scipy", "openTSNE", "torch"}


def test_importing_the_package_loads_none_of_the_heavy_libraries():
    heavy = _fresh_import("import better_rl_widget\nfrom better_rl_widget import seed_everything\n"
                          "from better_rl_widget.store import seed_everything as again")
    assert heavy == set(), f"import better_rl_widget / seed_everything loaded {sorted(heavy)}"


def test_seeding_loads_neither_pandas_nor_pyarrow():
    heavy = _fresh_import("from better_rl_widget import seed_everything\nseed_everything(0)")  # torch if present
    assert heavy.isdisjoint({"pandas", "pyarrow"}), sorted(heavy)


def test_the_store_loads_its_reader_when_asked():
    assert {"pandas", "pyarrow"} <= _fresh_import("from better_rl_widget.store import open_run")


def test_the_version_is_written_once():
    assert importlib.metadata.version("better_rl_widget") == better_rl_widget.__version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'path = "better_rl_widget/__init__.py"' in pyproject
