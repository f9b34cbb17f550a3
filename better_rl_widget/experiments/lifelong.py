"""Lifelong (continual) runs over a distribution of tasks, with exact evaluation of every task as it goes."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..agents.planning import policy_evaluation, value_iteration
from ..agents.tabular import TabularAgent
from ..envs.tabular import TabularEnv
from . import manifest as mf
from .loop import as_tabular, train_episodes
from .results import Results
from .runner import _check, block_streams, instance_blocks, tidy

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
        if w.shape != (len(self.envs),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be finite and non-negative, one per env, not all zero; got {w.tolist()}")
        self.weights = w / w.sum()

    def __len__(self) -> int:
        return len(self.envs)

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        """Index (or ``size`` indices) of tasks drawn by weight."""
        return rng.choice(len(self.envs), size=size, p=self.weights)


def normalized_performance(env: TabularEnv, policies: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted value of greedy ``policies`` (batch, S) from the start distribution, rescaled so the uniform
    random policy scores 0 and the optimal one 1, clipped to [0, 1] (Continual World's metrics assume a score
    in [0, 1]; exact, so no evaluation noise)."""
    key = ("_norm", gamma)
    cache: dict[Any, Any] = env.__dict__  # kept on the env, so it travels with it (pickles, copies)
    if key not in cache:
        opt = env.initial @ value_iteration(env.P, env.R, gamma).V
        uniform = np.full((env.n_states, env.n_actions), 1.0 / env.n_actions)
        rand = env.initial @ policy_evaluation(env.P, env.R, uniform, gamma)
        cache[key] = (rand, opt)
    rand, opt = cache[key]
    J = policy_evaluation(env.P, env.R, policies, gamma) @ env.initial
    if opt - rand < 1e-12:
        return np.ones(len(policies))
    return np.clip((J - rand) / (opt - rand), 0.0, 1.0)


def lifelong_job(distribution: MDPDistribution, agent: TabularAgent, sequence: np.ndarray,
                 ss: np.random.SeedSequence, instances: int, episodes: int, steps: int, reset: str,
                 eval_gamma: float, eval_every: int, reset_at_terminal: bool,
                 tick: Callable[[], object] | None = None) -> dict:
    """One agent (or one block of its instances) through the whole task sequence: the unit both backends run.
    Returns per-task (returns, lengths), evaluations [(global_episode, task, (n_tasks, instances))], Q."""
    S, A = distribution.envs[0].n_states, distribution.envs[0].n_actions
    rng = np.random.default_rng(ss)
    agent.reset(S, A, instances, rng)
    runs, evals = [], []
    for k, task_id in enumerate(sequence):
        env = distribution.envs[task_id]
        if k > 0:
            agent.reset(S, A, instances, rng) if reset == "task" else agent.end_task()
        offset = k * episodes

        def after(ep: int, k: int = k, offset: int = offset) -> None:
            if tick is not None:
                tick()
            g = offset + ep
            if (g + 1) % eval_every == 0 or ep == episodes - 1:
                pol = agent.greedy_policy()
                evals.append((g, k, np.stack([normalized_performance(e, pol, eval_gamma)
                                              for e in distribution.envs])))

        runs.append(train_episodes(agent, env, rng, episodes, steps, after_episode=after,
                                   reset_at_terminal=reset_at_terminal))
    return {"runs": runs, "evals": evals, "Q": agent.Q.copy(), "agent": agent}


def run_agents_lifelong(agents: Sequence[TabularAgent], distribution: MDPDistribution, samples: int = 5,
                        episodes: int = 50, steps: int = 100, instances: int = 5, seed: int = 0,
                        reset: str = "keep", eval_gamma: float = 0.95, eval_every: int = 1,
                        sequence: Sequence[int] | np.ndarray | None = None, reset_at_terminal: bool = False,
                        progress: bool = True, backend: str = "local",
                        instance_block: int | None = None) -> Results:
    """Draw ``samples`` tasks from ``distribution`` (one sequence per run, shared by all agents and instances, so
    the curves line up) and train each agent on them in turn, ``episodes`` episodes each.

    ``reset="keep"``: the agent carries its tables from task to task (``agent.end_task()`` in between);
    ``reset="task"``: a fresh agent per task (the single-task reference for forward transfer). Every
    ``eval_every`` episodes the greedy policy is scored exactly on every task of the distribution
    (:func:`normalized_performance`); ``Results.performance`` holds those scores and feeds
    ``better_rl_widget.analysis.continual``. ``sequence``: task indices to train on in this order instead of
    sampling (Continual World's fixed sequences); ``samples`` is then ignored. ``reset_at_terminal``,
    ``backend`` (``"ray"``: one Ray task per agent and block of instances) and ``instance_block``: as in
    :func:`~better_rl_widget.experiments.run_agents_on_mdp`; results never depend on the backend.
    """
    from ..scale.backend import check_backend, run_tasks

    agents = _check(agents, instances, episodes, steps)
    check_backend(backend)
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}; got {reset!r}")
    blocks = instance_blocks(int(instances), instance_block)
    task_ss, *agent_ss = np.random.SeedSequence(seed).spawn(1 + len(agents))
    if sequence is None:
        sequence = distribution.sample(np.random.default_rng(task_ss), size=samples)
    sequence = np.asarray(sequence, dtype=np.int64)
    samples = len(sequence)
    if samples < 1 or eval_every < 1:
        raise ValueError("need at least one task and eval_every >= 1")
    if sequence.min() < 0 or sequence.max() >= len(distribution):
        raise ValueError(f"sequence names tasks outside [0, {len(distribution)})")
    common = (instances, episodes, steps, reset, eval_gamma, eval_every, reset_at_terminal)
    if backend == "local" and len(blocks) == 1:
        bar = tqdm(total=len(agents) * samples * episodes, desc="episodes", disable=not progress, leave=False)
        per_block = [[lifelong_job(distribution, agent, sequence, ss, *common, tick=bar.update)]
                     for agent, ss in zip(agents, agent_ss)]
        bar.close()
    else:
        jobs = [(agent if len(blocks) == 1 else copy.deepcopy(agent), sequence, ss_b, size, *common[1:])
                for agent, ss in zip(agents, agent_ss) for ss_b, (_, size) in zip(block_streams(ss, blocks), blocks)]
        flat = run_tasks(lifelong_job, jobs, shared=(distribution,), backend=backend, desc="agent blocks",
                         progress=progress)
        per_block = [flat[i * len(blocks):(i + 1) * len(blocks)] for i in range(len(agents))]
        if len(blocks) == 1 and backend != "local":  # leave the caller's agents trained, as the local loop does
            for agent, (res,) in zip(agents, per_block):
                agent.__dict__.update(res["agent"].__dict__)
    frames, perf_frames, Q = [], [], {}
    for agent, parts in zip(agents, per_block):
        for k, task_id in enumerate(sequence):
            returns = np.concatenate([p["runs"][k][0] for p in parts])
            lengths = np.concatenate([p["runs"][k][1] for p in parts])
            frame = tidy(agent.name, returns, lengths, task=k, task_id=int(task_id))
            frames.append(frame.assign(global_episode=frame["episode"] + k * episodes))
            for i, (g, _, _) in enumerate(e for e in parts[0]["evals"] if e[1] == k):
                p = np.concatenate([[e for e in part["evals"] if e[1] == k][i][2] for part in parts], axis=1)
                n_t = p.shape[0]  # p: (n_tasks, instances)
                perf_frames.append(pd.DataFrame({
                    "agent": agent.name, "instance": np.tile(np.arange(instances), n_t),
                    "global_episode": g, "task": k, "eval_task_id": np.repeat(np.arange(n_t), instances),
                    "performance": p.ravel()}))
        Q[agent.name] = np.concatenate([p["Q"] for p in parts])
    env_desc = {"envs": [mf.describe(e) for e in distribution.envs], "weights": distribution.weights.tolist(),
                "sequence": sequence.tolist()}
    config = {"samples": samples, "episodes": episodes, "steps": steps, "instances": instances, "reset": reset,
              "eval_gamma": eval_gamma, "eval_every": eval_every, "reset_at_terminal": reset_at_terminal}
    if instance_block is not None:
        config["instance_block"] = int(instance_block)
    return Results(df=pd.concat(frames, ignore_index=True), manifest=mf.make_manifest(
        "run_agents_lifelong", config, seed, env_desc, agents), Q=Q, performance=pd.concat(perf_frames,
                                                                                            ignore_index=True))
