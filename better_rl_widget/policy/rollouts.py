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
    episodes: pd.DataFrame  # one row per episode: checkpoint, step, label, file, episode, seed, return, length, gamma
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


def _batch_act(act: Any, n: int) -> Any:
    """obs batch → n actions: one batched call when the agent takes batches (SB3 does), else one call per env."""
    state: dict[str, bool] = {}

    def batch(obs: np.ndarray) -> np.ndarray:
        if state.get("batched", True):
            try:
                a = np.asarray(act(obs))
                if a.ndim >= 1 and a.shape[0] == n:
                    state["batched"] = True
                    return a
            except Exception:  # noqa: BLE001 - a single-observation agent: fall back below
                pass
            state["batched"] = False
        return np.stack([np.asarray(act(o)) for o in obs])

    return batch


def _episodes_vectorised(vec: gym.vector.SyncVectorEnv, act: Any, agent: Any, single: gym.Env, *, n: int, seed: int,
                         max_steps: int, discrete: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` seeded episodes in lockstep (episode i starts from reset(seed=seed+i), as the sequential loop does);
    each env's data stops at its first terminated/truncated step."""
    seeds: list[int | None] = [seed + i for i in range(n)]
    obs, _ = vec.reset(seed=seeds)
    step_act = _batch_act(act, n)
    alive = np.ones(n, bool)
    O: list[list[np.ndarray]] = [[] for _ in range(n)]  # noqa: E741 - observations, beside A and R
    A: list[list[np.ndarray]] = [[] for _ in range(n)]
    R: list[list[float]] = [[] for _ in range(n)]
    for t in range(max_steps):
        a = step_act(obs)
        if t == 0:
            _check_action_space(agent, single, a[0])
        live = np.flatnonzero(alive)
        for i in live:
            O[i].append(np.asarray(obs[i], np.float32).ravel())
            A[i].append(np.atleast_1d(a[i]).astype(np.float32).ravel())
        obs, r, term, trunc, _ = vec.step(a.astype(np.int64) if discrete else a)
        for i in live:
            R[i].append(float(r[i]))
            if term[i] or trunc[i]:
                alive[i] = False
        if not alive.any():
            break
    return [(np.stack(O[i]), np.stack(A[i]), np.asarray(R[i])) for i in range(n)]


def _episodes_sequential(env: gym.Env, act: Any, agent: Any, *, n: int, seed: int, max_steps: int,
                         discrete: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for ep in range(n):
        obs, _ = env.reset(seed=seed + ep)
        env.action_space.seed(seed + ep)
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
        out.append((np.stack(obs_l), np.stack(act_l), np.asarray(rew_l)))
    return out


def _envs(env_name: str, episodes: int, env_kwargs: dict | None) -> tuple[gym.Env, gym.vector.SyncVectorEnv | None]:
    env = make_env(env_name, **(env_kwargs or {}))
    # Box observations: all episodes of a checkpoint step together in a vector env (batched predict where the agent
    # takes batches); other spaces (Dict, Tuple) go one episode at a time and are flattened.
    vec = None
    if isinstance(env.observation_space, gym.spaces.Box) and episodes > 1:
        vec = gym.vector.SyncVectorEnv([lambda: make_env(env_name, **(env_kwargs or {})) for _ in range(episodes)])
    return env, vec


def rollout_checkpoint(ci: int, ckpt: Checkpoint, agent_class: Any, env_name: str, episodes: int, seed: int,
                       max_steps: int, env_kwargs: dict | None = None, trust: bool = False,
                       envs: tuple | None = None) -> dict:
    """All episodes of one checkpoint: the unit both backends run. Returns its rows, or ``{"failed": why}``
    (one bad checkpoint must not stop the others). ``envs``: (env, vector env) to reuse; made here if None.
    ``trust``: load with the agent class's own ``load`` even where that can run code from the file (SB3)."""
    own = envs is None
    env, vec = _envs(env_name, episodes, env_kwargs) if envs is None else envs
    try:
        discrete = isinstance(env.action_space, gym.spaces.Discrete)
        agent = load_agent(agent_class, str(ckpt.path), trust)
        act = action_fn(agent)
        values = value_fn(agent)
        gamma = _gamma_of(agent)
        if vec is not None:
            eps = _episodes_vectorised(vec, act, agent, env, n=episodes, seed=seed, max_steps=max_steps,
                                       discrete=discrete)
        else:
            eps = _episodes_sequential(env, act, agent, n=episodes, seed=seed, max_steps=max_steps,
                                       discrete=discrete)
        ep_rows, step_rows, obs_chunks, act_chunks = [], [], [], []
        for ep, (O, acts, rewards) in enumerate(eps):  # noqa: E741 - an episode's observations
            v = np.full(len(O), np.nan)
            if values is not None:
                try:
                    v = values(O)
                except Exception as exc:  # noqa: BLE001 - the actions rolled out: keep them, without values
                    log.warning("better_rl_widget: %s: no value estimates (%s: %s); the value column is NaN",
                                ckpt.path.name, type(exc).__name__, exc)
                    values = None
            step_rows.append(pd.DataFrame({
                "checkpoint": ci, "episode": ep, "t": np.arange(len(O)),
                "action": [row[0] if discrete else row.tolist() for row in acts],
                "reward": rewards, "return_to_go": _discounted_to_go(rewards, gamma), "value": v}))
            obs_chunks.append(O)
            act_chunks.append(acts)
            ep_rows.append({"checkpoint": ci, "step": ckpt.step, "label": ckpt.label, "file": ckpt.path.name,
                            "episode": ep, "seed": seed + ep, "return": float(rewards.sum()),
                            "length": len(rewards), "gamma": gamma})
        return {"episodes": ep_rows, "steps": step_rows, "obs": obs_chunks, "actions": act_chunks,
                "discrete": discrete}
    except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not stop the others
        return {"failed": f"{type(exc).__name__}: {exc}"}
    finally:
        if own:
            env.close()
            if vec is not None:
                vec.close()


def rollout_all(checkpoints: list[Checkpoint], agent_class: Any, env_name: str, *, episodes: int, seed: int,
                max_steps: int, progress: bool = True, env_kwargs: dict | None = None,
                backend: str = "local", trust: bool = False) -> Rollouts:
    """Roll out every checkpoint. ``backend="ray"``: one Ray task per checkpoint (each makes its own envs; the
    checkpoint files must be readable where the task runs); the same seeds give the same rows as locally."""
    ep_rows: list[dict] = []
    step_rows: list[pd.DataFrame] = []
    obs_chunks: list[np.ndarray] = []
    act_chunks: list[np.ndarray] = []
    failed: dict[str, str] = {}
    args = (agent_class, env_name, episodes, seed, max_steps, env_kwargs, trust)
    if backend == "local":
        env, vec = _envs(env_name, episodes, env_kwargs)
        discrete = isinstance(env.action_space, gym.spaces.Discrete)
        outs = []
        for ci, ckpt in enumerate(tqdm(checkpoints, desc="checkpoints", disable=not progress, leave=False)):
            outs.append(rollout_checkpoint(ci, ckpt, *args, envs=(env, vec)))
        env.close()
        if vec is not None:
            vec.close()
    else:
        from ..scale.backend import run_tasks

        outs = run_tasks(rollout_checkpoint, [(ci, ckpt, *args) for ci, ckpt in enumerate(checkpoints)],
                         backend=backend, desc="checkpoints", progress=progress)
        discrete = next((o["discrete"] for o in outs if "discrete" in o), False)
    for ckpt, out in zip(checkpoints, outs):
        if "failed" in out:
            failed[ckpt.path.name] = out["failed"]
            log.warning("checkpoint %s skipped: %s", ckpt.path.name, out["failed"])
            continue
        ep_rows += out["episodes"]
        step_rows += out["steps"]
        obs_chunks += out["obs"]
        act_chunks += out["actions"]
    if not ep_rows:
        details = "; ".join(f"{k}: {v}" for k, v in failed.items())
        raise RuntimeError(f"no checkpoint could be rolled out ({details})")
    return Rollouts(pd.DataFrame(ep_rows), pd.concat(step_rows, ignore_index=True), np.concatenate(obs_chunks),
                    np.concatenate(act_chunks), discrete, failed)
