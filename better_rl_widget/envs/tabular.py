"""A gymnasium env backed by explicit tabular tensors, so planners and fast batched runners share one model.

``P[s, a, s']`` is the transition tensor and ``R[s, a]`` the expected reward; the reward actually paid may
depend on the next state (``reward_sas[s, a, s']``, e.g. "entering the goal pays 1"). Terminal states are
absorbing with zero reward, which makes discounted value iteration on ``(P, R)`` exact for episodic tasks.
"""

from __future__ import annotations

from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

_Env = TypeVar("_Env", bound="TabularEnv")


class TabularEnv(gym.Env):
    """Finite MDP with a known model. Observations and actions are integers.

    Subclasses call :meth:`_set_model`. ``step_batch`` advances many independent copies at once (the runners in
    ``better_rl_widget.experiments`` use it); ``step`` is the same dynamics for one copy.
    """

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012 - gymnasium.Env declares it as a plain attribute
    action_names: tuple[str, ...] = ()
    _init_call: tuple[list[Any], dict[str, Any]]

    def __new__(cls: type[_Env], *args: Any, **kwargs: Any) -> _Env:
        # Remember the constructor call so experiment manifests can rebuild this exact env.
        obj = super().__new__(cls)
        obj._init_call = (list(args), dict(kwargs))
        return obj

    def _set_model(self, P: np.ndarray, reward_sas: np.ndarray, terminal: np.ndarray, initial: np.ndarray,
                   reward_std: np.ndarray | None = None) -> None:
        P = np.array(P, dtype=np.float64)
        S, A, S2 = P.shape
        if S != S2:
            raise ValueError(f"P must have shape (S, A, S); got {P.shape}")
        reward_sas = np.broadcast_to(np.asarray(reward_sas, dtype=np.float64), P.shape).copy()
        terminal = np.asarray(terminal, dtype=bool)
        # Terminal states: absorbing, nothing paid.
        P[terminal] = 0.0
        for s in np.flatnonzero(terminal):
            P[s, :, s] = 1.0
        reward_sas[terminal] = 0.0
        if not np.allclose(P.sum(-1), 1.0, atol=1e-9) or (P < 0).any():
            raise ValueError("each P[s, a, :] must be a probability distribution")
        initial = np.asarray(initial, dtype=np.float64)
        if initial.shape != (S,) or not np.isclose(initial.sum(), 1.0):
            raise ValueError("initial must be a probability vector over the states")
        self.P, self.reward_sas, self.terminal, self.initial = P, reward_sas, terminal, initial
        self.R = (P * reward_sas).sum(-1)
        self.reward_std = None if reward_std is None else np.broadcast_to(np.asarray(reward_std, float), (S, A))
        cum = np.cumsum(P, axis=-1)
        cum[..., -1] = 1.0  # guard against round-off so a uniform draw in [0, 1) always lands
        self._cumP = cum.reshape(S * A, S)  # flat (s, a) rows: one fancy index per step instead of two
        self._reward_flat = self.reward_sas.reshape(-1)
        self._cum_init = np.cumsum(initial)
        self._cum_init[-1] = 1.0
        self.observation_space = spaces.Discrete(S)
        self.action_space = spaces.Discrete(A)
        self._state = 0

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    # -- batched dynamics -------------------------------------------------------------------------------------
    def reset_batch(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Initial states of ``n`` independent copies."""
        return np.searchsorted(self._cum_init, rng.random(n), side="right").astype(np.int64)

    def step_batch(self, states: np.ndarray, actions: np.ndarray, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance copies in ``states`` by ``actions``: (next_states, rewards, terminated)."""
        sa = states * self.n_actions + actions
        nxt = (rng.random(len(states))[:, None] < self._cumP[sa]).argmax(axis=1)
        r = self._reward_flat[sa * self.n_states + nxt]
        if self.reward_std is not None:
            r = r + rng.normal(size=len(states)) * self.reward_std[states, actions]
        return nxt, r, self.terminal[nxt]

    # -- gymnasium API ----------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._state = int(self.reset_batch(1, self.np_random)[0])
        return self._state, {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        nxt, r, term = self.step_batch(np.array([self._state]), np.array([int(action)]), self.np_random)
        self._state = int(nxt[0])
        return self._state, float(r[0]), bool(term[0]), False, {}

    def render(self) -> str:
        return f"state {self._state}"
