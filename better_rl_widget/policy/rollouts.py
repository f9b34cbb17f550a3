"""Seeded rollouts of each checkpoint: per-episode and per-step tables plus the observations."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .agent_protocol import action_fn, load_agent, value_fn
from .checkpoints import Checkpoint

log = logging.getLogger("better_rl_widget")


@dataclass
class Rollouts:
    episodes: pd.DataFrame  # one row per episode: checkpoint, step, label, episode, seed, return, length
    steps: pd.DataFrame  # one row per env step: checkpoint, episode, t, action, reward, return_to_go, value
    obs: np.ndarray  # float32 (n_steps, d): flattened observations, aligned with ``steps``
    actions: np.ndarray  # (n_steps, a): actions as float rows (discrete: one column)
    discrete: bool
    failed: dict[str, str] = field(default_factory=dict)  # checkpoint file name → why it was skipped


def make_env(env_name: str, **kwargs: Any) -> gym.Env:
    """``gym.make`` with an error that lists close matches for an unknown id."""
    if env_name not in gym.registry:
        close = difflib.get_close_matches(env_name, list(gym.registry), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"gymnasium does not know env_name {env_name!r}{hint}")
    return gym.make(env_name, **kwargs)


def _discounted_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    out = np.empty_like(rewards, dtype=np.float64)
    acc = 0.0
    for i in range(len(rewards) - 1, -1, -1):
        acc = rewards[i] + gamma * acc
        out[i] = acc
    return out


def _gamma_of(agent: Any) -> float:
    for owner in (agent, getattr(agent, "config", None)):
        g = getattr(owner, "gamma", None)
        if isinstance(g, (int, float)) and 0 < g <= 1:
            return float(g)
    return 0.99


def _check_action_space(agent: Any, env: gym.Env, first_action: Any) -> None:
    space = getattr(agent, "action_space", None)
    if isinstance(space, gym.Space) and space != env.action_space:
        raise ValueError(f"the agent's action space {space} does not fit the env's {env.action_space}")
    a = np.asarray(first_action)
    if isinstance(env.action_space, gym.spaces.Discrete):
        a = a.reshape(()) if a.size == 1 else a
    if not env.action_space.contains(a.astype(env.action_space.dtype) if a.dtype.kind in "iuf" else a):
        raise ValueError(f"the agent chose action {first_action!r}, which is not in the env's {env.action_space}")


def rollout_all(checkpoints: list[Checkpoint], agent_class: Any, env_name: str, *, episodes: int, seed: int,
                max_steps: int, progress: bool = True, env_kwargs: dict | None = None) -> Rollouts:
    env = make_env(env_name, **(env_kwargs or {}))
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    ep_rows: list[dict] = []
    step_rows: list[pd.DataFrame] = []
    obs_chunks: list[np.ndarray] = []
    act_chunks: list[np.ndarray] = []
    failed: dict[str, str] = {}
    bar = tqdm(checkpoints, desc="checkpoints", disable=not progress, leave=False)
    for ci, ckpt in enumerate(bar):
        try:
            agent = load_agent(agent_class, str(ckpt.path))
            act = action_fn(agent)
            values = value_fn(agent)
            gamma = _gamma_of(agent)
            for ep in range(episodes):
                ep_seed = seed + ep  # the same start states for every checkpoint: comparable returns
                obs, _ = env.reset(seed=ep_seed)
                env.action_space.seed(ep_seed)
                obs_l, act_l, rew_l = [], [], []
                for t in range(max_steps):
                    a = act(obs)
                    if ep == 0 and t == 0:
                        _check_action_space(agent, env, a)
                    obs_l.append(np.asarray(gym.spaces.flatten(env.observation_space, obs), np.float32))
                    a_arr = np.asarray(a)
                    act_l.append(np.atleast_1d(a_arr).astype(np.float32).ravel())
                    obs, r, term, trunc, _ = env.step(a_arr.item() if discrete else a_arr)
                    rew_l.append(float(r))
                    if term or trunc:
                        break
                rewards = np.asarray(rew_l)
                O = np.stack(obs_l)
                v = values(O) if values is not None else np.full(len(O), np.nan)
                step_rows.append(pd.DataFrame({
                    "checkpoint": ci, "episode": ep, "t": np.arange(len(O)),
                    "action": [row[0] if discrete else row.tolist() for row in act_l],
                    "reward": rewards, "return_to_go": _discounted_to_go(rewards, gamma), "value": v}))
                obs_chunks.append(O)
                act_chunks.append(np.stack(act_l))
                ep_rows.append({"checkpoint": ci, "step": ckpt.step, "label": ckpt.label, "file": ckpt.path.name,
                                "episode": ep, "seed": ep_seed, "return": float(rewards.sum()),
                                "length": len(rewards)})
        except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not stop the others
            failed[ckpt.path.name] = f"{type(exc).__name__}: {exc}"
            log.warning("checkpoint %s skipped: %s", ckpt.path.name, failed[ckpt.path.name])
            # drop partial rows of this checkpoint
            ep_rows = [r for r in ep_rows if r["checkpoint"] != ci]
            keep = [i for i, df in enumerate(step_rows) if not (df["checkpoint"] == ci).any()]
            step_rows = [step_rows[i] for i in keep]
            obs_chunks = [obs_chunks[i] for i in keep]
            act_chunks = [act_chunks[i] for i in keep]
    env.close()
    if not ep_rows:
        details = "; ".join(f"{k}: {v}" for k, v in failed.items())
        raise RuntimeError(f"no checkpoint could be rolled out ({details})")
    return Rollouts(pd.DataFrame(ep_rows), pd.concat(step_rows, ignore_index=True), np.concatenate(obs_chunks),
                    np.concatenate(act_chunks), discrete, failed)
