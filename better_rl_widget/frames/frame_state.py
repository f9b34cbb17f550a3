"""The map's full state keyed by buffer slot, and the keyframes and deltas that carry it to the views.

Python keeps one row per drawn slot in capacity-sized arrays, remembers which rows changed since the last
delta, and encodes either all rows (keyframe) or only the changed ones (delta). Thread-safe: the worker writes,
the kernel thread builds keyframes on request.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np

from .codec import encode
from .snapshot import MapSnapshot

# Row fields every frame carries, with their wire dtype; optional ones appear once a snapshot provides them.
BASE_FIELDS: dict[str, str] = {"step": "uint32", "episode": "uint32", "action": "uint32", "reward": "float32",
                               "done": "uint8"}
OPTIONAL_FIELDS: dict[str, str] = {"td_error": "float32", "priority": "float32", "q": "float32",
                                   "value": "float32", "return": "float32",
                                   "skill": "float32", "replays": "float32", "flipped": "float32",
                                   "dq": "float32", "staleness": "float32"}
CHANNEL_KINDS: dict[str, str] = {"reward": "continuous", "action": "categorical", "episode": "categorical",
                                 "done": "categorical", "td_error": "continuous", "priority": "continuous",
                                 "q": "continuous", "value": "continuous", "return": "continuous",
                                 "skill": "categorical", "replays": "continuous", "flipped": "categorical",
                                 "dq": "continuous", "staleness": "continuous"}


class FrameState:
    """Rows keyed by slot → keyframe bytes (all rows) and delta bytes (rows changed since the last delta)."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self._lock = threading.Lock()
        self._present = np.zeros(self.capacity, bool)
        self._dirty = np.zeros(self.capacity, bool)
        self._removed = np.zeros(self.capacity, bool)
        self._x = np.zeros(self.capacity, np.float32)
        self._y = np.zeros(self.capacity, np.float32)
        self._fields: dict[str, np.ndarray] = {k: np.zeros(self.capacity, v) for k, v in BASE_FIELDS.items()}
        self.seq = 0
        self.generation = 0
        self.extent = [-1.0, 1.0, -1.0, 1.0]
        self.newest_step = 0

    # -- writes (worker thread) -------------------------------------------------------------------------
    def upsert(self, slots: np.ndarray, fields: Mapping[str, np.ndarray]) -> None:
        """Set the per-row fields (not coordinates) of ``slots``; they are drawn once they have coordinates."""
        slots = np.asarray(slots, np.int64)
        with self._lock:
            for name, values in fields.items():
                if name not in self._fields:
                    dtype = BASE_FIELDS.get(name) or OPTIONAL_FIELDS.get(name)
                    if dtype is None:
                        continue
                    if name == "action":
                        dtype = "float32"
                    self._fields[name] = np.zeros(self.capacity, dtype)
                    if name in OPTIONAL_FIELDS:
                        self._fields[name][:] = np.nan
                col = self._fields[name]
                v = np.asarray(values)
                if name == "action" and col.dtype == np.uint32 and (v.dtype.kind == "f" or v.ndim > 1):
                    # Continuous actions: keep the first component as a float channel.
                    self._fields[name] = col = col.astype(np.float32)
                if v.ndim > 1:
                    v = v.reshape(len(v), -1)[:, 0]
                col[slots] = v.astype(col.dtype, copy=False)
            if "step" in fields and len(slots):
                self.newest_step = max(self.newest_step, int(self._fields["step"][slots].max()))
            self._dirty[slots] |= self._present[slots]

    def set_coords(self, slots: np.ndarray, xy: np.ndarray) -> None:
        """Coordinates for ``slots``; only rows whose coordinates really changed go into the next delta."""
        slots = np.asarray(slots, np.int64)
        xy = np.asarray(xy, np.float32)
        with self._lock:
            changed = (~self._present[slots]) | (self._x[slots] != xy[:, 0]) | (self._y[slots] != xy[:, 1])
            self._x[slots] = xy[:, 0]
            self._y[slots] = xy[:, 1]
            self._present[slots] = True
            self._removed[slots] = False
            self._dirty[slots[changed]] = True

    def remove(self, slots: np.ndarray) -> None:
        slots = np.asarray(slots, np.int64)
        with self._lock:
            was = slots[self._present[slots]]
            self._present[was] = False
            self._dirty[was] = False
            self._removed[was] = True

    def mark_dirty(self, slots: np.ndarray) -> None:
        with self._lock:
            s = np.asarray(slots, np.int64)
            self._dirty[s[self._present[s]]] = True

    def set_extent(self, extent: list[float]) -> None:
        with self._lock:
            self.extent = [float(v) for v in extent]

    # -- reads --------------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return int(self._present.sum())

    def present_slots(self) -> np.ndarray:
        return np.flatnonzero(self._present).astype(np.uint32)

    def row(self, slot: int) -> dict[str, float | int] | None:
        with self._lock:
            if not (0 <= slot < self.capacity) or not self._present[slot]:
                return None
            out: dict[str, float | int] = {"x": float(self._x[slot]), "y": float(self._y[slot])}
            for k, col in self._fields.items():
                out[k] = col[slot].item()
            return out

    def column(self, name: str, slots: np.ndarray | None = None) -> np.ndarray:
        """A copy of one field (all slots, or ``slots``); NaN-filled float32 when the field does not exist yet."""
        with self._lock:
            col = self._fields.get(name)
            n = self.capacity if slots is None else len(slots)
            if col is None:
                return np.full(n, np.nan, np.float32)
            return col.copy() if slots is None else col[np.asarray(slots, np.int64)]

    def coords(self, slots: np.ndarray) -> np.ndarray:
        """Map coordinates of ``slots`` (float32[n, 2]); meaningful for drawn slots only."""
        idx = np.asarray(slots, np.int64)
        with self._lock:
            return np.stack([self._x[idx], self._y[idx]], axis=1)

    def present_mask(self) -> np.ndarray:
        with self._lock:
            return self._present.copy()

    def snapshot(self, step: int, time_s: float) -> MapSnapshot:
        """A copy of every drawn row (coordinates and fields) as the map looks now; see widget/history.py."""
        with self._lock:
            idx = np.flatnonzero(self._present)
            xy = np.stack([self._x[idx], self._y[idx]], axis=1)
            fields = {k: col[idx] for k, col in self._fields.items()}
            x0, x1, y0, y1 = self.extent
            return MapSnapshot(step=int(step), time_s=float(time_s), slots=idx.astype(np.uint32), xy=xy,
                               extent=(x0, x1, y0, y1), fields=fields)

    def has_pending(self) -> bool:
        return bool(self._dirty.any() or self._removed.any())

    def _meta(self, kind: str) -> dict:
        channels = {k: {"kind": CHANNEL_KINDS[k]} for k in self._fields if k in CHANNEL_KINDS}
        return {"kind": kind, "seq": self.seq, "capacity": self.capacity, "extent": self.extent,
                "newest_step": int(self.newest_step), "channels": channels}

    def _rows(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        arrays = {"slots": idx.astype(np.uint32), "x": self._x[idx], "y": self._y[idx]}
        for k, col in self._fields.items():
            arrays[k] = col[idx]
        return arrays

    def take_delta(self) -> bytes | None:
        """Encode the rows changed since the last delta (None when nothing changed) and bump ``seq``."""
        with self._lock:
            dirty = np.flatnonzero(self._dirty)
            removed = np.flatnonzero(self._removed)
            if len(dirty) == 0 and len(removed) == 0:
                return None
            self.seq += 1
            arrays = self._rows(dirty)
            arrays["removed"] = removed.astype(np.uint32)
            self._dirty[:] = False
            self._removed[:] = False
            return encode(self._meta("delta"), arrays)

    def keyframe(self) -> bytes:
        """Encode every drawn row at the current ``seq`` (pending changes stay pending for the next delta)."""
        with self._lock:
            # A keyframe must reflect only what deltas up to ``seq`` carried, so flush pending rows first.
            if self._dirty.any() or self._removed.any():
                self.seq += 1
                self._dirty[:] = False
                self._removed[:] = False
            self.generation += 1
            meta = self._meta("keyframe")
            meta["generation"] = self.generation
            return encode(meta, self._rows(np.flatnonzero(self._present)))
