"""Tianshou: ``TianshouBufferSource(buffer)`` streams a ``ReplayBuffer``/``PrioritizedReplayBuffer`` (also the
``VectorReplayBuffer`` family) into the hook.

Tianshou's ``add`` returns the global indices it wrote, so the adapter wraps ``add`` on this buffer instance to
collect them (slot id = Tianshou's global index; sub-buffer ``i`` of a vector buffer owns its own range, so
parallel envs are never mixed) and ``update_weight`` to collect re-prioritised slots. ``priority`` is Tianshou's
``weight``, which holds ``p^α`` — the quantity sampling is proportional to. ``detach()`` removes the wrappers.

Replay counts: ``sample_indices`` is wrapped on the instance too (``sample`` calls it; it returns global indices);
slots written by ``add`` start again at 0. ``scale_priorities`` (what ``TrainingHook.reprioritize`` calls) goes
through Tianshou's own ``update_weight`` so its max/min priorities stay consistent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tianshou.data import PrioritizedReplayBuffer, ReplayBuffer

from ..capture.replay_counts import ReplayCounter, check_factor, check_slots
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
        self.replay_counts = counter = ReplayCounter(self.capacity)
        add, self._orig_add = buffer.add, buffer.add
        sample_indices = buffer.sample_indices

        def counting_add(batch: Any, buffer_ids: Any = None) -> Any:
            out = add(batch, buffer_ids=buffer_ids)
            try:
                ptr = np.asarray(out[0], np.int64).ravel()
                done = np.logical_or(np.asarray(batch.terminated), np.asarray(batch.truncated)).ravel()
                envs = np.zeros(len(ptr), np.int64) if buffer_ids is None else np.asarray(buffer_ids).ravel()
                if len(envs) != len(ptr):
                    envs = np.zeros(len(ptr), np.int64)
                self.tracker.written(ptr, done[:len(ptr)], envs)
                counter.written(ptr)
            except Exception as exc:  # noqa: BLE001 - bookkeeping must never break the collector's add
                self.tracker.bookkeeping_failed("buffer.add", exc)
            return out

        def counting_sample_indices(batch_size: int | None) -> np.ndarray:
            idx = sample_indices(batch_size)
            try:
                counter.sampled(idx)
            except Exception as exc:  # noqa: BLE001 - counting must never break the policy's update
                self.tracker.bookkeeping_failed("buffer.sample_indices", exc)
            return idx

        patched: Any = buffer  # this instance's methods are wrapped (mypy types a method as read-only)
        patched.add = counting_add
        patched.sample_indices = counting_sample_indices
        if self.prioritized:
            upd, self._orig_update = buffer.update_weight, buffer.update_weight

            def tracking_update(index: Any, new_weight: Any) -> None:
                upd(index, new_weight)
                self.tracker.reprioritised(np.asarray(index, np.int64))

            patched.update_weight = tracking_update

    def scale_priorities(self, slots: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
        """Multiply the sampling weights ``weight = (|δ| + eps)^α`` of ``slots`` by ``factor``; returns (old,
        new) weights. Through ``update_weight`` with the |δ| that gives the new weight: ``(w·factor)^(1/α) − eps``."""
        if not self.prioritized:
            raise TypeError(f"{type(self.buffer).__name__} is not prioritized: reprioritize needs Tianshou's "
                            "PrioritizedReplayBuffer (or PrioritizedVectorReplayBuffer)")
        slots = check_slots(slots, len(self.buffer), self.capacity)
        factor = check_factor(factor)
        b: Any = self.buffer
        alpha = float(b._alpha)
        eps = float(getattr(b, "_PrioritizedReplayBuffer__eps", np.finfo(np.float32).eps))
        old = np.asarray(b.weight[slots], np.float64)
        raw = np.maximum((old * factor) ** (1.0 / alpha) - eps, 0.0)
        self._orig_update(slots, raw)
        self.tracker.reprioritised(slots)
        return old, np.asarray(b.weight[slots], np.float64)

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
        for name in ("add", "update_weight", "sample_indices"):
            self.buffer.__dict__.pop(name, None)
