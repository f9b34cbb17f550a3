"""A reference numpy ring replay buffer for vector and image observations.

Besides the transition it records, per slot, the insertion index (``step``), the episode id and the step
within the episode, which is what the live map colours by. Storage is allocated on the first ``add`` from the
observation's shape and dtype (uint8 frames stay uint8).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FIELDS = ("obs", "next_obs", "action", "reward", "terminated", "truncated", "step", "episode", "episode_step")


class ReplayBuffer:
    """Uniform ring buffer. Insertion ``i`` goes to slot ``i % capacity``; ``total_inserted`` counts all."""

    def __init__(self, capacity: int, *, seed: int | None = None) -> None:
        if int(capacity) <= 0:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.capacity = int(capacity)
        self.total_inserted = 0
        self._rng = np.random.default_rng(seed)
        self._data: dict[str, np.ndarray] = {}
        self._episode = 0
        self._episode_step = 0

    def __len__(self) -> int:
        return min(self.total_inserted, self.capacity)

    @property
    def obs_shape(self) -> tuple[int, ...] | None:
        return self._data["obs"].shape[1:] if self._data else None

    @property
    def evictions(self) -> int:
        return max(0, self.total_inserted - self.capacity)

    def _allocate(self, obs: np.ndarray, action: np.ndarray) -> None:
        c = self.capacity
        self._data = {
            "obs": np.zeros((c, *obs.shape), obs.dtype),
            "next_obs": np.zeros((c, *obs.shape), obs.dtype),
            "action": np.zeros((c, *action.shape), action.dtype if action.dtype.kind in "iuf" else np.float32),
            "reward": np.zeros(c, np.float32),
            "terminated": np.zeros(c, bool),
            "truncated": np.zeros(c, bool),
            "step": np.zeros(c, np.int64),
            "episode": np.zeros(c, np.int64),
            "episode_step": np.zeros(c, np.int64),
        }

    def add(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False) -> int:
        """Store one transition; returns its slot. Episode ids advance after a terminated/truncated step."""
        obs = np.asarray(obs)
        next_obs = np.asarray(next_obs)
        action = np.asarray(action)
        if not self._data:
            self._allocate(obs, action)
        expected = self._data["obs"].shape[1:]
        for name, value in (("obs", obs), ("next_obs", next_obs)):
            if value.shape != expected:
                raise ValueError(f"{name} has shape {value.shape}, but this buffer stores observations of shape "
                                 f"{expected} (set by the first transition)")
        slot = self.total_inserted % self.capacity
        d = self._data
        d["obs"][slot] = obs
        d["next_obs"][slot] = next_obs
        d["action"][slot] = action
        d["reward"][slot] = reward
        d["terminated"][slot] = terminated
        d["truncated"][slot] = truncated
        d["step"][slot] = self.total_inserted
        d["episode"][slot] = self._episode
        d["episode_step"][slot] = self._episode_step
        self.total_inserted += 1
        if terminated or truncated:
            self._episode += 1
            self._episode_step = 0
        else:
            self._episode_step += 1
        return slot

    def read(self, slots: np.ndarray, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Copies of the given slots' fields (fancy indexing copies, so the caller owns the result)."""
        if not self._data:
            return {}
        slots = np.asarray(slots, np.int64)
        names = fields if fields is not None else FIELDS
        return {k: self._data[k][slots] for k in names}

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        n = len(self)
        if n == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = self._rng.integers(0, n, size=batch_size)
        out = self.read(idx, ("obs", "next_obs", "action", "reward", "terminated"))
        out["indices"] = idx
        return out
