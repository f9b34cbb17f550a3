"""Rerun a saved experiment from its manifest: the one module that knows both runners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import manifest as mf
from .lifelong import MDPDistribution, run_agents_lifelong
from .results import Results
from .runner import run_agents_on_mdp


def reproduce(folder_or_manifest: str | Path | dict[str, Any], progress: bool = False) -> Results:
    """Rerun a saved experiment from its manifest (a results folder, a manifest.json path or the dict)."""
    if isinstance(folder_or_manifest, dict):
        m = folder_or_manifest
    else:
        p = Path(folder_or_manifest)
        m = Results.load(p if p.is_dir() else p.parent).manifest
    if m.get("format") != mf.FORMAT:
        raise ValueError(f"not a {mf.FORMAT} manifest (format={m.get('format')!r})")
    agents = [mf.build(d) for d in m["agents"]]
    c = m["config"]
    if m["kind"] == "run_agents_on_mdp":
        env = m["env"]["id"] if "id" in m["env"] else mf.build(m["env"])
        return run_agents_on_mdp(agents, env, c["instances"], c["episodes"], c["steps"], m["seed"],
                                 track_visits=c.get("track_visits", False),
                                 reset_at_terminal=c.get("reset_at_terminal", False),
                                 instance_block=c.get("instance_block"), progress=progress)
    if m["kind"] == "run_agents_lifelong":
        dist = MDPDistribution([mf.build(d) for d in m["env"]["envs"]], m["env"]["weights"])
        return run_agents_lifelong(agents, dist, samples=c["samples"], episodes=c["episodes"], steps=c["steps"],
                                   instances=c["instances"], seed=m["seed"], reset=c["reset"],
                                   eval_gamma=c["eval_gamma"], eval_every=c["eval_every"],
                                   sequence=m["env"]["sequence"],
                                   reset_at_terminal=c.get("reset_at_terminal", False),
                                 instance_block=c.get("instance_block"), progress=progress)
    raise ValueError(f"unknown experiment kind {m['kind']!r}")
