"""R-Max (Brafman & Tennenholtz, JMLR 2002): model-based, optimistic in the face of the unknown.

A pair (s, a) is *known* after ``m`` visits; known pairs use the empirical transition and mean reward, unknown
ones are worth ``rmax / (1 - γ)``. The agent acts greedily on the values of that model, replanned (value
iteration, batched over the instances that need it) whenever a pair becomes known.
"""

from __future__ import annotations

import numpy as np

from .planning import value_iteration
from .tabular import TabularAgent, argmax_random_ties


class RMax(TabularAgent):
    def __init__(self, gamma: float = 0.95, m: int = 5, rmax: float = 1.0, name: str = "R-Max") -> None:
        if m < 1:
            raise ValueError(f"m must be >= 1; got {m}")
        self.gamma, self.m, self.rmax, self.name = gamma, m, rmax, name

    def reset(self, n_states, n_actions, batch, rng):
        super().reset(n_states, n_actions, batch, rng)
        self.Q[:] = self.rmax / (1 - self.gamma)
        self.counts = np.zeros((batch, n_states, n_actions), dtype=np.int64)
        self.reward_sum = np.zeros((batch, n_states, n_actions))
        self.next_counts = np.zeros((batch, n_states, n_actions, n_states))
        self.terminal_seen = np.zeros((batch, n_states), dtype=bool)

    def act(self, rows, states):
        return argmax_random_ties(self.Q[rows, states], self.rng)

    def update(self, rows, s, a, r, s2, terminated):
        c = self.counts[rows, s, a]
        learning = c < self.m  # a known pair's model is frozen, as in the paper
        rows_l, s_l, a_l, s2_l = rows[learning], s[learning], a[learning], s2[learning]
        self.counts[rows_l, s_l, a_l] += 1
        self.reward_sum[rows_l, s_l, a_l] += r[learning]
        self.next_counts[rows_l, s_l, a_l, s2_l] += 1
        self.terminal_seen[rows[terminated], s2[terminated]] = True
        became_known = self.counts[rows_l, s_l, a_l] == self.m
        if became_known.any():
            self._plan(np.unique(rows_l[became_known]))

    def _plan(self, rows: np.ndarray) -> None:
        known = self.counts[rows] >= self.m                       # (b, S, A)
        n = np.maximum(self.counts[rows], 1)[..., None]
        P = self.next_counts[rows] / n
        R = self.reward_sum[rows] / n[..., 0]
        # Unknown pairs: a self-loop paying rmax forever, i.e. worth rmax / (1 - γ).
        S = self.n_states
        loop = np.broadcast_to(np.eye(S)[:, None, :], P.shape)
        P = np.where(known[..., None], P, loop)
        R = np.where(known, R, self.rmax)
        # States seen to be terminal are absorbing and pay nothing.
        term = self.terminal_seen[rows]
        P = np.where(term[:, :, None, None], loop, P)
        R = np.where(term[:, :, None], 0.0, R)
        self.Q[rows] = value_iteration(P, R, self.gamma, tol=1e-6, V0=self.Q[rows].max(-1)).Q
