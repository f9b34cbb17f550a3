"""A deterministic stream of CartPole-v1 states (random policy) and 64-d features of them, for embed benchmarks.

The 64-d features come from a fixed random two-layer tanh network of the state: like a Q-network's penultimate
layer, high-dimensional but with the intrinsic dimension of the state (4).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


def cartpole_states(n: int, seed: int = 0) -> np.ndarray:
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    out = np.empty((n, 4), np.float32)
    obs, _ = env.reset(seed=seed)
    for i in range(n):
        out[i] = obs
        obs, _, term, trunc, _ = env.step(int(rng.integers(2)))
        if term or trunc:
            obs, _ = env.reset(seed=int(rng.integers(2**31)))
    env.close()
    return out


def features64(states: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    W1 = rng.normal(size=(4, 128)) / np.array([1.0, 1.0, 0.1, 1.0])[:, None]  # angle is small: scale it up
    W2 = rng.normal(size=(128, 64)) / np.sqrt(128)
    return np.tanh(np.tanh(states @ W1) @ W2).astype(np.float32)
