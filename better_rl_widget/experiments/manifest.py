"""Experiment manifests: enough to rebuild the envs and agents and rerun a run bit for bit.

The shared parts (versions, git commit, command, JSON conversion, describe/build) live in
:mod:`better_rl_widget.store.manifest`; this adds the experiment-specific layout of a results folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..store.manifest import build, describe, environment, jsonable, versions

FORMAT = "better_rl_widget.experiment/1"

__all__ = ["FORMAT", "build", "describe", "make_manifest", "versions", "write"]


def make_manifest(kind: str, config: dict[str, Any], seed: int, env: Any, agents: list[Any]) -> dict[str, Any]:
    return {"format": FORMAT, "kind": kind, "seed": seed, "seeds": {"seed": seed},
            "entry_point": "better_rl_widget.experiments.rerun:reproduce", "config": jsonable(config),
            "env": jsonable(env), "agents": [describe(a) | {"name": a.name} for a in agents], **environment()}


def write(folder: Path, manifest: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path
