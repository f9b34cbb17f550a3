"""Experiment manifests: enough to rebuild the envs and agents and rerun a run bit for bit."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FORMAT = "better_rl_widget.experiment/1"
_PACKAGES = ("better_rl_widget", "numpy", "gymnasium", "pandas", "plotly", "scipy")


def describe(obj: Any) -> dict[str, Any]:
    """Class path and constructor call of an env or agent (both record it on construction)."""
    args, kwargs = getattr(obj, "_init_call", ([], {}))
    cls = type(obj)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "args": _jsonable(args), "kwargs": _jsonable(kwargs)}


def build(desc: dict[str, Any]) -> Any:
    module, _, name = desc["class"].partition(":")
    return getattr(importlib.import_module(module), name)(*desc["args"], **desc["kwargs"])


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return x.tolist()
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"cannot record {type(x).__name__} {x!r} in a manifest: pass plain numbers, strings, lists")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            mod = importlib.import_module(pkg)
            out[pkg] = getattr(mod, "__version__", "unknown")
    return out


def make_manifest(kind: str, config: dict[str, Any], seed: int, env: Any, agents: list[Any]) -> dict[str, Any]:
    return {"format": FORMAT, "kind": kind, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seed": seed, "config": _jsonable(config), "env": _jsonable(env),
            "agents": [describe(a) | {"name": a.name} for a in agents], "versions": versions()}


def write(folder: Path, manifest: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path
