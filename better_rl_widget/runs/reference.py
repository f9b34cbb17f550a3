"""Recorded runs of the reference DQN: the entry point ``better-rl demo`` uses and ``better-rl reproduce`` calls
again with the manifest's config."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..store.manifest import run_manifest
from ..store.reader import Run, open_run
from ..store.seeding import seed_everything

ENTRY_POINT = "better_rl_widget.runs.reference:train_dqn"


def train_dqn(run: str | os.PathLike[str], *, env_id: str = "CartPole-v1", steps: int = 10_000, seed: int = 0,
              dqn: dict[str, Any] | None = None, every: int = 10, projection: str = "auto",
              snapshot_every_s: float = 2.0, buffer_rows: int = 1024, torch_threads: int | None = 1,
              progress: bool = True, widget: Any = None, name: str = "") -> Run:
    """Train the reference DQN with the live hook (TD-errors, Q/V, features) and record the run at ``run``:
    map snapshots, sampled buffer rows, episode returns, losses, the final replay buffer and a manifest from
    which :func:`better_rl_widget.runs.rerun.rerun_and_compare` reruns and compares it. ``dqn``: ``DQNConfig`` fields.
    ``torch_threads``: torch's intra-op threads (recorded; a reduction split over another number of threads can
    round differently, and one thread is also the fastest for a network this small). None leaves it alone."""
    import torch

    from ..agents.dqn import DQN, DQNConfig
    from ..capture.hook import TrainingHook
    from ..widget.buffer_widget import BufferWidget

    config = {"env_id": env_id, "steps": int(steps), "seed": int(seed), "dqn": dict(dqn or {}), "every": every,
              "projection": projection, "snapshot_every_s": snapshot_every_s, "buffer_rows": buffer_rows,
              "torch_threads": torch_threads}
    if torch_threads is not None:
        torch.set_num_threads(int(torch_threads))
    seeds = seed_everything(seed)
    overrides: dict[str, Any] = {k: tuple(v) if k == "hidden" else v for k, v in (dqn or {}).items()}
    cfg = DQNConfig(**overrides)
    agent = DQN(env_id, cfg, seed=seed)  # seeds its env reset, action space, epsilon RNG and replay sampling
    seeds.update(env_reset=seed, action_space=seed, epsilon_rng=seed, replay_sampling=seed, projection=seed)
    manifest = run_manifest(name=name or f"DQN on {env_id}", entry_point=ENTRY_POINT, config=config, seeds=seeds,
                            agent={"class": "better_rl_widget.agents.dqn:DQN", "config": asdict(cfg)})
    hook = TrainingHook(widget if widget is not None else BufferWidget(), agent.buffer, every=every,
                        projection=projection, seed=seed, q_network=agent.q, target_network=agent.q_target,
                        double_dqn=cfg.double_dqn, n_actions=agent.n_actions)
    recorder = hook.record_to(run, manifest=manifest, snapshot_every_s=snapshot_every_s, buffer_rows=buffer_rows,
                              seed=seed)
    bar = tqdm(total=int(steps), desc=f"DQN {env_id}", unit="step", disable=not progress, mininterval=0.5)

    def on_step(step: int) -> None:
        hook.on_step(step)
        if step % 100 == 0:
            bar.update(step - bar.n)

    try:
        hook.log_event("start", 0, env_id=env_id, steps=int(steps))
        agent.learn(int(steps), callback=on_step, log=hook.log_metrics)
        bar.update(agent.steps_done - bar.n)
        n = min(agent.buffer.total_inserted, agent.buffer.capacity)
        slots = np.arange(n)
        final = agent.buffer.read(slots)
        recorder.record_arrays("final_buffer", {"slot": slots.astype(np.uint32), **final})
        params = [p.detach().numpy().ravel() for p in agent.q.parameters()]  # the learned weights, one row
        recorder.record_arrays("final_q_network", {"parameters": np.concatenate(params)[None]})
        hook.log_event("end", agent.steps_done, episodes=len(agent.episode_returns))
    finally:
        bar.close()
        hook.close()
    recorder.writer.update_manifest(result={"steps_done": agent.steps_done,
                                            "episodes": len(agent.episode_returns),
                                            "last_return": agent.episode_returns[-1] if agent.episode_returns
                                            else None})
    return open_run(run)
