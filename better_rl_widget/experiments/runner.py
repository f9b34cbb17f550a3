"""``run_agents_on_mdp``: simple_rl's experiment, seeded, batched over instances, with a results folder."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..agents.tabular import TabularAgent
from . import manifest as mf
from .loop import as_tabular, train_episodes
from .results import Results

log = logging.getLogger("better_rl_widget")
EpisodeCallback = Callable[[TabularAgent, int, dict], None]


def guarded(callback: EpisodeCallback | None) -> EpisodeCallback | None:
    """Wrap a user callback so that its errors are logged once and never stop the run."""
    if callback is None:
        return None
    failed = []

    def call(agent, episode, info):
        if failed:
            return
        try:
            callback(agent, episode, info)
        except Exception as exc:  # a view's bug must not end the experiment
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


def tidy(agent: str, returns: np.ndarray, lengths: np.ndarray, **extra) -> pd.DataFrame:
    B, E = returns.shape
    return pd.DataFrame({"agent": agent, "instance": np.repeat(np.arange(B), E), "episode": np.tile(np.arange(E), B),
                         "return": returns.ravel(), "length": lengths.ravel(), **extra})


def run_agents_on_mdp(agents: Sequence[TabularAgent], env, instances: int = 5, episodes: int = 100,
                      steps: int = 200, seed: int = 0, results_dir: str | Path | None = None,
                      track_visits: bool = False, progress: bool = True,
                      on_episode: EpisodeCallback | None = None, reset_at_terminal: bool = False) -> Results:
    """Train each agent from scratch on ``instances`` independent copies of ``env`` for ``episodes`` episodes of
    at most ``steps`` steps (simple_rl's ``run_agents_on_mdp``).

    ``env``: a ``TabularEnv`` or a registered id such as ``"better_rl_widget/GridWorld-v0"``. Randomness comes
    from ``numpy.random.SeedSequence(seed)``: one child per agent, so adding an agent leaves the others' runs
    unchanged. ``results_dir``: write results.csv + manifest.json there. ``track_visits``: record per-episode
    state visits (for the visitation views). ``on_episode(agent, episode, info)`` is called after every
    episode with ``info = {"returns": (instances,), "visits": (S,) or None}`` (e.g. a ``GridWorldWidget.watch``);
    its errors are logged and the callback is dropped, the run goes on. ``reset_at_terminal``: as simple_rl's,
    a terminal state sends the instance back to the start and the episode continues for all ``steps``.
    """
    agents = _check(agents, instances, episodes, steps)
    if all(hasattr(a, "reset_features") for a in agents) and isinstance(env, str):
        return _run_on_gym(agents, env, instances, episodes, steps, seed, results_dir, progress)
    base = as_tabular(env)
    children = np.random.SeedSequence(seed).spawn(len(agents))
    frames, Q, visits = [], {}, {}
    bar = tqdm(total=len(agents) * episodes, desc="episodes", disable=not progress, leave=False)
    callback = guarded(on_episode)
    for agent, ss in zip(agents, children):
        rng = np.random.default_rng(ss)
        agent.reset(base.n_states, base.n_actions, instances, rng)
        v = np.zeros((episodes, base.n_states), dtype=np.int64) if track_visits else None

        def after(ep: int, agent=agent, v=v) -> None:
            bar.update(1)
            if callback is not None:
                callback(agent, ep, {"returns": returns_view[0][:, ep], "visits": None if v is None else v[ep]})

        returns_view: list[np.ndarray] = []
        returns, lengths = train_episodes(agent, base, rng, episodes, steps, visits=v, after_episode=after,
                                          out=returns_view, reset_at_terminal=reset_at_terminal)
        frames.append(tidy(agent.name, returns, lengths))
        Q[agent.name] = agent.Q.copy()
        if v is not None:
            visits[agent.name] = v
    bar.close()
    manifest = mf.make_manifest("run_agents_on_mdp", {"instances": instances, "episodes": episodes, "steps": steps,
                                                      "track_visits": track_visits,
                                                      "reset_at_terminal": reset_at_terminal},
                                seed, mf.describe(base), agents)
    res = Results(df=pd.concat(frames, ignore_index=True), manifest=manifest, Q=Q, visits=visits)
    if results_dir is not None:
        res.save(results_dir)
    return res


def _run_on_gym(agents, env_id: str, instances, episodes, steps, seed, results_dir, progress) -> Results:
    """Function-approximation agents (``LinearQ``) on a gymnasium id with a Box observation space."""
    import gymnasium as gym

    from .gym_loop import train_episodes_gym

    frames = []
    bar = tqdm(total=len(agents) * episodes, desc="episodes", disable=not progress, leave=False)
    for agent, ss in zip(agents, np.random.SeedSequence(seed).spawn(len(agents))):
        returns, lengths = train_episodes_gym(agent, lambda: gym.make(env_id), instances, np.random.default_rng(ss),
                                              episodes, steps, after_episode=lambda _ep: bar.update(1))
        frames.append(tidy(agent.name, returns, lengths))
    bar.close()
    manifest = mf.make_manifest("run_agents_on_mdp", {"instances": instances, "episodes": episodes, "steps": steps},
                                seed, {"id": env_id}, agents)
    res = Results(df=pd.concat(frames, ignore_index=True), manifest=manifest)
    if results_dir is not None:
        res.save(results_dir)
    return res


def reproduce(folder_or_manifest, progress: bool = False) -> Results:
    """Rerun a saved experiment from its manifest (a results folder, a manifest.json path or the dict)."""
    from .lifelong import MDPDistribution, run_agents_lifelong

    if isinstance(folder_or_manifest, dict):
        m = folder_or_manifest
    else:
        p = Path(folder_or_manifest)
        m = Results.load(p if p.is_dir() else p.parent).manifest
    if m.get("format") != mf.FORMAT:
        raise ValueError(f"not a {mf.FORMAT} manifest (format={m.get('format')!r})")
    agents = [mf.build(d) for d in m["agents"]]
    c = m["config"]
    if m["kind"] == "run_agents_on_mdp":
        env = m["env"]["id"] if "id" in m["env"] else mf.build(m["env"])
        return run_agents_on_mdp(agents, env, c["instances"], c["episodes"], c["steps"], m["seed"],
                                 track_visits=c.get("track_visits", False),
                                 reset_at_terminal=c.get("reset_at_terminal", False), progress=progress)
    if m["kind"] == "run_agents_lifelong":
        dist = MDPDistribution([mf.build(d) for d in m["env"]["envs"]], m["env"]["weights"])
        return run_agents_lifelong(agents, dist, samples=c["samples"], episodes=c["episodes"], steps=c["steps"],
                                   instances=c["instances"], seed=m["seed"], reset=c["reset"],
                                   eval_gamma=c["eval_gamma"], eval_every=c["eval_every"],
                                   sequence=m["env"]["sequence"],
                                   reset_at_terminal=c.get("reset_at_terminal", False), progress=progress)
    raise ValueError(f"unknown experiment kind {m['kind']!r}")
