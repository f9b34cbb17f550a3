"""Run records: the store's write throughput (transitions/s), and what recording costs a training run.

Throughput: transitions of CartPole shape (obs, next_obs, action, reward, terminated, truncated, step, episode)
appended as NumPy chunks to a run directory, the same path ``final_buffer`` takes; the index rewrite and fsync
of every chunk are included.

Overhead: the reference DQN on CartPole with the live hook (TD-errors and projection on), with and without
recording (map snapshots every ``--snapshot-every`` s, sampled buffer rows, metrics every episode and every 100
updates). Runs alternate (recorded, plain, plain, recorded, ...); ``overhead_ratio`` is the median over pairs of
(recorded steps/s ÷ plain steps/s): 1.0 means recording is free.

    python benchmarks/store.py            # table
    python benchmarks/store.py --json     # {"transitions_per_s": ..., "overhead_ratio": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.agents.dqn import DQN, DQNConfig
from better_rl_widget.store import RunWriter, open_run


def write_throughput(folder: Path, transitions: int, chunk: int) -> tuple[float, int]:
    rng = np.random.default_rng(0)
    block = {"obs": rng.normal(size=(chunk, 4)).astype(np.float32),
             "next_obs": rng.normal(size=(chunk, 4)).astype(np.float32),
             "action": rng.integers(0, 2, chunk), "reward": np.ones(chunk, np.float32),
             "terminated": rng.random(chunk) < 0.01, "truncated": np.zeros(chunk, bool),
             "step": np.arange(chunk, dtype=np.int64), "episode": np.zeros(chunk, np.int64)}
    w = RunWriter(folder / "throughput")
    t0 = time.perf_counter()
    for _ in range(transitions // chunk):
        w.append_arrays("transitions", block)
    w.close()
    dt = time.perf_counter() - t0
    n = len(open_run(folder / "throughput").array("transitions")["obs"])
    assert n == transitions // chunk * chunk
    return n / dt, n


def one_run(steps: int, record: Path | None, seed: int, snapshot_every_s: float) -> tuple[float, dict]:
    agent = DQN("CartPole-v1", DQNConfig(buffer_size=steps, learning_starts=min(500, steps // 4)), seed=seed)
    hook = TrainingHook(BufferWidget(), agent.buffer, every=10, q_network=agent.q, target_network=agent.q_target,
                        double_dqn=True, n_actions=2)
    rec = hook.record_to(record, snapshot_every_s=snapshot_every_s) if record is not None else None
    t0 = time.perf_counter()
    agent.learn(steps, callback=hook.on_step, log=hook.log_metrics if record is not None else None)
    dt = time.perf_counter() - t0
    hook.close()
    info = {}
    if rec is not None:
        run = open_run(record)
        # CPU seconds the recording spent per second of training: steadier than steps/s on a loaded machine
        info = {"snapshots": len(run.snapshot_info()), "metric_rows": len(run.metrics),
                "run_bytes": int(run.summary()["bytes"].sum()),
                "recorder_cpu_per_train_s": round(rec.cpu_s["recorder"] / dt, 4),
                "worker_snapshot_cpu_per_train_s": round(rec.cpu_s["worker"] / dt, 4)}
    return steps / dt, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transitions", type=int, default=500_000)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3, help="pairs of (recorded, plain) runs")
    ap.add_argument("--snapshot-every", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both sides")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tps, n = write_throughput(folder, args.transitions, args.chunk)
        one_run(min(args.steps, 600), folder / "warmup", 0, args.snapshot_every)  # imports, allocator
        recorded, plain, info = [], [], {}
        for r in range(args.repeats):
            for side in ((True, False) if r % 2 == 0 else (False, True)):
                sps, i = one_run(args.steps, folder / f"run{r}" if side else None, r, args.snapshot_every)
                (recorded if side else plain).append(sps)
                info = i or info
    pairs = [a / b for a, b in zip(recorded, plain, strict=True)]
    out = {"transitions_per_s": round(tps, 1), "transitions_written": n, "chunk": args.chunk,
           "overhead_ratio": round(statistics.median(pairs), 4), "pair_ratios": [round(x, 3) for x in pairs],
           "ratio_of_medians": round(statistics.median(recorded) / statistics.median(plain), 4),
           "recorded_steps_per_s": round(statistics.median(recorded), 1),
           "plain_steps_per_s": round(statistics.median(plain), 1), "steps": args.steps, "repeats": args.repeats,
           "snapshot_every_s": args.snapshot_every, **info}
    if args.json:
        print(json.dumps(out))
        return
    print(f"store write throughput: {out['transitions_per_s']:,.0f} transitions/s "
          f"({n:,} CartPole transitions in chunks of {args.chunk:,})")
    print(f"recording overhead: recorded/plain training steps/s = {out['overhead_ratio']:.3f} "
          f"(median of pairs {out['pair_ratios']}; ratio of medians {out['ratio_of_medians']}: "
          f"{out['recorded_steps_per_s']} vs {out['plain_steps_per_s']} steps/s, both with the live hook)")
    print(f"one recorded run of {args.steps} steps: {info}")


if __name__ == "__main__":
    main()
