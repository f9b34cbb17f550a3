"""Runner loop for gymnasium envs without a tabular model (continuous observations, discrete actions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np


def train_episodes_gym(agent: Any, make_env: Callable[[], gym.Env], instances: int, rng: np.random.Generator,
                       episodes: int, steps: int, after_episode: Callable[[int], object] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``instances`` env copies, each seeded from ``rng``; the agent acts and learns on the batch of active
    copies, the copies step one by one (gymnasium envs are Python objects). Returns (returns, lengths)."""
    B = instances
    envs = [make_env() for _ in range(B)]
    space = envs[0].observation_space
    if not isinstance(space, gym.spaces.Box) or not isinstance(envs[0].action_space, gym.spaces.Discrete):
        raise TypeError("this loop needs a Box observation space and Discrete actions")
    try:
        agent.reset_features(space.low, space.high, int(envs[0].action_space.n), B, rng)
    except (ValueError, MemoryError, OverflowError) as exc:  # numpy's message does not say it is the space
        raise ValueError(f"{getattr(agent, 'name', type(agent).__name__)} cannot set up features for observations "
                         f"of shape {space.shape} ({type(exc).__name__}: {exc})") from exc
    returns = np.zeros((B, episodes))
    lengths = np.zeros((B, episodes), dtype=np.int64)
    seeds = rng.integers(0, 2**31 - 1, size=B)
    for ep in range(episodes):
        obs = np.stack([e.reset(seed=int(seeds[i]) + ep)[0] for i, e in enumerate(envs)])
        rows = np.arange(B)
        _check_obs(obs, rows, ep, 0)
        for t in range(steps):
            a = agent.act(rows, obs)
            out = [envs[i].step(int(ai)) for i, ai in zip(rows, a)]
            obs2 = np.stack([o[0] for o in out])
            _check_obs(obs2, rows, ep, t + 1)
            r = np.array([o[1] for o in out], dtype=float)
            term = np.array([o[2] for o in out])
            trunc = np.array([o[3] for o in out])
            agent.update(rows, obs, a, r, obs2, term)
            returns[rows, ep] += r
            lengths[rows, ep] += 1
            keep = ~(term | trunc)
            rows, obs = rows[keep], obs2[keep]
            if rows.size == 0:
                break
        agent.end_episode()
        if after_episode is not None:
            after_episode(ep)
    for e in envs:
        e.close()
    return returns, lengths


def _check_obs(obs: np.ndarray, rows: np.ndarray, episode: int, t: int) -> None:
    """Tile coding turns a NaN into a huge negative index (a bare IndexError far from the cause): name it here."""
    bad = ~np.isfinite(np.asarray(obs, float)).all(axis=tuple(range(1, np.ndim(obs))))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"the env returned a non-finite observation {obs[i]!r} (instance {int(rows[i])}, episode "
                         f"{episode}, step {t}); these agents need finite observations")
