"""A bounded mirror for hand-written loops: ``hook.record(...)`` stores transitions here, the hook streams it.

Vectorised environments: with ``n_envs > 1`` every argument carries a leading env axis and the rows are stored
env by env, so environment ``e`` of record call ``t`` gets insertion index ``t·n_envs + e`` (slot = that modulo
capacity) — the same flattening the SB3 adapter uses. Episode ids are global and counted per env.
Dict/Tuple observations are flattened with ``gymnasium.spaces.flatten`` (pass ``observation_space``).
"""

from __future__ import annotations

import numpy as np

from .replay_buffer import ReplayBuffer


class RecordBuffer(ReplayBuffer):
    def __init__(self, capacity: int, *, n_envs: int = 1, observation_space=None) -> None:
        if int(n_envs) < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        super().__init__(capacity)
        self.n_envs = int(n_envs)
        self.space = observation_space
        self.flattens = False
        self.note = ""
        if observation_space is not None:
            import gymnasium as gym

            if isinstance(observation_space, (gym.spaces.Dict, gym.spaces.Tuple)):
                self.flattens = True
                size = gym.spaces.flatdim(observation_space)
                self.note = (f"{type(observation_space).__name__} observations are flattened to {size} values "
                             "(gymnasium.spaces.flatten): the inspector shows the flat vector")
        self._env_episode = np.arange(self.n_envs, dtype=np.int64)
        self._env_step = np.zeros(self.n_envs, np.int64)
        self._next_episode = self.n_envs

    def _flat(self, obs):
        if self.flattens:
            import gymnasium as gym

            return gym.spaces.flatten(self.space, obs)
        if isinstance(obs, (dict, tuple)):
            raise TypeError("Dict/Tuple observations need observation_space=env.observation_space so they can be "
                            "flattened with gymnasium.spaces.flatten")
        return np.asarray(obs)

    def record(self, obs, action, reward, next_obs, terminated, truncated) -> None:
        if self.n_envs == 1:
            items = [(obs, action, reward, next_obs, terminated, truncated)]
        else:
            if self.flattens:  # gymnasium vector envs give a dict/tuple of batched arrays: split per env
                obs = _split(obs, self.n_envs)
                next_obs = _split(next_obs, self.n_envs)
            items = [(obs[e], np.asarray(action)[e], np.asarray(reward)[e], next_obs[e], np.asarray(terminated)[e],
                      np.asarray(truncated)[e]) for e in range(self.n_envs)]
        for e, (o, a, r, o2, te, tr) in enumerate(items):
            self._episode, self._episode_step = int(self._env_episode[e]), int(self._env_step[e])
            super().add(self._flat(o), a, float(r), self._flat(o2), bool(te), bool(tr))
            if te or tr:
                self._env_episode[e] = self._next_episode
                self._next_episode += 1
                self._env_step[e] = 0
            else:
                self._env_step[e] += 1


def _split(obs, n: int) -> list:
    """Per-env items of a batched dict/tuple observation."""
    if isinstance(obs, dict):
        return [{k: _split(v, n)[e] if isinstance(v, (dict, tuple)) else np.asarray(v)[e] for k, v in obs.items()}
                for e in range(n)]
    if isinstance(obs, tuple):
        return [tuple(_split(v, n)[e] if isinstance(v, (dict, tuple)) else np.asarray(v)[e] for v in obs)
                for e in range(n)]
    return [np.asarray(obs)[e] for e in range(n)]
