"""Episode ids, step-within-episode and insertion index per slot, for buffers that do not keep them."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("better_rl_widget")


class EpisodeTracker:
    """Fed the rows a library wrote, in write order, with the env each came from; O(rows) per call.

    Episode ids are global: a new id is handed out whenever an env's episode ends, so parallel envs never share
    an id.
    """

    def __init__(self, capacity: int, n_envs: int = 1, *, log_changes: bool = False) -> None:
        self.episode = np.zeros(capacity, np.int64)
        self.episode_step = np.zeros(capacity, np.int64)
        self.step = np.zeros(capacity, np.int64)
        self._env_episode = np.arange(n_envs, dtype=np.int64)
        self._env_step = np.zeros(n_envs, np.int64)
        self._next = n_envs
        self.total = 0
        # what changed since the hook last asked (BufferSource.take_changes), for adapters that need it
        self.capacity = int(capacity)
        self.log_changes = log_changes
        self._logged = 0
        self._written: list[np.ndarray] = []
        self._reprioritised: list[np.ndarray] = []
        self._warned = False

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
        if self.log_changes:
            self._log_written(slots)
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

    def _log_written(self, slots: np.ndarray) -> None:
        self._written.append(slots.copy())
        self._logged += len(slots)
        if self._logged > 2 * self.capacity:  # nobody asked for a while: keep each slot's last write only
            allw = np.concatenate(self._written)
            _, last = np.unique(allw[::-1], return_index=True)
            self._written = [allw[np.sort(len(allw) - 1 - last)]]
            self._logged = len(self._written[0])

    def reprioritised(self, slots: np.ndarray) -> None:
        self._reprioritised.append(np.asarray(slots, np.int64).ravel().copy())
        if sum(len(r) for r in self._reprioritised) > 2 * self.capacity:
            self._reprioritised = [np.unique(np.concatenate(self._reprioritised))]

    def take_changes(self) -> tuple[np.ndarray, np.ndarray]:
        """Slots written since the last call (in write order) and slots whose priority changed (unique)."""
        written, self._written = self._written, []
        rep, self._reprioritised = self._reprioritised, []
        self._logged = 0
        empty = np.zeros(0, np.int64)
        return (np.concatenate(written) if written else empty,
                np.unique(np.concatenate(rep)) if rep else empty)

    def bookkeeping_failed(self, where: str, exc: Exception) -> None:
        """The library's own call succeeded but our bookkeeping did not: say so once, never raise into it."""
        if not self._warned:
            self._warned = True
            log.warning("better_rl_widget: could not track %s (%s: %s); the map may miss rows", where,
                        type(exc).__name__, exc)

    def read(self, slots: np.ndarray, name: str) -> np.ndarray:
        return getattr(self, name)[slots]
