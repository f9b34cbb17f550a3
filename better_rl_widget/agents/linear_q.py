"""Linear Q-learning on tile-coded features, for low-dimensional continuous observations (e.g. MountainCar).

Tile coding (Sutton & Barto 2018, §9.5.4): ``tilings`` offset grids of ``tiles`` cells per dimension over the
observation box; an observation activates one cell per tiling, so Q(s, a) is a sum of ``tilings`` weights.
Written here rather than taken from a library because the only packaged tile coders (Sutton's tiles3 script and
small forks) are unmaintained; the asymmetric offsets follow the book's recommendation (1, 3, 5, ... units).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .tabular import TabularAgent


class TileCoder:
    """Maps (n, d) observations in the box [low, high] to (n, tilings) active feature indices."""

    def __init__(self, low: ArrayLike, high: ArrayLike, tilings: int = 8, tiles: int = 8) -> None:
        self.low = np.asarray(low, dtype=float)
        self.high = np.asarray(high, dtype=float)
        if self.low.shape != self.high.shape or self.low.ndim != 1 or not np.all(np.isfinite(self.high - self.low)):
            raise ValueError("tile coding needs a finite box: low and high of the same 1-D shape")
        if tilings < 1 or tiles < 1:
            raise ValueError("tilings and tiles must be >= 1")
        d = len(self.low)
        self.tilings, self.tiles = tilings, tiles
        # each tiling is shifted by (1, 3, 5, ...) / tilings of a tile width; one extra cell per dimension
        # holds the shifted edge
        self.offsets = (np.arange(tilings)[:, None] * (2 * np.arange(d) + 1)[None, :] % tilings) / tilings
        self.per_tiling = (tiles + 1) ** d
        self.n_features = tilings * self.per_tiling
        self._strides = (tiles + 1) ** np.arange(d)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = (np.asarray(obs, dtype=float) - self.low) / (self.high - self.low) * self.tiles
        x = np.clip(x, 0, self.tiles - 1e-9)
        cells = np.floor(x[:, None, :] + self.offsets[None]).astype(np.int64)   # (n, tilings, d)
        return (cells * self._strides).sum(-1) + np.arange(self.tilings) * self.per_tiling


class LinearQ(TabularAgent):
    """Semi-gradient Q-learning with a linear function over tile-coded features (ε-greedy). The step size is
    ``alpha / tilings`` per weight, so ``alpha`` is the step on Q itself."""

    def __init__(self, alpha: float = 0.5, gamma: float = 1.0, epsilon: float = 0.0, tilings: int = 8,
                 tiles: int = 8, name: str = "linear Q (tiles)") -> None:
        self.alpha, self.gamma, self.epsilon, self.tilings, self.tiles = alpha, gamma, epsilon, tilings, tiles
        self.name = name

    def reset_features(self, low: ArrayLike, high: ArrayLike, n_actions: int, batch: int,
                       rng: np.random.Generator) -> None:
        self.coder = TileCoder(low, high, self.tilings, self.tiles)
        self.n_actions, self.batch, self.rng, self.episode = n_actions, batch, rng, 0
        self.W = np.zeros((batch, self.coder.n_features, n_actions))

    def q(self, rows: np.ndarray, obs: np.ndarray) -> np.ndarray:
        return self.W[rows[:, None], self.coder(obs)].sum(1)     # (n, A)

    def act(self, rows, obs):
        q = self.q(rows, obs)
        u = self.rng.random((len(rows), self.n_actions + 1))
        score = np.where((u[:, -1] < self.epsilon)[:, None], u[:, :-1], q + 1e-9 * u[:, :-1])
        return score.argmax(-1)

    def update(self, rows, s, a, r, s2, terminated):
        feats = self.coder(s)
        nxt = self.q(rows, s2).max(-1) * ~terminated
        err = r + self.gamma * nxt - self.W[rows[:, None], feats, a[:, None]].sum(1)
        # (row, feature) pairs are distinct (rows are distinct, each tiling has its own block), so a plain
        # fancy-index update is exact and much faster than np.add.at
        self.W[rows[:, None], feats, a[:, None]] += (self.alpha / self.tilings) * err[:, None]

    def greedy_policy(self):
        raise NotImplementedError("a linear Q agent has no finite state set; use q(rows, obs)")
