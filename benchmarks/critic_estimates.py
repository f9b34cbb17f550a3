"""What the SAC/TD3 critic estimates cost, in units of the model's own training step, same process, same run.

Trains SB3's SAC and TD3 (default networks) briefly on Pendulum-v1, then times, in CPU seconds of the calling
thread (robust to other jobs on the machine), ``CriticEstimator.compute`` over ``--slots`` buffer slots against
one gradient step of the model (batch 256). The worker re-sweeps old slots at most every 2 s within a 20 ms
budget and computes new rows once a second, so the ratio tells how many training steps' worth of CPU one full
pass over ``--slots`` slots takes.

    python benchmarks/critic_estimates.py            # table
    python benchmarks/critic_estimates.py --json     # {"ratio": {"SAC": ..., "TD3": ...}, ...}
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from stable_baselines3 import SAC, TD3

from better_rl_widget.capture.critic_estimator import CriticEstimator


def measure(cls: type, kind: str, slots: int, repeats: int, warmup_steps: int) -> dict:
    model = cls("MlpPolicy", "Pendulum-v1", buffer_size=max(slots, warmup_steps), learning_starts=100, seed=0,
                device="cpu")
    model.learn(warmup_steps)
    rb = model.replay_buffer
    s = np.arange(min(slots, rb.size()))
    rows = {"obs": rb.observations[s, 0], "next_obs": rb.next_observations[s, 0], "action": rb.actions[s, 0],
            "reward": rb.rewards[s, 0], "terminated": rb.dones[s, 0].astype(bool)}
    est = CriticEstimator(model.policy, kind=kind, gamma=model.gamma, alpha=(lambda: 0.1) if kind == "sac" else None)
    assert est.compute(s, rows) is not None, est.disabled  # snapshot outside the timing
    est_s, train_s = [], []
    for _ in range(repeats):
        t = time.thread_time()
        est.compute(s, rows)
        est_s.append(time.thread_time() - t)
        t = time.thread_time()
        model.train(gradient_steps=1, batch_size=256)
        train_s.append(time.thread_time() - t)
    e, tr = min(est_s), min(train_s)
    return {"slots": len(s), "estimate_ms": e * 1e3, "train_step_ms": tr * 1e3, "ratio": e / tr}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--slots", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup-steps", type=int, default=1100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the worker computes with one thread
    res = {name: measure(cls, kind, args.slots, args.repeats, args.warmup_steps)
           for name, cls, kind in (("SAC", SAC, "sac"), ("TD3", TD3, "td3"))}
    if args.json:
        print(json.dumps({"ratio": {k: v["ratio"] for k, v in res.items()}, "runs": res}))
        return
    for name, r in res.items():
        print(f"{name}: estimates for {r['slots']:,} slots {r['estimate_ms']:.1f} ms CPU; one training step "
              f"(batch 256) {r['train_step_ms']:.1f} ms CPU; ratio {r['ratio']:.2f}")


if __name__ == "__main__":
    main()
