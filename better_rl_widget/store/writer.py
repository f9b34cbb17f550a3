"""``RunWriter``: appends chunks to a run directory; every chunk is complete on disk before the index names it.

Layout (identical on a local disk, ``memory://`` and object storage; see docs/store.md)::

    RUN/
      manifest.json                    what the run was: config, seeds, versions, git, command (JSON)
      index.json                       the completed chunks of every stream (JSON, replaced atomically)
      tables/<name>/<000000>.parquet   metrics, events, td_stats: one Parquet file per chunk
      arrays/<name>/<000000>.npz       arrays streams (buffer samples, the final buffer): NumPy, rows on axis 0
      snapshots/<000000>.npz           one MapSnapshot per chunk: slots, xy, field.<name>
      index/<name>/<000000>.json       sealed lists of 1,000 chunk entries each (long runs keep index.json small)

A chunk file is written under a temporary name and renamed; then ``index.json`` is rewritten the same way. A
writer killed at any moment therefore leaves the index pointing only at complete files; a chunk written but not
yet indexed is ignored (and removed by the next writer's ``remove_temporaries``).
"""

from __future__ import annotations

import io
import os
import threading
import time
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..frames.snapshot import MapSnapshot
from .files import RunFiles, npz_bytes
from .manifest import RUN_FORMAT, jsonable, run_manifest

INDEX = "index.json"
MANIFEST = "manifest.json"
SEGMENT = 1000  # chunk entries per sealed index segment


class RunWriter:
    """Append-only writer of one run. Thread-safe; each ``append_*`` call writes one chunk."""

    def __init__(self, path: str | os.PathLike[str], manifest: Mapping[str, Any] | None = None, *,
                 storage_options: dict[str, Any] | None = None, overwrite: bool = False) -> None:
        self.files = RunFiles(path, storage_options=storage_options)
        self.path = self.files.url
        if self.files.exists(INDEX):
            if not overwrite:
                raise FileExistsError(f"{self.path} already holds a run (index.json); pick a new path or pass "
                                      "overwrite=True")
            self.files.fs.rm(self.files.root, recursive=True)
        self.files.makedirs()
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self.manifest: dict[str, Any] = dict(manifest) if manifest is not None else run_manifest()
        self.manifest.setdefault("format", RUN_FORMAT)
        self.files.write_json(MANIFEST, jsonable(self.manifest))
        self.index: dict[str, Any] = {"format": RUN_FORMAT, "status": "running", "streams": {}}
        self.files.write_json(INDEX, self.index, compact=True)
        self.closed = False

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    # -- chunks -------------------------------------------------------------------------------------------
    def append_table(self, name: str, rows: pd.DataFrame | Mapping[str, Any]) -> None:
        """One Parquet chunk of table ``name`` (a DataFrame or a dict of equal-length columns)."""
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(dict(rows))
        if len(df) == 0:
            return
        for col in df.columns:
            if df[col].dtype == object and not all(isinstance(v, str) for v in df[col]):
                raise TypeError(f"table {name!r}, column {col!r}: only numbers and strings are stored")
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
        self._add_chunk(name, "table", "tables", "parquet", buf.getvalue(), {"rows": len(df)})

    def append_arrays(self, name: str, arrays: Mapping[str, np.ndarray]) -> None:
        """One chunk of arrays stream ``name``: arrays with equal first dimensions (rows), concatenated on
        read. Plain numeric dtypes only."""
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        lengths = {len(v) for v in arrays.values() if v.ndim}
        if len(lengths) > 1 or any(v.ndim == 0 for v in arrays.values()):
            raise ValueError(f"arrays stream {name!r}: every array needs the same number of rows, got "
                             f"{ {k: v.shape for k, v in arrays.items()} }")
        rows = lengths.pop() if lengths else 0
        meta = {"rows": rows, "dtypes": {k: v.dtype.str for k, v in arrays.items()},
                "shapes": {k: list(v.shape[1:]) for k, v in arrays.items()}}
        self._add_chunk(name, "arrays", "arrays", "npz", npz_bytes(arrays), meta)

    def append_snapshot(self, snap: MapSnapshot) -> None:
        """One MapSnapshot as its own chunk (its step, time and extent go in the index)."""
        arrays = {"slots": np.asarray(snap.slots, np.uint32), "xy": np.asarray(snap.xy, np.float32)}
        arrays.update({f"field.{k}": np.asarray(v) for k, v in snap.fields.items()})
        meta = {"rows": len(snap.slots), "step": int(snap.step), "time_s": float(snap.time_s),
                "extent": [float(v) for v in snap.extent]}
        self._add_chunk("snapshots", "snapshots", "", "npz", npz_bytes(arrays), meta)

    def _add_chunk(self, name: str, kind: str, folder: str, ext: str, data: bytes, meta: dict[str, Any]) -> None:
        if not name or any(c in name for c in '/\\:\0') or name.startswith("."):
            raise ValueError(f"bad stream name {name!r}: use letters, digits and underscores")
        # The checksum lets a reader tell changed bytes from intact ones (Parquet pages carry none).
        crc = zlib.crc32(data)
        with self._lock:
            if self.closed:
                raise RuntimeError(f"run {self.path} is closed")
            stream = self.index["streams"].setdefault(name, {"kind": kind, "segments": [], "sealed": 0,
                                                             "chunks": []})
            if stream["kind"] != kind:
                raise ValueError(f"stream {name!r} holds {stream['kind']}, not {kind}")
            k = stream["sealed"] + len(stream["chunks"])
            rel = f"{folder}/{name}/{k:06d}.{ext}" if folder else f"{name}/{k:06d}.{ext}"
            self.files.write_atomic(rel, data)
            stream["chunks"].append({"file": rel, "bytes": len(data), "crc32": crc, **meta})
            if len(stream["chunks"]) >= SEGMENT:
                # Seal the entries into an immutable segment file so index.json (rewritten per chunk) stays small
                # however long the run; the index names the segment only once it is written.
                seg = f"index/{name}/{len(stream['segments']):06d}.json"
                self.files.write_json(seg, stream["chunks"], compact=True)
                stream["segments"].append(seg)
                stream["sealed"] += len(stream["chunks"])
                stream["chunks"] = []
            self.files.write_json(INDEX, self.index, compact=True)  # only now does the chunk exist for readers

    def update_manifest(self, **fields: Any) -> None:
        """Add fields to manifest.json (rewritten atomically), e.g. results known only at the end."""
        with self._lock:
            self.manifest.update(jsonable(fields))
            self.files.write_json(MANIFEST, self.manifest)

    def close(self, status: str = "finished") -> None:
        """Mark the run complete. A run that was never closed opens with ``status == "running"``."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self.index["status"] = status
            self.index["duration_s"] = round(self.elapsed(), 3)
            self.files.write_json(INDEX, self.index, compact=True)
