"""``open_run``: a recorded run as pandas tables, NumPy arrays and MapSnapshots. Nothing here unpickles.

A damaged run opens: what is intact is read, each damaged file is skipped and named (``Run.damaged``, a logged
warning), and no file outside the run folder is read (integrity.py)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from ..frames.snapshot import MapSnapshot
from .files import RunFiles
from .integrity import (
    RunIndexError,
    check_files,
    decode_arrays,
    decode_snapshot,
    decode_table,
    describe,
    load_entries,
    read_index,
    verify,
)
from .writer import INDEX, MANIFEST

__all__ = ["Run", "RunIndexError", "open_run"]

log = logging.getLogger("better_rl_widget.store")
T = TypeVar("T")


class Run:
    """A run directory opened for reading. ``status`` is "finished" for a run closed cleanly and "running" for
    one still being written or killed (it then holds everything up to its last completed chunk).

    ``damaged`` maps each damaged file (relative path) to what is wrong with it: found at open (missing,
    truncated, a path leading outside the run, an unreadable index segment or manifest) or when read (changed
    bytes, undecodable). Damaged chunks are skipped; the rest is read. ``leftovers`` lists files the index does
    not name (interrupted writes), which are ignored. A malformed ``index.json`` raises :class:`RunIndexError`."""

    def __init__(self, path: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> None:
        self.files = RunFiles(path, storage_options=storage_options)
        self.path = self.files.url
        if not self.files.exists(INDEX):
            raise FileNotFoundError(f"{self.path} is not a run: it has no index.json (see docs/store.md)")
        self.index: dict[str, Any] = read_index(self.files)
        self.damaged: dict[str, str] = {}
        self.manifest: dict[str, Any] = self._read_manifest()
        self._entries = load_entries(self.files, self.index, self.damaged)
        segments = [seg for s in self.streams.values() for seg in s.get("segments", [])]
        self.leftovers: list[str] = check_files(self.files, self._entries, segments, self.damaged)
        self._tables: dict[str, pd.DataFrame] = {}
        self._arrays: dict[str, dict[str, np.ndarray]] = {}
        if self.damaged:
            log.warning("%s: %d damaged file(s) skipped, the rest is read: %s", self.path, len(self.damaged),
                        "; ".join(f"{f} ({why})" for f, why in self.damaged.items()))
        if self.status != "finished":
            log.info("%s: %s", self.path, self.problems[0])

    def _read_manifest(self) -> dict[str, Any]:
        if not self.files.exists(MANIFEST):
            return {}
        try:
            m = self.files.read_json(MANIFEST)
            if not isinstance(m, dict):
                raise ValueError(f"expected a JSON object, found {type(m).__name__}")
            return m
        except Exception as exc:  # noqa: BLE001 - the data are readable without it
            self.damaged[MANIFEST] = f"unreadable, the run opens without it: {describe(exc)}"
            return {}

    def __repr__(self) -> str:
        damaged = f", damaged={len(self.damaged)}" if self.damaged else ""
        return f"Run({self.path!r}, status={self.status!r}, streams={sorted(self.streams)}{damaged})"

    @property
    def status(self) -> str:
        return str(self.index.get("status", "running"))

    @property
    def streams(self) -> dict[str, dict[str, Any]]:
        return self.index["streams"]

    @property
    def problems(self) -> list[str]:
        """What is incomplete or damaged, one line each (empty for an intact, finished run)."""
        out = []
        if self.status != "finished":
            out.append(f"not closed (status {self.status!r}): killed or still being written; it holds every "
                       "chunk indexed before that")
        if self.leftovers:
            out.append(f"{len(self.leftovers)} file(s) not in the index (interrupted writes), ignored: "
                       + ", ".join(self.leftovers))
        out += [f"damaged, skipped: {f} ({why})" for f, why in self.damaged.items()]
        return out

    def _names(self, kind: str) -> list[str]:
        return [n for n, s in self.streams.items() if s["kind"] == kind]

    def _chunks(self, name: str, kind: str | None = None) -> list[dict[str, Any]]:
        s = self.streams.get(name)
        if s is None:
            return []
        if kind is not None and s["kind"] != kind:
            raise ValueError(f"stream {name!r} holds {s['kind']}, not {kind}")
        return self._entries[name]

    def _read(self, c: dict[str, Any], decode: Callable[[bytes, dict[str, Any]], T]) -> T | None:
        """One chunk decoded, or None (named in ``damaged``, warned about once) when it is damaged."""
        f = c["file"]
        if f in self.damaged:
            return None
        try:
            data = self.files.read_bytes(f)
            verify(data, c)
            return decode(data, c)
        except Exception as exc:  # noqa: BLE001 - a damaged file can fail its parser in any way
            self.damaged[f] = describe(exc)
            log.warning("%s: damaged chunk %s skipped, the rest is read (%s)", self.path, f, self.damaged[f])
            return None

    # -- tables -------------------------------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame:
        """All intact chunks of table ``name`` as one DataFrame (empty when the run has none)."""
        if name not in self._tables:
            parts = [p for c in self._chunks(name, "table") if (p := self._read(c, decode_table)) is not None]
            self._tables[name] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return self._tables[name]

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {n: self.table(n) for n in self._names("table")}

    @property
    def metrics(self) -> pd.DataFrame:
        """Long format: step, time_s, name, value (one row per logged value)."""
        m = self.table("metrics")
        return m if len(m.columns) else pd.DataFrame(columns=["step", "time_s", "name", "value"])

    @property
    def events(self) -> pd.DataFrame:
        """step, time_s, kind, details (a JSON string)."""
        e = self.table("events")
        return e if len(e.columns) else pd.DataFrame(columns=["step", "time_s", "kind", "details"])

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
        """All intact chunks of arrays stream ``name``, concatenated on the first axis."""
        if name not in self._arrays:
            chunks = [a for c in self._chunks(name, "arrays") if (a := self._read(c, decode_arrays)) is not None]
            self._arrays[name] = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]} if chunks else {}
        return self._arrays[name]

    @property
    def arrays(self) -> dict[str, dict[str, np.ndarray]]:
        return {n: self.array(n) for n in self._names("arrays")}

    # -- map snapshots -----------------------------------------------------------------------------------
    def snapshot_info(self) -> pd.DataFrame:
        """step, time_s, points and extent of every indexed snapshot, without loading their arrays."""
        rows = [{"step": c["step"], "time_s": c["time_s"], "points": c["rows"], "extent": c["extent"]}
                for c in self._chunks("snapshots", "snapshots")]
        return pd.DataFrame(rows, columns=["step", "time_s", "points", "extent"])

    def snapshots(self) -> list[MapSnapshot]:
        """The intact recorded maps, oldest first."""
        return [s for _, s in self.snapshot_items()]

    def snapshot_items(self) -> list[tuple[int, MapSnapshot]]:
        """(position in the recording, MapSnapshot) of each intact map; a damaged map leaves a gap, so positions
        still match the ``snapshot`` column of the ``buffer_sample`` stream."""
        items = [(i, self._read(c, decode_snapshot)) for i, c in enumerate(self._chunks("snapshots", "snapshots"))]
        return [(i, s) for i, s in items if s is not None]

    # -- summary ------------------------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row per stream: kind, chunks, rows, bytes and damaged chunks known so far (``better-rl info``)."""
        rows = []
        for name, s in self.streams.items():
            ch = self._chunks(name)
            rows.append({"stream": name, "kind": s["kind"], "chunks": len(ch), "rows": sum(c["rows"] for c in ch),
                         "bytes": sum(c.get("bytes", 0) for c in ch),
                         "damaged": sum(c["file"] in self.damaged for c in ch)})
        return pd.DataFrame(rows, columns=["stream", "kind", "chunks", "rows", "bytes", "damaged"])


def open_run(path: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> Run:
    """Open a run directory (a local path or any fsspec URL, e.g. ``memory://runs/a`` or ``s3://bucket/run``)."""
    return Run(path, storage_options=storage_options)
