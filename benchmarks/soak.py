"""Soak: 1,000,000 environment steps with the live hook and a run record, memory sampled all the way.

Two phases, one process:

1. ``vector``: CartPole with a minimal DQN learner (epsilon-greedy, an update every 4 steps: a training loop's pace,
   so the map draws frames all along), a
   ``TrainingHook.for_loop`` of 100,000 slots with a small Q-network (so TD-errors are on and the engine runs in its
   worker process, as a user's DQN hook does), recording to a run store (``hook.record_to``) with a metrics row per
   episode. The RSS of the kernel process and of the engine child are sampled every ``--sample-every`` steps.
   Warm-up ends when the buffer is full and 20 % of the steps are done; ``rss_growth_after_warmup_mb`` is the
   kernel + child RSS at the end minus that at the end of warm-up (the child's share is counted even if the child
   was replaced). Target: <= 50 MB.
2. ``image``: 4x84x84 uint8 frame stacks (an Atari DQN's; drawn on read, see benchmarks/memory.py), a 100,000-slot
   buffer, a small CNN Q-network (TD-errors need next observations too), the default worker: the transient peak the
   widget adds (kernel + child VmHWM over the baseline). Before the map was bounded, 10,000 such rows peaked at
   8.4 GB.

At the end, ``released`` says whether ``close()`` let go of everything: the worker threads, the engine child, and
the widget object itself (collected after ``widget.close()``).

    python benchmarks/soak.py --json                  # the full soak (about 15 minutes on 2 cores)
    python benchmarks/soak.py --steps 200000          # shorter
    python benchmarks/soak.py --quick --json          # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import threading
import time
import weakref

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory import SyntheticFrames, child_pid, reset_peak, rss_mb

from better_rl_widget import BufferWidget, TrainingHook

TARGET_GROWTH_MB = 50.0


def _total(hook: TrainingHook) -> tuple[float, float]:
    pid = child_pid(hook)
    return rss_mb(), (rss_mb(pid) if pid else 0.0)


class _Learner:
    """A minimal DQN learner (epsilon-greedy acting, a TD update on 32 recent transitions every ``every`` steps)
    so that the soak runs at a training loop's pace and the map draws frames all along."""

    def __init__(self, q: nn.Module, every: int, size: int = 10_000) -> None:
        self.q, self.every, self.size = q, every, size
        self.opt = torch.optim.Adam(q.parameters(), lr=1e-3)
        self.obs = np.zeros((size, 4), np.float32)
        self.nxt = np.zeros((size, 4), np.float32)
        self.act_ = np.zeros(size, np.int64)
        self.rew = np.zeros(size, np.float32)
        self.term = np.zeros(size, np.float32)
        self.rng = np.random.default_rng(0)

    def act(self, obs: np.ndarray, t: int) -> int:
        if self.every <= 0 or self.rng.random() < max(0.05, 1.0 - t / 50_000):
            return int(self.rng.integers(2))
        with torch.no_grad():
            return int(self.q(torch.as_tensor(obs[None], dtype=torch.float32)).argmax())

    def store(self, obs, a, r, nxt, term, t: int) -> None:
        i = t % self.size
        self.obs[i], self.nxt[i], self.act_[i], self.rew[i], self.term[i] = obs, nxt, a, r, term
        if self.every > 0 and t % self.every == 0 and t >= 1000:
            j = self.rng.integers(0, min(t, self.size), 32)
            o, n = torch.from_numpy(self.obs[j]), torch.from_numpy(self.nxt[j])
            with torch.no_grad():
                target = torch.from_numpy(self.rew[j]) + 0.99 * (1 - torch.from_numpy(self.term[j])) * \
                    self.q(n).max(1).values
            pred = self.q(o).gather(1, torch.from_numpy(self.act_[j])[:, None]).squeeze(1)
            loss = nn.functional.smooth_l1_loss(pred, target)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()


def soak_vector(steps: int, capacity: int, sample_every: int, train_every: int, progress: bool
                ) -> tuple[dict, weakref.ref]:
    torch.manual_seed(0)
    q = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 2))
    env = gym.make("CartPole-v1")
    gc.collect()
    base = rss_mb()
    widget = BufferWidget()
    hook = TrainingHook.for_loop(widget, capacity, q_network=q, n_actions=2)
    store = tempfile.mkdtemp(prefix="soak-run-")
    hook.record_to(store)
    obs, _ = env.reset(seed=0)
    ep_return, episodes = 0.0, 0
    samples: list[dict] = []
    pids: set[int] = set()
    warm_at = max(capacity, steps // 5)
    t0 = time.perf_counter()
    bar = tqdm(total=steps, desc="soak (vector)", disable=not progress, mininterval=5)
    learner = _Learner(q, train_every)
    for t in range(1, steps + 1):
        a = learner.act(obs, t)
        nxt, r, term, trunc, _ = env.step(a)
        learner.store(obs, a, r, nxt, term, t)
        hook.record(obs, a, r, nxt, term, trunc)
        hook.on_step()
        ep_return += r
        obs = nxt
        if term or trunc:
            episodes += 1
            hook.log_metrics(t, episode_return=ep_return)
            ep_return = 0.0
            obs, _ = env.reset()
        if t % sample_every == 0 or t == warm_at:
            kernel, child = _total(hook)
            pid = child_pid(hook)
            if pid:
                pids.add(pid)
            samples.append({"step": t, "kernel_mb": round(kernel - base, 1), "child_mb": round(child, 1)})
            bar.update(t - bar.n)
    bar.close()
    train_s = time.perf_counter() - t0
    hook.flush(120)
    status = widget.status
    warm = next(s for s in samples if s["step"] >= warm_at)
    total = [s["kernel_mb"] + s["child_mb"] for s in samples]
    after = [x for s, x in zip(samples, total) if s["step"] >= warm_at]
    out = {
        "steps": steps, "capacity": capacity, "train_every": train_every, "episodes": episodes,
        "steps_per_s": round(steps / train_s, 1),
        "worker": hook.worker.mode, "child_pids_seen": len(pids), "warmup_steps": warm_at,
        "rss_peak_mb": round(max(total), 1),
        "rss_growth_after_warmup_mb": round(total[-1] - (warm["kernel_mb"] + warm["child_mb"]), 1),
        "rss_range_after_warmup_mb": round(max(after) - min(after), 1),
        "frames_shown": int(status.get("frames_shown", 0)),
        "map_points": int((status.get("map") or {}).get("points", 0)),
        "errors": [e.splitlines()[0][:200] for e in widget.errors],
        "samples": samples,
    }
    hook.close()
    widget.close()  # what a notebook's widget.close() (or closing its output) does
    out["record"] = store
    ref = weakref.ref(widget)
    del widget, hook, q, env
    return out, ref


def soak_image(insertions: int, capacity: int, progress: bool) -> dict:
    torch.manual_seed(0)
    q = nn.Sequential(nn.Conv2d(4, 8, 8, stride=4), nn.ReLU(), nn.Conv2d(8, 16, 4, stride=2), nn.ReLU(),
                      nn.Flatten(), nn.Linear(16 * 9 * 9, 64), nn.ReLU(), nn.Linear(64, 4))
    source = SyntheticFrames(capacity)
    gc.collect()
    reset_peak()
    base = rss_mb()
    widget = BufferWidget()
    hook = TrainingHook(widget, source, q_network=q, n_actions=4)
    peak_child = 0.0
    for i in tqdm(range(insertions), desc="soak (image)", disable=not progress, mininterval=5):
        source.insert()
        hook.on_step()
        if i % 1000 == 0:
            pid = child_pid(hook)
            peak_child = max(peak_child, rss_mb(pid, "VmHWM") if pid else 0.0)
    flushed = hook.flush(300)
    pid = child_pid(hook)
    peak_child = max(peak_child, rss_mb(pid, "VmHWM") if pid else 0.0)
    out = {"insertions": insertions, "capacity": capacity, "obs_shape": [4, 84, 84], "worker": hook.worker.mode,
           "flushed": flushed, "map_points": int((widget.status.get("map") or {}).get("points", 0)),
           "kernel_peak_mb": round(rss_mb(key="VmHWM") - base, 1), "child_peak_mb": round(peak_child, 1),
           "errors": [e.splitlines()[0][:200] for e in widget.errors]}
    out["peak_overhead_mb"] = round(out["kernel_peak_mb"] + out["child_peak_mb"], 1)
    hook.close()
    return out


def _released(widget_ref: weakref.ref, within: float = 30.0) -> dict:
    deadline = time.monotonic() + within
    while True:
        gc.collect()
        threads = [t.name for t in threading.enumerate() if t.name.startswith("better_rl_widget")]
        children = _children()
        collected = widget_ref() is None
        if (not threads and not children and collected) or time.monotonic() > deadline:
            return {"threads_left": threads, "children_left": children, "widget_collected": collected}
        time.sleep(0.2)


def _children() -> list[int]:
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="environment steps (default 1,000,000; --quick 6,000)")
    ap.add_argument("--capacity", type=int, default=None, help="slots (default 100,000; --quick 2,000)")
    ap.add_argument("--image-insertions", type=int, default=None, help="default 30,000; --quick 600; 0: skip")
    ap.add_argument("--sample-every", type=int, default=None, help="steps between RSS samples")
    ap.add_argument("--train-every", type=int, default=4, help="a DQN update every N steps (0: a random policy, "
                                                                   "no updates: fast, few frames)")
    ap.add_argument("--quick", action="store_true", help="smoke test")
    ap.add_argument("--json", action="store_true", help="one JSON object on the last stdout line")
    a = ap.parse_args(argv)
    steps = a.steps or (6_000 if a.quick else 1_000_000)
    capacity = a.capacity or (2_000 if a.quick else 100_000)
    image = a.image_insertions if a.image_insertions is not None else (600 if a.quick else 30_000)
    sample_every = a.sample_every or max(steps // 200, 100)
    load0 = os.getloadavg()[0]
    vec, ref = soak_vector(steps, capacity, sample_every, a.train_every, progress=not a.json)
    img = soak_image(image, 100_000 if not a.quick else 5_000, progress=not a.json) if image else None
    released = _released(ref)
    r = {
        "benchmark": "soak", "steps": vec["steps"], "rss_peak_mb": vec["rss_peak_mb"],
        "rss_growth_after_warmup_mb": vec["rss_growth_after_warmup_mb"], "target_growth_mb": TARGET_GROWTH_MB,
        "meets_target": vec["rss_growth_after_warmup_mb"] <= TARGET_GROWTH_MB,
        "vector": vec, "image": img, "released": released,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
                    "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2)},
    }
    if a.json:
        print(json.dumps(r))
        return
    print(f"{vec['steps']:,} steps at {vec['steps_per_s']:,} steps/s, worker {vec['worker']}, "
          f"{vec['frames_shown']} frames, {vec['map_points']} points drawn")
    print(f"RSS (kernel + child over the baseline): peak {vec['rss_peak_mb']} MB, growth after warm-up "
          f"{vec['rss_growth_after_warmup_mb']} MB (target <= {TARGET_GROWTH_MB:g}), range after warm-up "
          f"{vec['rss_range_after_warmup_mb']} MB")
    if img:
        print(f"image rows: {img['insertions']:,} insertions of 4x84x84 uint8, peak overhead "
              f"{img['peak_overhead_mb']} MB (kernel {img['kernel_peak_mb']}, child {img['child_peak_mb']})")
    print(f"released on close: {released}")


if __name__ == "__main__":
    main()
