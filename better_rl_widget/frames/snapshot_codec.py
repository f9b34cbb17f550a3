"""MapSnapshots on the wire: one BRW1 blob per snapshot, and a small index blob listing the kept snapshots.

The layout is documented in docs/protocol.md ("Map history"). The same blobs feed the scrubber in a live widget,
a replay widget and the self-contained HTML export, so all three draw a snapshot with the same front-end code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .codec import CodecError, decode, encode
from .frame_state import CHANNEL_KINDS
from .snapshot import MapSnapshot

RESERVED = ("slots", "x", "y", "removed")


def wire_array(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` in a BRW1 dtype: bool → uint8, other integers → uint32/int32 when they fit, else float64."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"snapshot field {name!r} must be 1-D, got shape {a.shape}")
    if a.dtype.name in ("uint8", "int32", "uint32", "float32", "float64"):
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8)
    if a.dtype.kind in "iu":
        lo, hi = (int(a.min()), int(a.max())) if len(a) else (0, 0)
        if lo >= 0 and hi <= np.iinfo(np.uint32).max:
            return a.astype(np.uint32)
        if lo >= np.iinfo(np.int32).min and hi <= np.iinfo(np.int32).max:
            return a.astype(np.int32)
        return a.astype(np.float64)
    if a.dtype.kind == "f":
        return a.astype(np.float32)
    raise ValueError(f"snapshot field {name!r} has dtype {a.dtype}; numbers or booleans only")


def channel_kind(name: str, values: np.ndarray) -> str:
    """How the view colours a field: known names as in the live map; other integer fields are categories."""
    if name in CHANNEL_KINDS:
        return CHANNEL_KINDS[name]
    return "categorical" if values.dtype.kind in "iub" else "continuous"


def check_snapshot(snap: MapSnapshot) -> None:
    """Raise ValueError naming the problem when ``snap`` cannot travel (reserved field name, non-finite extent)."""
    for name in snap.fields:
        if not isinstance(name, str) or not name or name in RESERVED:
            raise ValueError(f"snapshot field name {name!r} is empty or reserved ({', '.join(RESERVED)})")
    if not all(np.isfinite([float(v) for v in snap.extent])):
        raise ValueError(f"snapshot at step {snap.step}: extent {list(snap.extent)} is not finite")


def encode_snapshot(snap: MapSnapshot, *, snapshot_id: int = 0) -> bytes:
    """One snapshot as a BRW1 blob of kind ``snapshot`` (rows keyed by slot, like a keyframe)."""
    check_snapshot(snap)
    arrays: dict[str, np.ndarray] = {
        "slots": np.asarray(snap.slots).astype(np.uint32, copy=False),
        "x": np.asarray(snap.xy[:, 0], np.float32),
        "y": np.asarray(snap.xy[:, 1], np.float32),
    }
    channels: dict[str, dict[str, str]] = {}
    for name, values in snap.fields.items():
        arrays[name] = wire_array(name, values)
        if name != "step":
            channels[name] = {"kind": channel_kind(name, arrays[name])}
    steps = arrays.get("step")
    newest = int(steps.max()) if steps is not None and len(steps) else 0
    extent = [float(v) for v in snap.extent]
    meta = {"kind": "snapshot", "id": int(snapshot_id), "step": int(snap.step), "time_s": float(snap.time_s),
            "extent": extent, "newest_step": newest,
            "capacity": int(arrays["slots"].max()) + 1 if len(arrays["slots"]) else 0, "channels": channels}
    return encode(meta, arrays)


def decode_snapshot(blob: bytes | bytearray | memoryview) -> MapSnapshot:
    """Inverse of :func:`encode_snapshot` (arrays are copies: the result does not keep ``blob`` alive)."""
    meta, arrays = decode(blob)
    if meta.get("kind") != "snapshot":
        raise CodecError(f"expected a BRW1 blob of kind 'snapshot', got {meta.get('kind')!r}")
    for name in ("slots", "x", "y"):
        if name not in arrays:
            raise CodecError(f"snapshot blob has no {name!r} array")
    try:
        fields = {k: v.copy() for k, v in arrays.items() if k not in RESERVED}
        xy = np.stack([arrays["x"], arrays["y"]], axis=1).astype(np.float32)
        extent = tuple(float(v) for v in meta["extent"])
        if len(extent) != 4:
            raise ValueError(f"extent has {len(extent)} values, expected 4")
        return MapSnapshot(step=int(meta["step"]), time_s=float(meta["time_s"]), slots=arrays["slots"].copy(),
                           xy=xy, extent=extent, fields=fields)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a missing or mistyped meta field, ragged rows
        raise CodecError(f"malformed snapshot blob: {type(exc).__name__}: {exc}") from exc


def snapshot_nbytes(snap: MapSnapshot) -> int:
    return int(snap.slots.nbytes + snap.xy.nbytes + sum(np.asarray(v).nbytes for v in snap.fields.values()))


def encode_index(ids: Sequence[int], snaps: Sequence[MapSnapshot], **meta: object) -> bytes:
    """The scrubber's list: id, training step, seconds and point count of every kept snapshot, oldest first."""
    return encode({"kind": "history", "count": len(snaps), **meta}, {
        "ids": np.asarray(ids, np.uint32),
        "steps": np.asarray([s.step for s in snaps], np.float64),
        "times": np.asarray([s.time_s for s in snaps], np.float64),
        "points": np.asarray([len(s.slots) for s in snaps], np.uint32),
    })
