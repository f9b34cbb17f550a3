"""Lifelong (continual) runs over a distribution of tasks, with exact evaluation of every task as it goes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..agents.planning import policy_evaluation, value_iteration
from ..agents.tabular import TabularAgent
from . import manifest as mf
from .loop import as_tabular, train_episodes
from .results import Results
from .runner import _check, tidy

RESETS = ("keep", "task")


class MDPDistribution:
    """A weighted set of tabular tasks sharing one state and action space (simple_rl's ``MDPDistribution``)."""

    def __init__(self, envs: Sequence, weights: Sequence[float] | None = None) -> None:
        self.envs = [as_tabular(e) for e in envs]
        if not self.envs:
            raise ValueError("an MDPDistribution needs at least one env")
        shapes = {(e.n_states, e.n_actions) for e in self.envs}
        if len(shapes) != 1:
            raise ValueError(f"all tasks must share (n_states, n_actions) so an agent can carry over; got {shapes}")
        w = np.ones(len(self.envs)) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (len(self.envs),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be non-negative, one per env, not all zero")
        self.weights = w / w.sum()

    def __len__(self) -> int:
        return len(self.envs)

    def sample(self, rng: np.random.Generator, size: int | None = None):
        """Index (or ``size`` indices) of tasks drawn by weight."""
        return rng.choice(len(self.envs), size=size, p=self.weights)


def normalized_performance(env, policies: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted value of greedy ``policies`` (batch, S) from the start distribution, rescaled so the uniform
    random policy scores 0 and the optimal one 1, clipped to [0, 1] (Continual World's metrics assume a score
    in [0, 1]; exact, so no evaluation noise)."""
    key = ("_norm", gamma)
    if key not in env.__dict__:
        opt = env.initial @ value_iteration(env.P, env.R, gamma).V
        uniform = np.full((env.n_states, env.n_actions), 1.0 / env.n_actions)
        rand = env.initial @ policy_evaluation(env.P, env.R, uniform, gamma)
        env.__dict__[key] = (rand, opt)
    rand, opt = env.__dict__[key]
    J = policy_evaluation(env.P, env.R, policies, gamma) @ env.initial
    if opt - rand < 1e-12:
        return np.ones(len(policies))
    return np.clip((J - rand) / (opt - rand), 0.0, 1.0)


def run_agents_lifelong(agents: Sequence[TabularAgent], distribution: MDPDistribution, samples: int = 5,
                        episodes: int = 50, steps: int = 100, instances: int = 5, seed: int = 0,
                        reset: str = "keep", eval_gamma: float = 0.95, eval_every: int = 1,
                        sequence: Sequence[int] | None = None, reset_at_terminal: bool = False,
                        progress: bool = True) -> Results:
    """Draw ``samples`` tasks from ``distribution`` (one sequence per run, shared by all agents and instances, so
    the curves line up) and train each agent on them in turn, ``episodes`` episodes each.

    ``reset="keep"``: the agent carries its tables from task to task (``agent.end_task()`` in between);
    ``reset="task"``: a fresh agent per task (the single-task reference for forward transfer). Every
    ``eval_every`` episodes the greedy policy is scored exactly on every task of the distribution
    (:func:`normalized_performance`); ``Results.performance`` holds those scores and feeds
    ``better_rl_widget.analysis.continual``. ``sequence``: task indices to train on in this order instead of
    sampling (Continual World's fixed sequences); ``samples`` is then ignored. ``reset_at_terminal``: as in
    :func:`~better_rl_widget.experiments.run_agents_on_mdp`.
    """
    agents = _check(agents, instances, episodes, steps)
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}; got {reset!r}")
    task_ss, *agent_ss = np.random.SeedSequence(seed).spawn(1 + len(agents))
    if sequence is None:
        sequence = distribution.sample(np.random.default_rng(task_ss), size=samples)
    sequence = np.asarray(sequence, dtype=np.int64)
    samples = len(sequence)
    if samples < 1 or eval_every < 1:
        raise ValueError("need at least one task and eval_every >= 1")
    if sequence.min() < 0 or sequence.max() >= len(distribution):
        raise ValueError(f"sequence names tasks outside [0, {len(distribution)})")
    S, A = distribution.envs[0].n_states, distribution.envs[0].n_actions
    frames, perf_frames, Q = [], [], {}
    bar = tqdm(total=len(agents) * samples * episodes, desc="episodes", disable=not progress, leave=False)
    for agent, ss in zip(agents, agent_ss):
        rng = np.random.default_rng(ss)
        agent.reset(S, A, instances, rng)
        for k, task_id in enumerate(sequence):
            env = distribution.envs[task_id]
            if k > 0:
                agent.reset(S, A, instances, rng) if reset == "task" else agent.end_task()
            offset = k * episodes
            evals: list[tuple[int, np.ndarray]] = []

            def after(ep: int) -> None:
                bar.update(1)
                g = offset + ep
                if (g + 1) % eval_every == 0 or ep == episodes - 1:
                    pol = agent.greedy_policy()
                    evals.append((g, np.stack([normalized_performance(e, pol, eval_gamma)
                                               for e in distribution.envs])))

            returns, lengths = train_episodes(agent, env, rng, episodes, steps, after_episode=after,
                                              reset_at_terminal=reset_at_terminal)
            frames.append(tidy(agent.name, returns, lengths, task=k, task_id=int(task_id)).assign(
                global_episode=lambda d: d["episode"] + offset))
            for g, p in evals:  # p: (n_tasks, instances)
                n_t = p.shape[0]
                perf_frames.append(pd.DataFrame({
                    "agent": agent.name, "instance": np.tile(np.arange(instances), n_t),
                    "global_episode": g, "task": k, "eval_task_id": np.repeat(np.arange(n_t), instances),
                    "performance": p.ravel()}))
        Q[agent.name] = agent.Q.copy()
    bar.close()
    env_desc = {"envs": [mf.describe(e) for e in distribution.envs], "weights": distribution.weights.tolist(),
                "sequence": sequence.tolist()}
    config = {"samples": samples, "episodes": episodes, "steps": steps, "instances": instances, "reset": reset,
              "eval_gamma": eval_gamma, "eval_every": eval_every, "reset_at_terminal": reset_at_terminal}
    return Results(df=pd.concat(frames, ignore_index=True), manifest=mf.make_manifest(
        "run_agents_lifelong", config, seed, env_desc, agents), Q=Q, performance=pd.concat(perf_frames,
                                                                                            ignore_index=True))
