"""Episode ids, step-within-episode and insertion index per slot, for buffers that do not keep them."""

from __future__ import annotations

import numpy as np


class EpisodeTracker:
    """Fed the rows a library wrote, in write order, with the env each came from; O(rows) per call.

    Episode ids are global: a new id is handed out whenever an env's episode ends, so parallel envs never share
    an id.
    """

    def __init__(self, capacity: int, n_envs: int = 1) -> None:
        self.episode = np.zeros(capacity, np.int64)
        self.episode_step = np.zeros(capacity, np.int64)
        self.step = np.zeros(capacity, np.int64)
        self._env_episode = np.arange(n_envs, dtype=np.int64)
        self._env_step = np.zeros(n_envs, np.int64)
        self._next = n_envs
        self.total = 0

    def _grow(self, env: int) -> None:
        if env >= len(self._env_episode):
            extra = env + 1 - len(self._env_episode)
            self._env_episode = np.append(self._env_episode, np.arange(self._next, self._next + extra))
            self._env_step = np.append(self._env_step, np.zeros(extra, np.int64))
            self._next += extra

    def written(self, slots: np.ndarray, done: np.ndarray, envs: np.ndarray | None = None) -> None:
        slots = np.asarray(slots, np.int64).ravel()
        done = np.asarray(done, bool).ravel()
        envs = np.zeros(len(slots), np.int64) if envs is None else np.asarray(envs, np.int64).ravel()
        # Usually a handful of rows per call (one per env): a plain loop is the clearest way to advance counters.
        for s, d, e in zip(slots.tolist(), done.tolist(), envs.tolist(), strict=True):
            self._grow(e)
            self.episode[s] = self._env_episode[e]
            self.episode_step[s] = self._env_step[e]
            self.step[s] = self.total
            self.total += 1
            if d:
                self._env_episode[e] = self._next
                self._next += 1
                self._env_step[e] = 0
            else:
                self._env_step[e] += 1

    def read(self, slots: np.ndarray, name: str) -> np.ndarray:
        return getattr(self, name)[slots]
