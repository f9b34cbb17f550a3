"""Rerun a recorded run from its manifest and compare the new record with the old one, array by array, bit for bit.

Two kinds of record are understood: a run store written by an entry point (``manifest.json`` with
``"entry_point"``, e.g. the reference DQN of :mod:`better_rl_widget.runs.reference`) and an experiment results
folder (``better_rl_widget.experiment/1``, written by ``run_agents_on_mdp`` / ``run_agents_lifelong``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..store.files import RunFiles
from ..store.manifest import resolve
from ..store.reader import Run, open_run

EXPERIMENT_FORMAT = "better_rl_widget.experiment/1"
# Written at moments the worker picks (frame timing), so they differ between reruns by design.
TIMING_DEPENDENT = ("snapshots", "buffer_sample", "td_stats")


@dataclass
class ArrayComparison:
    name: str
    match: bool  # same dtype, shape and bytes
    old: str  # dtype[shape]
    new: str
    first_difference: str = ""  # where and what, when they differ

    def row(self) -> dict[str, Any]:
        return {"array": self.name, "bit_identical": self.match, "old": self.old, "new": self.new,
                "first_difference": self.first_difference}


@dataclass
class Comparison:
    old: str
    new: str
    arrays: list[ArrayComparison]
    skipped: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return bool(self.arrays) and all(a.match for a in self.arrays)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([a.row() for a in self.arrays],
                            columns=["array", "bit_identical", "old", "new", "first_difference"])

    def report(self) -> str:
        lines = [f"old: {self.old}", f"new: {self.new}", *self.notes, ""]
        with pd.option_context("display.max_rows", None, "display.max_colwidth", 80, "display.width", 200):
            lines.append(self.table().to_string(index=False))
        if self.skipped:
            lines += ["", "not compared (" + "; ".join(self.skipped) + ")"]
        n_ok = sum(a.match for a in self.arrays)
        lines += ["", f"{n_ok} of {len(self.arrays)} arrays bit-identical"
                  + (": the run reproduces" if self.identical else "")]
        return "\n".join(lines)


def compare_arrays(name: str, old: np.ndarray, new: np.ndarray) -> ArrayComparison:
    """Bit-for-bit comparison (NaNs with equal bits match); the first differing element when they differ."""
    old, new = np.asarray(old), np.asarray(new)
    desc = lambda a: f"{a.dtype}{list(a.shape)}"
    if old.dtype != new.dtype:
        return ArrayComparison(name, False, desc(old), desc(new), f"dtype {old.dtype} → {new.dtype}")
    n = min(len(old), len(new)) if old.ndim and new.ndim else 0
    if old.ndim and old.shape[1:] == new.shape[1:] and old.dtype.itemsize:
        a = np.ascontiguousarray(old[:n]).view(np.uint8).reshape(n, -1)
        b = np.ascontiguousarray(new[:n]).view(np.uint8).reshape(n, -1)
        rows = np.flatnonzero((a != b).any(axis=1))
        if len(rows):
            i = int(rows[0])
            return ArrayComparison(name, False, desc(old), desc(new),
                                   f"row {i}: {_short(old[i])} → {_short(new[i])}")
        if old.shape != new.shape:
            return ArrayComparison(name, False, desc(old), desc(new),
                                   f"equal for the first {n} rows, then length {len(old)} → {len(new)}")
        return ArrayComparison(name, True, desc(old), desc(new))
    same = old.shape == new.shape and old.tobytes() == new.tobytes()
    return ArrayComparison(name, same, desc(old), desc(new), "" if same else f"shape {old.shape} → {new.shape}")


def _short(x: Any) -> str:
    s = np.array2string(np.asarray(x), precision=9, threshold=8)
    return s if len(s) <= 60 else s[:57] + "..."


def compare_runs(old: Run, new: Run) -> Comparison:
    """Compare every deterministic record of two runs: each metric's values and steps, the events, every array
    of the arrays streams; snapshots and worker statistics are listed as not compared (frame timing)."""
    out: list[ArrayComparison] = []
    mo, mn = old.metrics, new.metrics
    for name in sorted(set(mo.get("name", [])) | set(mn.get("name", []))):
        a, b = mo[mo["name"] == name], mn[mn["name"] == name]
        out.append(compare_arrays(f"metrics/{name}", a["value"].to_numpy(np.float64),
                                  b["value"].to_numpy(np.float64)))
        out.append(compare_arrays(f"metrics/{name}.step", a["step"].to_numpy(np.int64),
                                  b["step"].to_numpy(np.int64)))
    eo, en = old.events, new.events
    if len(eo) or len(en):
        key = lambda e: np.array([f"{k}@{s}:{d}" for k, s, d in zip(e["kind"], e["step"], e["details"])])
        out.append(compare_arrays("events", key(eo).astype("U"), key(en).astype("U")))
    for stream in sorted(set(old.arrays) | set(new.arrays)):
        if stream in TIMING_DEPENDENT:
            continue
        ao, an = old.arrays.get(stream, {}), new.arrays.get(stream, {})
        for k in sorted(set(ao) | set(an)):
            if k not in ao or k not in an:
                out.append(ArrayComparison(f"{stream}/{k}", False, "missing" if k not in ao else "present",
                                           "missing" if k not in an else "present"))
            else:
                out.append(compare_arrays(f"{stream}/{k}", ao[k], an[k]))
    skipped = [f"{s}: written when the worker draws a frame, so timing-dependent"
               for s in TIMING_DEPENDENT if s in old.streams]
    return Comparison(old.path, new.path, out, skipped)


def rerun_and_compare(path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
              progress: bool = True) -> Comparison:
    """Rerun the run at ``path`` from its manifest into ``out`` (a fresh temporary folder by default) and
    compare the two records."""
    files = RunFiles(path)
    if not files.exists("manifest.json"):
        raise FileNotFoundError(f"{files.url} has no manifest.json: nothing to reproduce from")
    m = files.read_json("manifest.json")
    if m.get("format") == EXPERIMENT_FORMAT:
        return _rerun_experiment(Path(files.url), m, out, progress)
    entry = m.get("entry_point")
    if not entry:
        raise ValueError(f"{files.url}: the manifest names no entry_point, so the run cannot be rerun (runs "
                         "recorded by hand with hook.record_to(...) need manifest=run_manifest(entry_point=..., "
                         "config=...))")
    fn = resolve(entry)
    target = os.fspath(out) if out is not None else tempfile.mkdtemp(prefix="better-rl-reproduce-")
    if out is None:
        target = os.path.join(target, "run")
    fn(target, **{**m.get("config", {}), "progress": progress})
    old, new = open_run(path), open_run(target)
    result = compare_runs(old, new)
    result.notes = version_notes(m, new.manifest) + [
        f"{label} run: damaged files skipped, so their records are missing: {', '.join(r.damaged)}"
        for label, r in (("recorded", old), ("rerun", new)) if r.damaged]
    return result


def version_notes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences of package versions and git commit between two manifests (why bits may differ)."""
    vo, vn = old.get("versions", {}), new.get("versions", {})
    diff = [f"{k} {vo.get(k)} → {vn.get(k)}" for k in sorted(set(vo) | set(vn)) if vo.get(k) != vn.get(k)]
    notes = [f"versions differ: {', '.join(diff)}"] if diff else []
    go, gn = (m.get("package_git") or m.get("git") or {} for m in (old, new))
    if go.get("commit") != gn.get("commit"):
        notes.append(f"code differs: commit {str(go.get('commit'))[:12]} → {str(gn.get('commit'))[:12]}")
    return notes


def _rerun_experiment(folder: Path, m: dict[str, Any], out: Any, progress: bool) -> Comparison:
    from ..experiments.rerun import reproduce as rerun
    from ..experiments.results import Results

    old = Results.load(folder)
    new = rerun(m, progress=progress)
    target = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="better-rl-reproduce-")) / "run"
    new.save(target)
    notes = version_notes(m, new.manifest)
    new_df = pd.read_csv(target / "results.csv")  # both sides through the same text round trip
    arrays = [compare_arrays(f"results/{col}", old.df[col].to_numpy(), new_df[col].to_numpy())
              for col in old.df.columns if col in new_df.columns and old.df[col].dtype.kind in "biuf"]
    q_path = folder / "q_tables.npz"
    if q_path.exists():
        with np.load(q_path, allow_pickle=False) as z:
            old_q = {k: z[k] for k in z.files}
        for i, (name, q) in enumerate(new.Q.items()):
            if f"agent{i}" in old_q:
                arrays.append(compare_arrays(f"Q/{name}", old_q[f"agent{i}"], q))
    return Comparison(str(folder), str(target), arrays, [], notes)

