"""``open_run``: a recorded run as pandas tables, NumPy arrays and MapSnapshots. Nothing here unpickles."""

from __future__ import annotations

import io
import os
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..widget.snapshot import MapSnapshot
from .files import RunFiles, load_npz
from .writer import INDEX, MANIFEST


class Run:
    """A run directory opened for reading. ``status`` is "finished" for a run closed cleanly and "running" for
    one still being written or killed (it then holds everything up to its last completed chunk)."""

    def __init__(self, path: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> None:
        self.files = RunFiles(path, storage_options=storage_options)
        self.path = self.files.url
        if not self.files.exists(INDEX):
            raise FileNotFoundError(f"{self.path} is not a run: it has no index.json (see docs/store.md)")
        self.index: dict[str, Any] = self.files.read_json(INDEX)
        if not str(self.index.get("format", "")).startswith("better_rl_widget.run/"):
            raise ValueError(f"{self.path}/index.json is not a better_rl_widget run index "
                             f"(format={self.index.get('format')!r})")
        self.manifest: dict[str, Any] = self.files.read_json(MANIFEST) if self.files.exists(MANIFEST) else {}
        self._segments: dict[str, list[dict[str, Any]]] = {}  # sealed chunk entries, read once per stream

    def __repr__(self) -> str:
        return f"Run({self.path!r}, status={self.status!r}, streams={sorted(self.streams)})"

    @property
    def status(self) -> str:
        return str(self.index.get("status", "running"))

    @property
    def streams(self) -> dict[str, dict[str, Any]]:
        return self.index["streams"]

    def _names(self, kind: str) -> list[str]:
        return [n for n, s in self.streams.items() if s["kind"] == kind]

    def _chunks(self, name: str, kind: str | None = None) -> list[dict[str, Any]]:
        s = self.streams.get(name)
        if s is None:
            return []
        if kind is not None and s["kind"] != kind:
            raise ValueError(f"stream {name!r} holds {s['kind']}, not {kind}")
        if name not in self._segments:
            self._segments[name] = [c for seg in s.get("segments", []) for c in self.files.read_json(seg)]
        return self._segments[name] + s["chunks"]

    # -- tables -------------------------------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame:
        """All chunks of table ``name`` as one DataFrame (empty when the run has none)."""
        parts = [pq.read_table(io.BytesIO(self.files.read_bytes(c["file"]))).to_pandas()
                 for c in self._chunks(name, "table")]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {n: self.table(n) for n in self._names("table")}

    @property
    def metrics(self) -> pd.DataFrame:
        """Long format: step, time_s, name, value (one row per logged value)."""
        return self.tables.get("metrics", pd.DataFrame(columns=["step", "time_s", "name", "value"]))

    @property
    def events(self) -> pd.DataFrame:
        """step, time_s, kind, details (a JSON string)."""
        return self.tables.get("events", pd.DataFrame(columns=["step", "time_s", "kind", "details"]))

    def metric(self, name: str) -> pd.Series:
        """One metric as a Series indexed by step (e.g. ``run.metric("episode_return")``)."""
        m = self.metrics
        if len(m) == 0 or name not in set(m["name"]):
            known = sorted(set(m["name"])) if len(m) else []
            raise KeyError(f"no metric {name!r} in {self.path}; recorded: {known}")
        sel = m[m["name"] == name]
        return pd.Series(sel["value"].to_numpy(), index=sel["step"].to_numpy(), name=name)

    # -- arrays -------------------------------------------------------------------------------------------
    def array(self, name: str) -> dict[str, np.ndarray]:
        """All chunks of arrays stream ``name``, concatenated on the first axis."""
        chunks = [load_npz(self.files.read_bytes(c["file"])) for c in self._chunks(name, "arrays")]
        if not chunks:
            return {}
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

    @cached_property
    def arrays(self) -> dict[str, dict[str, np.ndarray]]:
        return {n: self.array(n) for n in self._names("arrays")}

    # -- map snapshots -----------------------------------------------------------------------------------
    def snapshot_info(self) -> pd.DataFrame:
        """step, time_s, points and extent of every snapshot, without loading their arrays."""
        rows = [{"step": c["step"], "time_s": c["time_s"], "points": c["rows"], "extent": c["extent"]}
                for c in self._chunks("snapshots", "snapshots")]
        return pd.DataFrame(rows, columns=["step", "time_s", "points", "extent"])

    def snapshots(self) -> list[MapSnapshot]:
        """The recorded maps, oldest first."""
        out = []
        for c in self._chunks("snapshots", "snapshots"):
            a = load_npz(self.files.read_bytes(c["file"]))
            fields = {k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("field.")}
            out.append(MapSnapshot(step=int(c["step"]), time_s=float(c["time_s"]), slots=a["slots"], xy=a["xy"],
                                   extent=tuple(c["extent"]), fields=fields))
        return out

    # -- summary ------------------------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row per stream: kind, chunks, rows, bytes (what ``better-rl info`` prints)."""
        rows = []
        for name, s in self.streams.items():
            ch = self._chunks(name)
            rows.append({"stream": name, "kind": s["kind"], "chunks": len(ch), "rows": sum(c["rows"] for c in ch),
                         "bytes": sum(c.get("bytes", 0) for c in ch)})
        return pd.DataFrame(rows, columns=["stream", "kind", "chunks", "rows", "bytes"])


def open_run(path: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> Run:
    """Open a run directory (a local path or any fsspec URL, e.g. ``memory://runs/a`` or ``s3://bucket/run``)."""
    return Run(path, storage_options=storage_options)
