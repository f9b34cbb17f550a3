"""Reading runs that may be damaged: a checked index, chunk entries checked against the files present, and
decoders that verify what they read. A damaged file is named and skipped; no path leaves the run folder."""

from __future__ import annotations

import io
import json
import zlib
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..frames.snapshot import MapSnapshot
from .files import RunFiles, UnsafePath, load_npz
from .writer import INDEX, MANIFEST

KINDS = ("table", "arrays", "snapshots")


class RunIndexError(ValueError):
    """A run's ``index.json`` cannot be read as a run index; the message names the file and what is wrong."""


class ChunkDamage(ValueError):
    """A chunk's bytes do not match what the index recorded about it."""


def describe(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, (ChunkDamage, UnsafePath)) else f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."


# -- the index ------------------------------------------------------------------------------------------------
def read_index(files: RunFiles) -> dict[str, Any]:
    where = f"{files.url}/{INDEX}"
    try:
        index = json.loads(files.read_bytes(INDEX))
    except UnsafePath as exc:
        raise RunIndexError(f"{where}: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise RunIndexError(f"{where} is not valid JSON ({exc}): the file is damaged") from None
    if not isinstance(index, dict):
        raise RunIndexError(f"{where} is malformed: expected a JSON object, found {type(index).__name__}")
    if not str(index.get("format", "")).startswith("better_rl_widget.run/"):
        raise RunIndexError(f"{where} is not a better_rl_widget run index (format={index.get('format')!r})")
    streams = index.get("streams")
    if not isinstance(streams, dict):
        raise RunIndexError(f"{where} is malformed: 'streams' is missing or not an object")
    for name, s in streams.items():
        problem = _stream_problem(s)
        if problem is None:
            problem = next((f"chunks[{i}] {p}" for i, c in enumerate(s["chunks"])
                            if (p := entry_problem(c, s["kind"])) is not None), None)
        if problem is not None:
            raise RunIndexError(f"{where} is malformed: stream {name!r}: {problem}")
    return index


def _stream_problem(s: Any) -> str | None:
    if not isinstance(s, dict):
        return "is not an object"
    if s.get("kind") not in KINDS:
        return f"kind {s.get('kind')!r} is not one of {', '.join(KINDS)}"
    if not isinstance(s.get("chunks"), list) or not isinstance(s.get("segments", []), list):
        return "'chunks' or 'segments' is missing or not a list"
    return None


def entry_problem(c: Any, kind: str) -> str | None:
    """What makes chunk entry ``c`` unusable, or None."""
    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if not isinstance(c, dict):
        return "is not an object"
    if not isinstance(c.get("file"), str) or not count(c.get("rows")):
        return "lacks a 'file' name or a 'rows' count"
    if kind == "snapshots" and not (number(c.get("step")) and number(c.get("time_s"))
                                    and isinstance(c.get("extent"), list) and len(c["extent"]) == 4
                                    and all(number(v) for v in c["extent"])):
        return "lacks the snapshot's step, time_s or 4-number extent"
    return None


def load_entries(files: RunFiles, index: dict[str, Any], damaged: dict[str, str]) -> dict[str, list[dict]]:
    """Every stream's chunk entries, sealed segments first. An unreadable segment is named in ``damaged``."""
    out: dict[str, list[dict]] = {}
    for name, s in index["streams"].items():
        out[name] = []
        for seg in s.get("segments", []):
            try:
                entries = json.loads(files.read_bytes(seg))
                if not isinstance(entries, list):
                    raise ChunkDamage("is not a list of chunk entries")
                bad = next((f"entry {i} {p}" for i, c in enumerate(entries)
                            if (p := entry_problem(c, s["kind"])) is not None), None)
                if bad:
                    raise ChunkDamage(bad)
            except Exception as exc:  # noqa: BLE001 - any failure to parse means the same: its chunks are lost
                damaged[str(seg)] = f"index segment unreadable, its chunks are skipped: {describe(exc)}"
                continue
            out[name] += entries
        out[name] += s["chunks"]
    return out


def check_files(files: RunFiles, entries: dict[str, list[dict]], segments: list[str],
                damaged: dict[str, str]) -> list[str]:
    """Name missing, truncated and out-of-run chunks in ``damaged`` from one listing; return the files the index
    does not name (interrupted writes: temporaries, a chunk written but not yet indexed)."""
    listing = files.listing()
    named = {INDEX, MANIFEST, *map(str, segments)}
    for c in (c for chunks in entries.values() for c in chunks):
        f, want = c["file"], c.get("bytes")
        named.add(f)
        info = listing.get(f)
        try:
            if info is None or info.get("islink"):  # only links (or a linked folder) can lead out once listed
                files.check_inside(f)
        except UnsafePath as exc:
            damaged[f] = f"refused: {exc}"
            continue
        have = None if info is None else int(info.get("size") or 0)
        if have is None:
            damaged[f] = "missing"
        elif isinstance(want, int) and have != want:
            damaged[f] = (f"truncated: {have:,} of {want:,} bytes" if have < want
                          else f"{have:,} bytes where the index recorded {want:,}")
    return sorted(f for f in listing if f not in named)


# -- chunks ---------------------------------------------------------------------------------------------------
def verify(data: bytes, c: dict) -> None:
    want = c.get("crc32")
    if isinstance(c.get("bytes"), int) and len(data) != c["bytes"]:
        raise ChunkDamage(f"{len(data):,} bytes where the index recorded {c['bytes']:,}")
    if isinstance(want, int) and zlib.crc32(data) != want:
        raise ChunkDamage("checksum mismatch: the bytes changed after they were written")


def _rows(n: int, c: dict) -> None:
    if n != c["rows"]:
        raise ChunkDamage(f"holds {n} rows where the index recorded {c['rows']}")


def decode_table(data: bytes, c: dict) -> pd.DataFrame:
    # One thread, no pre-buffering: chunks are small, and Arrow's thread pools torn down at interpreter exit
    # abort the process now and then ("terminate called without an active exception", apache/arrow#34314).
    df = pq.read_table(io.BytesIO(data), use_threads=False, pre_buffer=False).to_pandas(use_threads=False)
    _rows(len(df), c)
    return df


def decode_arrays(data: bytes, c: dict) -> dict[str, np.ndarray]:
    a = load_npz(data)
    dtypes = c.get("dtypes")
    if isinstance(dtypes, dict) and {k: v.dtype.str for k, v in a.items()} != dtypes:
        raise ChunkDamage(f"holds arrays {sorted(a)} whose names or dtypes differ from the index's")
    for v in a.values():
        _rows(len(v) if v.ndim else -1, c)
    return a


def decode_snapshot(data: bytes, c: dict) -> MapSnapshot:
    a = load_npz(data)
    if "slots" not in a or "xy" not in a or a["xy"].ndim != 2 or a["xy"].shape[1:] != (2,):
        raise ChunkDamage("lacks the slots and (n, 2) xy arrays of a map snapshot")
    for v in a.values():
        _rows(len(v) if v.ndim else -1, c)
    fields = {k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("field.")}
    return MapSnapshot(step=int(c["step"]), time_s=float(c["time_s"]), slots=a["slots"], xy=a["xy"],
                       extent=tuple(c["extent"]), fields=fields)
