"""Delayed Q-learning (Strehl, Li, Wiewiora, Langford & Littman, ICML 2006): PAC-MDP, model-free.

Q starts optimistic at ``rmax / (1 - γ)``. Each (s, a) gathers ``m`` targets ``r + γ max Q(s')``; if their mean
is lower than Q(s, a) by at least ``2 ε1`` the estimate drops to ``mean + ε1``. LEARN flags stop attempts that
can no longer succeed until some Q value changes (the paper's Algorithm 1, vectorised over instances).
"""

from __future__ import annotations

import numpy as np

from .tabular import TabularAgent, argmax_random_ties


class DelayedQLearning(TabularAgent):
    def __init__(self, gamma: float = 0.95, m: int = 5, epsilon1: float = 0.01, rmax: float = 1.0,
                 name: str = "delayed Q-learning") -> None:
        if m < 1:
            raise ValueError(f"m must be >= 1; got {m}")
        self.gamma, self.m, self.epsilon1, self.rmax, self.name = gamma, m, epsilon1, rmax, name

    def reset(self, n_states, n_actions, batch, rng):
        super().reset(n_states, n_actions, batch, rng)
        self.Q[:] = self.rmax / (1 - self.gamma)
        shape = (batch, n_states, n_actions)
        self.U = np.zeros(shape)
        self.count = np.zeros(shape, dtype=np.int64)
        self.attempt_time = np.zeros(shape, dtype=np.int64)
        self.learn = np.ones(shape, dtype=bool)
        self.last_change = np.zeros(batch, dtype=np.int64)
        self.t = np.zeros(batch, dtype=np.int64)

    def act(self, rows, states):
        return argmax_random_ties(self.Q[rows, states], self.rng)

    def update(self, rows, s, a, r, s2, terminated):
        self.t[rows] += 1
        now = self.t[rows]
        learn = self.learn[rows, s, a]
        # LEARN off: switch back on when some Q value changed since this pair's last attempt
        relearn = ~learn & (self.attempt_time[rows, s, a] < self.last_change[rows])
        self.learn[rows[relearn], s[relearn], a[relearn]] = True
        i = np.flatnonzero(learn)
        if i.size == 0:
            return
        rr, ss, aa = rows[i], s[i], a[i]
        target = r[i] + self.gamma * np.where(terminated[i], 0.0, self.Q[rr, s2[i]].max(-1))
        self.U[rr, ss, aa] += target
        self.count[rr, ss, aa] += 1
        full = self.count[rr, ss, aa] >= self.m
        if not full.any():
            return
        rr, ss, aa, tt = rr[full], ss[full], aa[full], now[i][full]
        mean = self.U[rr, ss, aa] / self.m
        success = self.Q[rr, ss, aa] - mean >= 2 * self.epsilon1
        self.Q[rr[success], ss[success], aa[success]] = mean[success] + self.epsilon1
        self.last_change[rr[success]] = tt[success]
        fail = ~success & (self.attempt_time[rr, ss, aa] >= self.last_change[rr])
        self.learn[rr[fail], ss[fail], aa[fail]] = False
        self.attempt_time[rr, ss, aa] = tt
        self.U[rr, ss, aa] = 0.0
        self.count[rr, ss, aa] = 0
