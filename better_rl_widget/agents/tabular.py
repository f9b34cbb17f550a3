"""Tabular agents that learn many independent instances at once (one row of every table per instance).

Interface (used by ``better_rl_widget.experiments``): ``reset(n_states, n_actions, batch, rng)`` starts fresh
learners, ``act(rows, states)`` picks actions for the instances ``rows``, ``update(rows, s, a, r, s2,
terminated)`` learns from their transitions, ``end_episode()`` and ``end_task()`` mark boundaries. ``Q`` is the
(batch, S, A) table the views read.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

_Agent = TypeVar("_Agent", bound="TabularAgent")


def argmax_random_ties(q: np.ndarray, rng: np.random.Generator, u: np.ndarray | None = None) -> np.ndarray:
    """Row-wise argmax, breaking ties uniformly at random (a fixed tie order biases early exploration).
    ``u``: uniform draws of ``q``'s shape, if the caller already has them."""
    best = q >= np.maximum.reduce(q, axis=-1, keepdims=True) - 1e-12
    return ((rng.random(q.shape) if u is None else u) * best).argmax(axis=-1)


class TabularAgent:
    """Base class: keeps the constructor call (for manifests) and the bookkeeping every agent shares."""

    name = "agent"
    _init_call: tuple[list[Any], dict[str, Any]]

    def __new__(cls: type[_Agent], *args: Any, **kwargs: Any) -> _Agent:
        obj = super().__new__(cls)
        obj._init_call = (list(args), dict(kwargs))
        return obj

    def reset(self, n_states: int, n_actions: int, batch: int, rng: np.random.Generator) -> None:
        self.n_states, self.n_actions, self.batch, self.rng = n_states, n_actions, batch, rng
        self.episode = 0
        self.Q = np.zeros((batch, n_states, n_actions))
        self._views()

    def _views(self) -> None:
        # Flat views of Q: indexing with one integer array is much cheaper than with two or three.
        self._Qsa = self.Q.reshape(-1, self.n_actions)
        self._Qf = self.Q.reshape(-1)

    def act(self, rows: np.ndarray, states: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update(self, rows: np.ndarray, s: np.ndarray, a: np.ndarray, r: np.ndarray, s2: np.ndarray,
               terminated: np.ndarray) -> None:
        """Learn from a transition of each instance in ``rows`` (default: nothing)."""

    def end_episode(self) -> None:
        self.episode += 1

    def end_task(self) -> None:
        """Called between tasks of a lifelong run when the agent is kept (default: nothing)."""

    def greedy_policy(self) -> np.ndarray:
        """(batch, S) greedy actions (lowest index among ties, so the result is deterministic)."""
        return self.Q.argmax(-1)

    def params(self) -> dict[str, Any]:
        return dict(self._init_call[1])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"


class RandomAgent(TabularAgent):
    """Uniformly random actions."""

    def __init__(self, name: str = "random") -> None:
        self.name = name

    def act(self, rows, states):
        return self.rng.integers(0, self.n_actions, size=len(rows))


class FixedPolicyAgent(TabularAgent):
    """Always plays ``policy[s]`` (e.g. the optimal policy from value iteration, as a reference line)."""

    def __init__(self, policy: ArrayLike, name: str = "fixed") -> None:
        self.policy = np.asarray(policy, dtype=np.int64)
        self.name = name

    def reset(self, n_states, n_actions, batch, rng):
        super().reset(n_states, n_actions, batch, rng)
        if self.policy.shape != (n_states,) or self.policy.min() < 0 or self.policy.max() >= n_actions:
            raise ValueError(f"policy must hold one action in [0, {n_actions}) per state ({n_states} states)")
        self.Q[:, np.arange(n_states), self.policy] = 1.0

    def act(self, rows, states):
        return self.policy[states]

    def params(self):
        return {"policy": self.policy.tolist(), "name": self.name}


class QLearning(TabularAgent):
    """Watkins' Q-learning with ε-greedy (``explore="epsilon"``) or softmax (``explore="softmax"``,
    temperature ``tau``) exploration. ``anneal`` > 0 decays ε (or τ) as ``x / (1 + anneal · episode)``;
    ``alpha_anneal`` > 0 gives each pair the step size ``alpha / (1 + alpha_anneal · n(s, a))`` after n(s, a)
    updates (decaying steps are what make Q-learning converge rather than hover around Q*)."""

    def __init__(self, alpha: float = 0.1, gamma: float = 0.99, epsilon: float = 0.1, explore: str = "epsilon",
                 tau: float = 0.2, anneal: float = 0.0, q_init: float = 0.0, name: str = "Q-learning",
                 alpha_anneal: float = 0.0) -> None:
        if explore not in ("epsilon", "softmax"):
            raise ValueError(f"explore must be 'epsilon' or 'softmax'; got {explore!r}")
        if not 0 < alpha <= 1 or not 0 <= gamma <= 1 or not 0 <= epsilon <= 1:
            raise ValueError(f"need 0 < alpha <= 1, 0 <= gamma <= 1, 0 <= epsilon <= 1; got {alpha}, {gamma}, "
                             f"{epsilon}")
        self.alpha, self.gamma, self.epsilon, self.explore = alpha, gamma, epsilon, explore
        self.tau, self.anneal, self.q_init, self.name = tau, anneal, q_init, name
        self.alpha_anneal = alpha_anneal

    def reset(self, n_states, n_actions, batch, rng):
        super().reset(n_states, n_actions, batch, rng)
        self.Q[:] = self.q_init
        self._visits = np.zeros(self.Q.size) if self.alpha_anneal > 0 else None

    def _alpha(self, i: np.ndarray) -> float | np.ndarray:
        if self._visits is None:
            return self.alpha
        self._visits[i] += 1
        return self.alpha / (1.0 + self.alpha_anneal * (self._visits[i] - 1))

    def _decay(self, x: float) -> float:
        return x / (1.0 + self.anneal * self.episode)

    def act(self, rows, states):
        A = self.n_actions
        q = self._Qsa[rows * self.n_states + states]
        u = self.rng.random((len(rows), A + 1))
        if self.explore == "softmax":
            z = (q - np.maximum.reduce(q, axis=-1, keepdims=True)) / max(self._decay(self.tau), 1e-8)
            cum = np.cumsum(np.exp(z), -1)
            return (u[:, :1] * cum[:, -1:] < cum).argmax(-1)
        # Ties are broken at random by a 1e-9 jitter (a fixed tie order biases early exploration); exploring
        # rows take the argmax of the uniform draws alone, i.e. a uniformly random action. Five array operations
        # per step instead of ten: this loop is the runner's hot path.
        ties = u[:, :A]
        score = np.where((u[:, A] < self._decay(self.epsilon))[:, None], ties, q + 1e-9 * ties)
        return score.argmax(-1)

    def update(self, rows, s, a, r, s2, terminated):
        base = rows * self.n_states
        nxt = np.maximum.reduce(self._Qsa[base + s2], axis=-1) * ~terminated
        i = (base + s) * self.n_actions + a
        self._Qf[i] += self._alpha(i) * (r + self.gamma * nxt - self._Qf[i])


class DoubleQLearning(QLearning):
    """van Hasselt (2010)'s double Q-learning: two tables, each updated toward the other's value of its own
    greedy action, which removes Q-learning's maximisation bias. Acts on their sum."""

    def __init__(self, alpha: float = 0.1, gamma: float = 0.99, epsilon: float = 0.1, explore: str = "epsilon",
                 tau: float = 0.2, anneal: float = 0.0, q_init: float = 0.0, name: str = "double Q-learning",
                 alpha_anneal: float = 0.0):
        super().__init__(alpha, gamma, epsilon, explore, tau, anneal, q_init, name, alpha_anneal)

    def reset(self, n_states, n_actions, batch, rng):
        super().reset(n_states, n_actions, batch, rng)
        self.QA = self.Q.copy()
        self.QB = self.Q.copy()

    def update(self, rows, s, a, r, s2, terminated):
        alpha = self._alpha((rows * self.n_states + s) * self.n_actions + a)
        first = self.rng.random(len(rows)) < 0.5
        for upd, other, m in ((self.QA, self.QB, first), (self.QB, self.QA, ~first)):
            rr, ss, aa, s22 = rows[m], s[m], a[m], s2[m]
            best = upd[rr, s22].argmax(-1)
            target = r[m] + self.gamma * np.where(terminated[m], 0.0, other[rr, s22, best])
            upd[rr, ss, aa] += (alpha[m] if isinstance(alpha, np.ndarray) else alpha) * (target - upd[rr, ss, aa])
        self.Q[rows, s] = (self.QA[rows, s] + self.QB[rows, s]) / 2
