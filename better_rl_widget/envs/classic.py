"""Small classic MDPs: Chain, RandomMDP, multi-armed Bandit, ComboLock, and gymnasium's Taxi as a tabular model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .tabular import TabularEnv


class Chain(TabularEnv):
    """Strens (2000)'s chain: action 0 moves forward (0 reward; ``big_reward`` for staying at the far end),
    action 1 returns to the start paying ``small_reward``. With probability ``slip`` the other action happens."""

    action_names = ("forward", "back")

    def __init__(self, n_states: int = 5, slip: float = 0.2, small_reward: float = 2.0, big_reward: float = 10.0,
                 render_mode: str | None = None) -> None:
        if n_states < 2:
            raise ValueError(f"a chain needs at least 2 states; got {n_states}")
        S = n_states
        self.render_mode = render_mode
        fwd = np.minimum(np.arange(S) + 1, S - 1)
        P = np.zeros((S, 2, S))
        Rsas = np.zeros((S, 2, S))
        for s in range(S):
            for a, p_fwd in ((0, 1 - slip), (1, slip)):
                P[s, a, fwd[s]] += p_fwd
                P[s, a, 0] += 1 - p_fwd
        Rsas[:, :, 0] = small_reward
        Rsas[S - 1, :, S - 1] = big_reward
        initial = np.eye(S)[0]
        self._set_model(P, Rsas, np.zeros(S, bool), initial)


class RandomMDP(TabularEnv):
    """Each (s, a) leads to ``branching`` random successors with Dirichlet(1) probabilities; rewards are
    N(0, 1) per (s, a). The structure comes from ``model_seed`` (fixed), sampling from the env's own seed."""

    def __init__(self, n_states: int = 10, n_actions: int = 3, branching: int = 3, model_seed: int = 0,
                 render_mode: str | None = None) -> None:
        if not 1 <= branching <= n_states:
            raise ValueError(f"branching must be in [1, n_states={n_states}]; got {branching}")
        rng = np.random.default_rng(model_seed)
        self.render_mode = render_mode
        P = np.zeros((n_states, n_actions, n_states))
        for s in range(n_states):
            for a in range(n_actions):
                nxt = rng.choice(n_states, size=branching, replace=False)
                P[s, a, nxt] = rng.dirichlet(np.ones(branching))
        R = rng.normal(size=(n_states, n_actions))
        self._set_model(P, R[:, :, None], np.zeros(n_states, bool), np.eye(n_states)[0])


class Bandit(TabularEnv):
    """A ``k``-armed bandit as a one-step episodic MDP: state 0 pulls, state 1 is terminal. Arm rewards are
    Gaussian with ``means`` (drawn N(0, 1) from ``model_seed`` when not given) and ``reward_std``."""

    def __init__(self, n_arms: int = 10, means: Sequence[float] | None = None, reward_std: float = 1.0,
                 model_seed: int = 0, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.means = (np.random.default_rng(model_seed).normal(size=n_arms) if means is None
                      else np.asarray(means, dtype=float))
        k = len(self.means)
        P = np.zeros((2, k, 2))
        P[:, :, 1] = 1.0
        Rsas = np.zeros((2, k, 2))
        Rsas[0, :, 1] = self.means
        std = np.zeros((2, k))
        std[0] = reward_std
        self._set_model(P, Rsas, np.array([False, True]), np.array([1.0, 0.0]), reward_std=std)


class ComboLock(TabularEnv):
    """A tabular combination lock (after Misra et al., 2020): at level h only the secret action ``code[h]``
    advances; any other action drops into an absorbing dead state. Reaching level ``horizon`` pays 1 and ends
    the episode. Random exploration finds the reward with probability ``n_actions ** -horizon``."""

    def __init__(self, horizon: int = 5, n_actions: int = 4, model_seed: int = 0,
                 render_mode: str | None = None) -> None:
        if horizon < 1 or n_actions < 2:
            raise ValueError("ComboLock needs horizon >= 1 and n_actions >= 2")
        self.render_mode = render_mode
        self.code = np.random.default_rng(model_seed).integers(0, n_actions, size=horizon)
        S = horizon + 2  # levels 0..horizon-1, goal = horizon, dead = horizon + 1
        goal, dead = horizon, horizon + 1
        P = np.zeros((S, n_actions, S))
        P[:, :, dead] = 1.0
        for h in range(horizon):
            P[h, self.code[h], dead] = 0.0
            P[h, self.code[h], h + 1] = 1.0
        Rsas = np.zeros((S, n_actions, S))
        Rsas[:, :, goal] = 1.0
        terminal = np.zeros(S, bool)
        terminal[goal] = True
        self._set_model(P, Rsas, terminal, np.eye(S)[0])


class TabularTaxi(TabularEnv):
    """gymnasium's ``Taxi-v3`` (Dietterich 2000) as tensors: its own transition table, plus one extra absorbing
    state (the last index) that the successful drop-off leads to, so terminality is a property of states."""

    action_names = ("south", "north", "east", "west", "pickup", "dropoff")

    def __init__(self, render_mode: str | None = None) -> None:
        from gymnasium.envs.toy_text.taxi import TaxiEnv

        taxi = TaxiEnv()
        self.render_mode = render_mode
        S0, A = len(taxi.P), len(taxi.P[0])  # Taxi's 500 states and 6 actions
        S = S0 + 1
        P = np.zeros((S, A, S))
        Rsas = np.zeros((S, A, S))
        for s in range(S0):
            for a in range(A):
                for prob, nxt, rew, done in taxi.P[s][a]:
                    to = S0 if done else nxt
                    P[s, a, to] += prob
                    Rsas[s, a, to] = rew
        terminal = np.zeros(S, bool)
        terminal[S0] = True
        initial = np.append(np.asarray(taxi.initial_state_distrib, float), 0.0)
        self._set_model(P, Rsas, terminal, initial / initial.sum())
