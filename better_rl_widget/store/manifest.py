"""Run manifests: what a run was (config, every seed, package versions, git commit, command) and how to rerun it.

One module for both kinds of record: deep-RL runs in a store (``RunWriter``) and the classic-MDP experiment
results folders (``experiments/manifest.py`` builds on it).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RUN_FORMAT = "better_rl_widget.run/1"
# Versions every manifest records; others (pyarrow, scipy, ...) when installed.
PACKAGES = ("better_rl_widget", "numpy", "torch", "gymnasium")
OPTIONAL_PACKAGES = ("pandas", "scipy", "plotly", "openTSNE", "pyarrow", "fsspec", "stable-baselines3")


def jsonable(x: Any) -> Any:
    """``x`` as plain JSON values; a clear error for what a manifest cannot hold (no pickle fallback)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return x.tolist()
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"cannot record {type(x).__name__} {x!r} in a manifest: pass plain numbers, strings, lists")


def describe(obj: Any) -> dict[str, Any]:
    """Class path and constructor call of an env or agent (the tabular ones record it on construction)."""
    args, kwargs = getattr(obj, "_init_call", ([], {}))
    cls = type(obj)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "args": jsonable(args), "kwargs": jsonable(kwargs)}


def build(desc: dict[str, Any]) -> Any:
    """Rebuild what :func:`describe` recorded."""
    return resolve(desc["class"])(*desc["args"], **desc["kwargs"])


# Entry points that moved, so that manifests recorded before the move still rerun.
MOVED_ENTRY_POINTS = {"better_rl_widget.store.reference:train_dqn": "better_rl_widget.runs.reference:train_dqn",
                      "better_rl_widget.experiments.runner:reproduce": "better_rl_widget.experiments.rerun:reproduce"}


def resolve(target: str) -> Any:
    """``"package.module:name"`` → the object."""
    module, _, name = MOVED_ENTRY_POINTS.get(target, target).partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def versions() -> dict[str, str]:
    """Python and package versions, read from the installed metadata (nothing is imported)."""
    out = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for pkg in PACKAGES + OPTIONAL_PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            if pkg in PACKAGES:
                out[pkg] = _imported_version(pkg)
    return out


def _imported_version(pkg: str) -> str:
    try:
        return str(getattr(importlib.import_module(pkg), "__version__", "unknown"))
    except ImportError:
        return "not installed"


def git_info(where: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """Commit (and whether the tree had local changes) of the git repository holding ``where``; None outside one."""
    cwd = Path(where or os.getcwd())
    cwd = cwd if cwd.is_dir() else cwd.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10,
                                check=False)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def command() -> dict[str, Any]:
    """How this process was started."""
    return {"argv": list(sys.argv), "executable": sys.executable, "cwd": os.getcwd()}


def environment(where: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The fields every manifest shares: creation time, versions, git, command."""
    out = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "versions": versions(),
           "git": git_info(where), "command": command()}
    package = git_info(Path(__file__).resolve().parent)  # this package's source, when run from a clone
    if package is not None and package != out["git"]:
        out["package_git"] = package
    return out


def run_manifest(*, entry_point: str | None = None, config: dict[str, Any] | None = None,
                 seeds: dict[str, Any] | None = None, name: str = "", **extra: Any) -> dict[str, Any]:
    """The manifest of a run in a store. ``entry_point`` ("module:function") plus ``config`` (its keyword
    arguments) is what ``better-rl reproduce`` calls again; ``seeds`` names every seed used."""
    return {"format": RUN_FORMAT, "name": name, "entry_point": entry_point, "config": jsonable(config or {}),
            "seeds": jsonable(seeds or {}), **environment(), **jsonable(extra)}
