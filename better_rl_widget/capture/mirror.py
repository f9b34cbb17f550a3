"""The worker's own copy of the buffer rows it has seen: what the inspector reads, checked on the way in."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..frames.slot_info import json_scalar, obs_layout


@dataclass
class Applied:
    """What one merged batch did to the mirror."""

    valid: np.ndarray  # slots with finite observations, now in the mirror
    non_finite: np.ndarray  # slots whose observation had NaN/inf: not drawn
    rejected: np.ndarray  # slots whose observation shape/dtype did not match: not drawn
    error: str = ""


class BufferMirror:
    """Rows by slot, in the observation's own dtype (uint8 frames stay uint8)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._lock = threading.Lock()
        self.obs: np.ndarray | None = None
        self.obs_spec: tuple[tuple[int, ...], np.dtype] | None = None
        self.present = np.zeros(self.capacity, bool)
        self.fields: dict[str, np.ndarray] = {}

    def apply(self, slots: np.ndarray, rows: dict[str, np.ndarray]) -> Applied:
        obs = np.asarray(rows["obs"])
        empty = np.zeros(0, np.int64)
        spec = (tuple(obs.shape[1:]), obs.dtype)
        first = ", ".join(str(int(s)) for s in slots[:5]) + (" …" if len(slots) > 5 else "")
        with self._lock:
            if obs.dtype.kind not in "biufc":  # objects/strings: nothing to embed; must not become the spec either
                self.present[slots] = False
                msg = (f"observations at slot(s) {first} have dtype {obs.dtype} (e.g. ragged lists or Python "
                       "objects), which cannot be mirrored or drawn; these rows are not drawn. Store numeric arrays "
                       "of one shape (np.asarray(obs, np.float32)); for Dict/Tuple observations use "
                       "TrainingHook.for_loop(..., observation_space=env.observation_space), which flattens them")
                return Applied(empty, empty, np.asarray(slots, np.int64), msg)
            if self.obs_spec is None:
                self.obs_spec = spec
                self.obs = np.zeros((self.capacity, *spec[0]), spec[1])
            if spec != self.obs_spec:
                want, got = self.obs_spec, spec
                msg = (f"observation shape/dtype changed mid-run at slot(s) {first}: "
                       f"got shape {got[0]} dtype {got[1]}, expected shape {want[0]} dtype {want[1]} "
                       "(from the first snapshot); these rows are not drawn")
                self.present[slots] = False
                return Applied(empty, empty, np.asarray(slots, np.int64), msg)
            if obs.dtype.kind in "fc":
                finite = np.isfinite(obs.reshape(len(obs), -1)).all(axis=1)
            else:
                finite = np.ones(len(obs), bool)
            assert self.obs is not None
            self.obs[slots] = obs
            for name, values in rows.items():
                if name == "obs":
                    continue
                v = np.asarray(values)
                col = self.fields.get(name)
                if col is None or col.shape[1:] != v.shape[1:]:
                    col = self.fields[name] = np.zeros((self.capacity, *v.shape[1:]), v.dtype)
                col[slots] = v
            self.present[slots] = finite
            return Applied(slots[finite], slots[~finite], empty)

    def drop(self, slots: np.ndarray) -> None:
        """``slots`` hold no drawn row any more (their lanes left a sampled map)."""
        with self._lock:
            self.present[np.asarray(slots, np.int64)] = False

    def update_field(self, name: str, slots: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Overwrite one field of existing slots (e.g. a new priority); returns what was applied."""
        slots = np.asarray(slots, np.int64)
        values = np.asarray(values)
        ok = (slots >= 0) & (slots < self.capacity)
        slots, values = slots[ok], values[ok]
        self.set_fields(slots, {name: values})
        return slots, values

    def set_fields(self, slots: np.ndarray, fields: dict[str, np.ndarray]) -> None:
        with self._lock:
            for name, values in fields.items():
                v = np.asarray(values)
                col = self.fields.get(name)
                if col is None or col.shape[1:] != v.shape[1:]:
                    col = self.fields[name] = np.full((self.capacity, *v.shape[1:]), np.nan if v.dtype.kind == "f"
                                                      else 0, v.dtype)
                col[slots] = v

    def rows(self, slots: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Copies of some fields (``obs`` included) for ``slots``; the worker's batch input."""
        with self._lock:
            out = {}
            for n in names:
                if n == "obs":
                    assert self.obs is not None
                    out[n] = self.obs[slots]
                else:
                    out[n] = self.fields[n][slots]
            return out

    def inspect(self, slot: int) -> tuple[dict, np.ndarray | None]:
        """Inspector data for ``slot``: JSON-safe meta and the observation (or None)."""
        with self._lock:
            if self.obs is None or not (0 <= slot < self.capacity) or not self.present[slot]:
                return {"slot": int(slot), "present": False, "message": "this slot holds no drawn transition"}, None
            obs = np.array(self.obs[slot])
            meta = {"slot": int(slot), "present": True, "obs_shape": list(obs.shape), "obs_dtype": str(obs.dtype),
                    "obs_layout": obs_layout(obs.shape), "message": ""}
            if "slot" in self.fields:  # a sampled map: ``slot`` is the map's point id, this the buffer's slot
                meta["buffer_slot"] = int(self.fields["slot"][slot])
            for name in ("step", "episode", "episode_step", "reward", "done", "td_error", "priority", "q", "value"):
                if name in self.fields:
                    meta[name] = json_scalar(self.fields[name][slot])
            if "action" in self.fields:
                a = self.fields["action"][slot]
                meta["action"] = json_scalar(a) if a.ndim == 0 else [json_scalar(v) for v in a.ravel()[:16]]
        return meta, obs
