"""TorchRL: ``TorchRLBufferSource(rb)`` streams a ``ReplayBuffer``/``TensorDictReplayBuffer`` into the hook.

The adapter wraps ``add``/``extend`` on this buffer instance to collect the storage indices they return
(slot id = storage index; the round-robin writer makes it a ring) and, where the buffer has one,
``update_priority`` to collect re-prioritised slots. Rows are read from the storage with a key map
(TorchRL's defaults: ``observation``, ``action``, ``("next", "reward")``, ...).

Prioritized buffers: torchrl 0.14's sum-tree is a compiled extension built for torch 2.14; with other torch
builds ``PrioritizedSampler`` fails to load ("SumSegmentTreeFp32 is not available"). The adapter does not need
it: with a uniform buffer the hook computes TD-errors itself. Where the extension loads, priorities are read
from the sampler's sum-tree (``priority`` = the sampling weight ``p^α``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._episodes import EpisodeTracker

DEFAULT_KEYS: dict[str, Any] = {
    "obs": "observation", "next_obs": ("next", "observation"), "action": "action", "reward": ("next", "reward"),
    "terminated": ("next", "terminated"), "truncated": ("next", "truncated"), "done": ("next", "done"),
}


class TorchRLBufferSource:
    def __init__(self, rb: Any, keys: dict[str, Any] | None = None) -> None:
        from torchrl.data import ReplayBuffer

        if not isinstance(rb, ReplayBuffer):
            raise TypeError(f"expected a torchrl.data.ReplayBuffer (or subclass), got {type(rb).__name__}")
        self.rb = rb
        self.keys = {**DEFAULT_KEYS, **(keys or {})}
        self.capacity = int(rb._storage.max_size)
        sampler = getattr(rb, "_sampler", None)
        self._tree = getattr(sampler, "_sum_tree", None)
        self.optional_fields = ("priority",) if self._tree is not None else ()
        self.tracker = EpisodeTracker(self.capacity, log_changes=True)
        self._wrap("extend", batched=True)
        self._wrap("add", batched=False)
        if hasattr(rb, "update_priority"):
            upd = rb.update_priority

            def tracking_update(index: Any, priority: Any, *a: Any, **kw: Any) -> Any:
                out = upd(index, priority, *a, **kw)
                self.tracker.reprioritised(_np(index).astype(np.int64))
                return out

            rb.update_priority = tracking_update

    def _wrap(self, name: str, batched: bool) -> None:
        orig = getattr(self.rb, name)

        def counting(data: Any, *a: Any, **kw: Any) -> Any:
            idx = orig(data, *a, **kw)
            try:
                slots = _np(idx).astype(np.int64).ravel()
                done = self._done(data, len(slots), batched)
                self.tracker.written(slots, done)
            except Exception as exc:  # noqa: BLE001 - bookkeeping must never break the user's extend
                self.tracker.bookkeeping_failed(f"rb.{name}", exc)
            return idx

        setattr(self.rb, name, counting)

    def _done(self, data: Any, n: int, batched: bool) -> np.ndarray:
        for k in ("done", "terminated"):
            try:
                v = _np(data.get(self.keys[k])).astype(bool)
                return v.reshape(n, -1).any(axis=1) if batched else v.reshape(1, -1).any(axis=1)
            except Exception:  # noqa: BLE001, S112 - try the next key
                continue
        return np.zeros(n, bool)

    @property
    def total_inserted(self) -> int:
        return self.tracker.total

    def take_changes(self) -> tuple[np.ndarray, np.ndarray]:
        return self.tracker.take_changes()

    def read(self, slots: np.ndarray, fields: Any = None) -> dict[str, np.ndarray]:
        slots = np.asarray(slots, np.int64)
        td = self.rb._storage[torch.as_tensor(slots)]
        out: dict[str, np.ndarray] = {}
        for name in fields or ("obs", "next_obs", "action", "reward", "terminated", "truncated"):
            if name in ("step", "episode", "episode_step"):
                out[name] = self.tracker.read(slots, name)
            elif name == "priority":
                if self._tree is not None:
                    out[name] = np.asarray([self._tree[int(s)] for s in slots], np.float32)
            elif name in self.keys:
                key = self.keys[name]
                if name == "truncated" and key not in td.keys(include_nested=True):
                    out[name] = np.zeros(len(slots), bool)
                    continue
                if name == "terminated" and key not in td.keys(include_nested=True):
                    key = self.keys["done"]
                v = _np(td.get(key))
                if name in ("reward", "terminated", "truncated", "action") and v.ndim == 2 and v.shape[1] == 1:
                    v = v[:, 0]
                if name == "action" and v.ndim == 2 and v.dtype.kind in "iub" and v.shape[1] > 1:
                    v = v.argmax(axis=1)  # one-hot actions (TorchRL's OneHot spec) → index
                out[name] = v
            else:
                raise KeyError(f"TorchRL adapter: no key mapped for field {name!r}; pass keys={{{name!r}: ...}}")
        return out

    def detach(self) -> None:
        for name in ("add", "extend", "update_priority"):
            self.rb.__dict__.pop(name, None)


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
