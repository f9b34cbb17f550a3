"""Tianshou: ``TianshouBufferSource(buffer)`` streams a ``ReplayBuffer``/``PrioritizedReplayBuffer`` (also the
``VectorReplayBuffer`` family) into the hook.

Tianshou's ``add`` returns the global indices it wrote, so the adapter wraps ``add`` on this buffer instance to
collect them (slot id = Tianshou's global index; sub-buffer ``i`` of a vector buffer owns its own range, so
parallel envs are never mixed) and ``update_weight`` to collect re-prioritised slots. ``priority`` is Tianshou's
``weight``, which holds ``p^α`` — the quantity sampling is proportional to. ``detach()`` removes the wrappers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tianshou.data import PrioritizedReplayBuffer, ReplayBuffer

from ._episodes import EpisodeTracker


class TianshouBufferSource:
    def __init__(self, buffer: Any) -> None:
        if not isinstance(buffer, ReplayBuffer):
            raise TypeError(f"expected a tianshou.data.ReplayBuffer (or subclass), got {type(buffer).__name__}")
        self.buffer = buffer
        self.capacity = int(buffer.maxsize)
        self.prioritized = isinstance(buffer, PrioritizedReplayBuffer) or hasattr(buffer, "update_weight")
        self.optional_fields = ("priority",) if self.prioritized else ()
        self.tracker = EpisodeTracker(self.capacity, log_changes=True)
        add, self._orig_add = buffer.add, buffer.add

        def counting_add(batch: Any, buffer_ids: Any = None) -> Any:
            out = add(batch, buffer_ids=buffer_ids)
            try:
                ptr = np.asarray(out[0], np.int64).ravel()
                done = np.logical_or(np.asarray(batch.terminated), np.asarray(batch.truncated)).ravel()
                envs = np.zeros(len(ptr), np.int64) if buffer_ids is None else np.asarray(buffer_ids).ravel()
                if len(envs) != len(ptr):
                    envs = np.zeros(len(ptr), np.int64)
                self.tracker.written(ptr, done[:len(ptr)], envs)
            except Exception as exc:  # noqa: BLE001 - bookkeeping must never break the collector's add
                self.tracker.bookkeeping_failed("buffer.add", exc)
            return out

        patched: Any = buffer  # this instance's methods are wrapped (mypy types a method as read-only)
        patched.add = counting_add
        if self.prioritized:
            upd, self._orig_update = buffer.update_weight, buffer.update_weight

            def tracking_update(index: Any, new_weight: Any) -> None:
                upd(index, new_weight)
                self.tracker.reprioritised(np.asarray(index, np.int64))

            patched.update_weight = tracking_update

    @property
    def total_inserted(self) -> int:
        return self.tracker.total

    def take_changes(self) -> tuple[np.ndarray, np.ndarray]:
        return self.tracker.take_changes()

    def read(self, slots: np.ndarray, fields: Any = None) -> dict[str, np.ndarray]:
        slots = np.asarray(slots, np.int64)
        b = self.buffer
        names = {"obs": "obs", "next_obs": "obs_next", "action": "act", "reward": "rew",
                 "terminated": "terminated", "truncated": "truncated"}
        out: dict[str, np.ndarray] = {}
        for name in fields or tuple(names):
            if name in names:
                out[name] = np.asarray(getattr(b, names[name])[slots])
            elif name in ("step", "episode", "episode_step"):
                out[name] = self.tracker.read(slots, name)
            elif name == "priority" and self.prioritized:
                out[name] = np.asarray(b.weight[slots], np.float32)
        return out

    def detach(self) -> None:
        """Restore the buffer's own ``add``/``update_weight``."""
        self.buffer.__dict__.pop("add", None)
        self.buffer.__dict__.pop("update_weight", None)
