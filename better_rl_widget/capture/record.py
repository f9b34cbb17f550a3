"""A bounded mirror for hand-written loops: ``hook.record(...)`` stores transitions here, the hook streams it.

Vectorised environments: with ``n_envs > 1`` every argument carries a leading env axis and the rows are stored
env by env, so environment ``e`` of record call ``t`` gets insertion index ``t·n_envs + e`` (slot = that modulo
capacity) — the same flattening the SB3 adapter uses. Episode ids are global and counted per env.
Dict/Tuple observations are flattened with ``gymnasium.spaces.flatten`` (pass ``observation_space``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .replay_buffer import ReplayBuffer, _array


class RecordBuffer(ReplayBuffer):
    def __init__(self, capacity: int, *, n_envs: int = 1, observation_space: Any = None) -> None:
        if int(n_envs) < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        super().__init__(capacity)
        self.n_envs = int(n_envs)
        self.space = observation_space
        self.flattens = False
        self.flat_size = 0
        self.note = ""
        if observation_space is not None:
            import gymnasium as gym

            if isinstance(observation_space, (gym.spaces.Dict, gym.spaces.Tuple)):
                self.flattens = True
                self.flat_size = size = gym.spaces.flatdim(observation_space)
                self.note = (f"{type(observation_space).__name__} observations are flattened to {size} values "
                             "(gymnasium.spaces.flatten): the inspector shows the flat vector")
        self._env_episode = np.arange(self.n_envs, dtype=np.int64)
        self._env_step = np.zeros(self.n_envs, np.int64)
        self._next_episode = self.n_envs

    def _flat(self, obs):
        if self.flattens:
            import gymnasium as gym

            try:
                flat = np.asarray(gym.spaces.flatten(self.space, obs))
            except Exception as exc:  # e.g. a missing key: gymnasium's KeyError names the key, not the space
                raise ValueError(f"observation {_preview(obs)} does not fit observation_space {self.space} "
                                 f"({type(exc).__name__}: {exc})") from exc
            if flat.size != self.flat_size:  # flatten does not check the parts' shapes: columns would shift
                raise ValueError(f"observation {_preview(obs)} flattens to {flat.size} values, but observation_space "
                                 f"{self.space} has {self.flat_size}")
            return flat
        if isinstance(obs, (dict, tuple)):
            raise TypeError("Dict/Tuple observations need observation_space=env.observation_space so they can be "
                            "flattened with gymnasium.spaces.flatten")
        return _array("obs", obs)

    def record(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminated: Any, truncated: Any) -> None:
        if self.n_envs == 1:
            items = [(obs, action, reward, next_obs, terminated, truncated)]
        else:
            # Every argument carries the env axis; without it obs[e] would silently be one number of one env's row.
            args = {"action": action, "reward": reward, "terminated": terminated, "truncated": truncated}
            if not self.flattens:
                args = {"obs": obs, "next_obs": next_obs, **args}
            for name, value in args.items():
                _check_env_axis(name, value, self.n_envs)
            if self.flattens:  # gymnasium vector envs give a dict/tuple of batched arrays: split per env
                try:
                    obs = _split(obs, self.n_envs)
                    next_obs = _split(next_obs, self.n_envs)
                except (IndexError, TypeError) as exc:
                    raise ValueError(f"with n_envs={self.n_envs} each part of a Dict/Tuple observation needs a "
                                     f"leading axis of {self.n_envs} ({type(exc).__name__}: {exc})") from exc
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


def _split(obs: Any, n: int) -> list:
    """Per-env items of a batched dict/tuple observation."""
    if isinstance(obs, dict):
        return [{k: _split(v, n)[e] if isinstance(v, (dict, tuple)) else np.asarray(v)[e] for k, v in obs.items()}
                for e in range(n)]
    if isinstance(obs, tuple):
        return [tuple(_split(v, n)[e] if isinstance(v, (dict, tuple)) else np.asarray(v)[e] for v in obs)
                for e in range(n)]
    return [np.asarray(obs)[e] for e in range(n)]


def _check_env_axis(name: str, value: Any, n: int) -> None:
    try:
        shape = np.shape(value)
    except ValueError:  # ragged
        shape = None
    if not shape or shape[0] != n:
        raise ValueError(f"{name} has shape {shape}: with n_envs={n} every argument of record() needs a leading "
                         f"axis of {n} (one entry per env)")


def _preview(obs: Any) -> str:
    text = repr(obs)
    return text if len(text) <= 80 else text[:77] + "..."
