"""The inner loop every runner shares: all instances of one agent step together as numpy arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..agents.tabular import TabularAgent
from ..envs.tabular import TabularEnv


def as_tabular(env: Any) -> TabularEnv:
    """Accept a ``TabularEnv``, a gymnasium wrapper around one, or a registered id."""
    if isinstance(env, str):
        import gymnasium as gym

        from .. import envs as _register  # noqa: F401 - registers the better_rl_widget/ ids

        env = gym.make(env)
    base = getattr(env, "unwrapped", env)
    if not isinstance(base, TabularEnv):
        raise TypeError(f"{type(base).__name__} has no tabular model; the classic runners need a "
                        "better_rl_widget.envs.TabularEnv (or its gymnasium id)")
    # A NaN or inf reward makes every return and Q-value it reaches NaN/inf: refuse it before any run starts.
    for name, table in (("reward", base.reward_sas), ("reward_std", base.reward_std)):
        if table is not None and not np.isfinite(table).all():
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(table))[0])
            raise ValueError(f"{type(base).__name__} has a non-finite {name} ({float(table[idx])!r} for state "
                             f"{idx[0]}, action {idx[1]}); returns and Q-values would be NaN/inf")
    return base


def train_episodes(agent: TabularAgent, env: TabularEnv, rng: np.random.Generator, episodes: int, steps: int,
                   visits: np.ndarray | None = None,
                   after_episode: Callable[[int], object] | None = None,
                   out: list | None = None, reset_at_terminal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Run ``episodes`` episodes of at most ``steps`` steps for all ``agent.batch`` instances.

    Returns (returns, lengths), each (batch, episodes). ``visits`` (episodes, S), if given, accumulates state
    visits summed over instances. An instance whose episode ended waits for the others (it is dropped from
    ``rows``), so instances stay independent. ``out``, if given, receives the returns array up front so
    ``after_episode`` can read the episode just finished. ``reset_at_terminal`` (simple_rl's option): an instance
    that reaches a terminal state goes back to a start state and the episode runs on for all ``steps``.
    """
    B = agent.batch
    returns = np.zeros((B, episodes))
    lengths = np.zeros((B, episodes), dtype=np.int64)
    if out is not None:
        out.append(returns)
    all_rows = np.arange(B)
    for ep in range(episodes):
        s = env.reset_batch(B, rng)
        rows = all_rows[~env.terminal[s]]
        s = s[rows]
        ret = returns[:, ep]
        length = lengths[:, ep]
        length[rows] = steps  # corrected below for the instances whose episode ends sooner
        for t in range(steps):
            if rows.size == 0:
                break
            if visits is not None:
                visits[ep] += np.bincount(s, minlength=env.n_states)
            a = agent.act(rows, s)
            s2, r, term = env.step_batch(s, a, rng)
            agent.update(rows, s, a, r, s2, term)
            ret[rows] += r
            if reset_at_terminal:
                if term.any():
                    s2[term] = env.reset_batch(int(term.sum()), rng)
                s = s2
                continue
            if term.any():
                length[rows[term]] = t + 1
                keep = ~term
                rows, s = rows[keep], s2[keep]
            else:
                s = s2
        agent.end_episode()
        if after_episode is not None:
            after_episode(ep)
    return returns, lengths
