"""``run_agents_on_mdp``: simple_rl's experiment, seeded, batched over instances, with a results folder."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..agents.tabular import TabularAgent
from ..envs.tabular import TabularEnv
from . import manifest as mf
from .loop import as_tabular, train_episodes
from .results import Results

log = logging.getLogger("better_rl_widget")
EpisodeCallback = Callable[[TabularAgent, int, dict], None]


def guarded(callback: EpisodeCallback | None) -> EpisodeCallback | None:
    """Wrap a user callback so that its errors are logged once and never stop the run."""
    if callback is None:
        return None
    failed: list[Exception] = []

    def call(agent, episode, info):
        if failed:
            return
        try:
            callback(agent, episode, info)
        except Exception as exc:  # noqa: BLE001 - a view's bug must not end the experiment
            failed.append(exc)
            log.warning("on_episode callback failed and is now skipped: %r", exc)

    return call


def _check(agents: Sequence[TabularAgent], instances: int, episodes: int, steps: int) -> list[TabularAgent]:
    agents = list(agents)
    if not agents:
        raise ValueError("no agents to run")
    for a in agents:
        if not isinstance(a, TabularAgent):
            raise TypeError(f"{a!r} is not a better_rl_widget.agents.tabular.TabularAgent")
    names = [a.name for a in agents]
    if len(set(names)) != len(names):
        raise ValueError(f"agent names must be unique (they label the results); got {names}")
    for k, v in (("instances", instances), ("episodes", episodes), ("steps", steps)):
        if int(v) < 1:
            raise ValueError(f"{k} must be >= 1; got {v}")
    return agents


def tidy(agent: str, returns: np.ndarray, lengths: np.ndarray, **extra: Any) -> pd.DataFrame:
    B, E = returns.shape
    return pd.DataFrame({"agent": agent, "instance": np.repeat(np.arange(B), E), "episode": np.tile(np.arange(E), B),
                         "return": returns.ravel(), "length": lengths.ravel(), **extra})


def instance_blocks(instances: int, block: int | None) -> list[tuple[int, int]]:
    """(start, size) of each block of instances; one block when ``block`` is None."""
    if block is None:
        return [(0, instances)]
    if int(block) < 1:
        raise ValueError(f"instance_block must be >= 1 or None; got {block}")
    return [(s, min(int(block), instances - s)) for s in range(0, instances, int(block))]


def block_streams(ss: np.random.SeedSequence, blocks: list[tuple[int, int]]) -> list[np.random.SeedSequence]:
    """One random stream per block: the agent's own stream when there is one block (the historical seeding),
    else one spawned child per block, so a block's results do not depend on where it runs."""
    return [ss] if len(blocks) == 1 else ss.spawn(len(blocks))


def mdp_job(base: TabularEnv, agent: TabularAgent, ss: np.random.SeedSequence, instances: int, episodes: int,
            steps: int, track_visits: bool, reset_at_terminal: bool, after: Callable[[int], object] | None = None,
            live: list | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, TabularAgent]:
    """One agent's instances (or one block of them) from a fresh start: the unit both backends run. ``live``,
    if given, receives [visits, returns] up front so ``after(ep)`` can read the episode just finished."""
    rng = np.random.default_rng(ss)
    agent.reset(base.n_states, base.n_actions, instances, rng)
    v = np.zeros((episodes, base.n_states), dtype=np.int64) if track_visits else None
    if live is not None:
        live.append(v)  # train_episodes appends the returns array next
    returns, lengths = train_episodes(agent, base, rng, episodes, steps, visits=v, after_episode=after, out=live,
                                      reset_at_terminal=reset_at_terminal)
    return returns, lengths, agent.Q.copy(), v, agent


def run_agents_on_mdp(agents: Sequence[TabularAgent], env: TabularEnv | str, instances: int = 5, episodes: int = 100,
                      steps: int = 200, seed: int = 0, results_dir: str | Path | None = None,
                      track_visits: bool = False, progress: bool = True,
                      on_episode: EpisodeCallback | None = None, reset_at_terminal: bool = False,
                      backend: str = "local", instance_block: int | None = None) -> Results:
    """Train each agent from scratch on ``instances`` independent copies of ``env`` for ``episodes`` episodes of
    at most ``steps`` steps (simple_rl's ``run_agents_on_mdp``).

    ``env``: a ``TabularEnv`` or a registered id such as ``"better_rl_widget/GridWorld-v0"``. Randomness comes
    from ``numpy.random.SeedSequence(seed)``: one child per agent, so adding an agent leaves the others' runs
    unchanged. ``results_dir``: write results.csv + manifest.json there. ``track_visits``: record per-episode
    state visits (for the visitation views). ``on_episode(agent, episode, info)`` is called after every
    episode with ``info = {"returns": (instances,), "visits": (S,) or None}`` (e.g. a ``GridWorldWidget.watch``);
    its errors are logged and the callback is dropped, the run goes on. ``reset_at_terminal``: as simple_rl's,
    a terminal state sends the instance back to the start and the episode continues for all ``steps``.

    ``backend="ray"`` runs every (agent, block of instances) as one Ray task (``pip install
    'better_rl_widget[ray]'``); a block's instances still step together as numpy arrays inside its task.
    ``instance_block``: split each agent's instances into blocks of this size, each with its own random stream
    spawned from the agent's (None: one block, the agent's own stream). Results depend on ``seed`` and
    ``instance_block``, never on the backend. ``on_episode`` needs the local backend and one block (it is
    called with the live agent after every episode).
    """
    from ..scale.backend import check_backend, run_tasks

    agents = _check(agents, instances, episodes, steps)
    check_backend(backend)
    blocks = instance_blocks(int(instances), instance_block)
    if on_episode is not None and (backend != "local" or len(blocks) > 1):
        raise ValueError("on_episode is called with the live agent after every episode, so it needs "
                         "backend='local' and instance_block=None")
    if all(hasattr(a, "reset_features") for a in agents) and isinstance(env, str):
        if len(blocks) > 1:
            raise ValueError("instance_block applies to tabular envs; gymnasium-id runs go one task per agent")
        return _run_on_gym(agents, env, instances, episodes, steps, seed, results_dir, progress, backend)
    base = as_tabular(env)
    children = np.random.SeedSequence(seed).spawn(len(agents))
    frames = []
    Q: dict[str, np.ndarray] = {}
    visits: dict[str, np.ndarray] = {}
    if backend == "local" and len(blocks) == 1:
        # in place, with the per-episode bar and callback
        bar = tqdm(total=len(agents) * episodes, desc="episodes", disable=not progress, leave=False)
        callback = guarded(on_episode)
        per_block = []
        for agent, ss in zip(agents, children):
            live: list[Any] = []  # [visits or None, returns] of the run in progress, for the callback

            def after(ep: int, agent: TabularAgent = agent, live: list[Any] = live) -> None:
                bar.update(1)
                if callback is not None:
                    v = live[0]
                    callback(agent, ep, {"returns": live[1][:, ep], "visits": None if v is None else v[ep]})

            per_block.append([mdp_job(base, agent, ss, instances, episodes, steps, track_visits, reset_at_terminal,
                                      after, live)])
        bar.close()
    else:
        jobs = [(agent if len(blocks) == 1 else copy.deepcopy(agent), ss_b, size, episodes, steps, track_visits,
                 reset_at_terminal)
                for agent, ss in zip(agents, children) for ss_b, (_, size) in zip(block_streams(ss, blocks), blocks)]
        flat = run_tasks(mdp_job, jobs, shared=(base,), backend=backend, desc="agent blocks", progress=progress)
        per_block = [flat[i * len(blocks):(i + 1) * len(blocks)] for i in range(len(agents))]
        if len(blocks) == 1 and backend != "local":  # leave the caller's agents trained, as the local loop does
            for agent, (done,) in zip(agents, per_block):
                agent.__dict__.update(done[4].__dict__)
    for agent, parts in zip(agents, per_block):
        returns = np.concatenate([p[0] for p in parts])
        lengths = np.concatenate([p[1] for p in parts])
        frames.append(tidy(agent.name, returns, lengths))
        Q[agent.name] = np.concatenate([p[2] for p in parts])
        if track_visits:
            visits[agent.name] = np.sum([p[3] for p in parts if p[3] is not None], axis=0)
    config = {"instances": instances, "episodes": episodes, "steps": steps, "track_visits": track_visits,
              "reset_at_terminal": reset_at_terminal}
    if instance_block is not None:
        config["instance_block"] = int(instance_block)
    manifest = mf.make_manifest("run_agents_on_mdp", config, seed, mf.describe(base), agents)
    res = Results(df=pd.concat(frames, ignore_index=True), manifest=manifest, Q=Q, visits=visits)
    if results_dir is not None:
        res.save(results_dir)
    return res


def gym_job(agent: TabularAgent, env_id: str, ss: np.random.SeedSequence, instances: int, episodes: int, steps: int,
            after: Callable[[int], object] | None = None) -> tuple[np.ndarray, np.ndarray]:
    import gymnasium as gym

    from .gym_loop import train_episodes_gym

    return train_episodes_gym(agent, lambda: gym.make(env_id), instances, np.random.default_rng(ss), episodes,
                              steps, after_episode=after)


def _run_on_gym(agents: list[TabularAgent], env_id: str, instances: int, episodes: int, steps: int, seed: int,
                results_dir: str | Path | None, progress: bool, backend: str = "local") -> Results:
    """Function-approximation agents (``LinearQ``) on a gymnasium id with a Box observation space."""
    from ..scale.backend import run_tasks

    children = np.random.SeedSequence(seed).spawn(len(agents))
    if backend == "local":
        bar = tqdm(total=len(agents) * episodes, desc="episodes", disable=not progress, leave=False)
        outs = [gym_job(agent, env_id, ss, instances, episodes, steps, after=lambda _ep: bar.update(1))
                for agent, ss in zip(agents, children)]
        bar.close()
    else:
        outs = run_tasks(gym_job, [(a, env_id, ss, instances, episodes, steps) for a, ss in zip(agents, children)],
                         backend=backend, desc="agents", progress=progress)
    frames = [tidy(agent.name, returns, lengths) for agent, (returns, lengths) in zip(agents, outs)]
    manifest = mf.make_manifest("run_agents_on_mdp", {"instances": instances, "episodes": episodes, "steps": steps},
                                seed, {"id": env_id}, agents)
    res = Results(df=pd.concat(frames, ignore_index=True), manifest=manifest)
    if results_dir is not None:
        res.save(results_dir)
    return res
