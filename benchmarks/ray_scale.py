"""P7: N seeds of a classic-MDP experiment on the Ray backend against the local sequential backend, same run; and
the remote-capture path's throughput (workers → sink actor → drain → hook).

The local backend runs the seeds one after another in this process; the Ray backend runs one task per seed on a
local cluster started here with ``--num-cpus`` CPUs. Ray's start-up (``ray.init``) is timed separately and is not
in the ratio; the first Ray call (workers starting, importing the package) and a second, warm call are both
reported. Every seed's results are checked equal between the backends.

    python benchmarks/ray_scale.py                     # table
    python benchmarks/ray_scale.py --json              # speedup_warm, speedup_first, ray_init_s, capture_rows_per_s ...
    python benchmarks/ray_scale.py --seeds 16 --num-cpus 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from better_rl_widget.agents.tabular import QLearning
from better_rl_widget.experiments import run_agents_on_mdp, run_seeds
from better_rl_widget.scale.backend import init_local

ENV = "better_rl_widget/GridWorld-v0"


def experiment_kwargs(a: argparse.Namespace) -> dict:
    return dict(instances=a.instances, episodes=a.episodes, steps=a.steps)


def time_seeds(a: argparse.Namespace, backend: str) -> tuple[float, dict]:
    t = time.perf_counter()
    out = run_seeds(run_agents_on_mdp, [QLearning(gamma=0.95, name="q")], ENV, seeds=range(a.seeds),
                    backend=backend, progress=False, **experiment_kwargs(a))
    return time.perf_counter() - t, out


def capture_throughput(a: argparse.Namespace) -> dict:
    """``--workers`` tasks each push ``--rows`` transitions (``--obs-dim`` float32 observations; 4 = CartPole)
    through one sink into a hook (PCA map). Reported: the sink actor's start, wall time from submit to the last
    row drawn, and the steady rate from the first row in the sink to the last drawn."""
    import ray

    from better_rl_widget import BufferWidget
    from better_rl_widget.remote.capture import RemoteCapture, RemoteRecorder

    @ray.remote
    def push(sink, name: str, n: int, batch: int, dim: int) -> int:
        rec = RemoteRecorder(sink, name, batch_rows=batch)
        rng = np.random.default_rng(0)
        obs = rng.normal(size=(n + 1, dim)).astype(np.float32)
        for i in range(n):
            rec.record(obs[i], i % 2, 1.0, obs[i + 1], i % 200 == 199, False)
        rec.close()
        return n

    widget = BufferWidget()
    cap = RemoteCapture(widget, capacity=a.workers * a.rows, projection="pca", max_fps=4)
    t = time.perf_counter()
    ray.get(cap.sink.stats.remote())  # the sink actor's process is up
    actor_s = time.perf_counter() - t
    t = time.perf_counter()
    cap.watch([push.remote(cap.sink, f"w{i}", a.rows, a.batch_rows, a.obs_dim) for i in range(a.workers)])
    cap.wait(timeout=600)
    done = time.time()
    wall = time.perf_counter() - t
    cap.close()
    n = cap.buffer.total_inserted
    # steady state: from the first row reaching the sink to the last row drawn (worker start-up excluded)
    stream_s = done - min(cap.stats["first_push_s"].values())
    row_bytes = 2 * 4 * a.obs_dim + 8 + 8 + 2 + 8 + 8  # obs + next_obs + action + reward + flags + episode ids
    return {"capture_rows": n, "capture_row_bytes": row_bytes, "capture_actor_start_s": actor_s,
            "capture_wall_s": wall, "capture_stream_s": stream_s,
            "capture_rows_per_s": n / stream_s, "capture_mb_per_s": n * row_bytes / stream_s / 1e6,
            "capture_points": widget.n_points, "capture_dropped": sum(cap.stats.get("dropped", {}).values())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--instances", type=int, default=50)
    p.add_argument("--episodes", type=int, default=1500)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 2)
    p.add_argument("--workers", type=int, default=4, help="capture: remote workers")
    p.add_argument("--rows", type=int, default=5000, help="capture: transitions per worker")
    p.add_argument("--batch-rows", type=int, default=256, help="capture: rows per push")
    p.add_argument("--obs-dim", type=int, default=4, help="capture: float32 values per observation")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # the local cluster's workers inherit this environment: let them import the package from this checkout too
    root = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    import ray

    local_s, local = time_seeds(a, "local")
    t = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="ray-bench-")
    init_local(num_cpus=a.num_cpus, _temp_dir=tmp, log_to_driver=False)  # retried: Ray's raylet has 30 s to start
    init_s = time.perf_counter() - t
    try:
        first_s, remote = time_seeds(a, "ray")
        warm_s, remote2 = time_seeds(a, "ray")
        identical = all(local[s].df.equals(remote[s].df) and local[s].df.equals(remote2[s].df) for s in local)
        cap = capture_throughput(a)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    r = {"seeds": a.seeds, "num_cpus": a.num_cpus, "work_per_seed": experiment_kwargs(a),
         "local_s": local_s, "ray_init_s": init_s, "ray_first_s": first_s, "ray_warm_s": warm_s,
         "speedup_first": local_s / first_s, "speedup_warm": local_s / warm_s,
         "speedup_with_init": local_s / (init_s + first_s), "identical": identical,
         "per_seed_local_s": local_s / a.seeds, **cap}
    if a.json:
        print(json.dumps(r))
        return
    rows = [("local, sequential", local_s, 1.0), ("ray, first call", first_s, r["speedup_first"]),
            ("ray, warm", warm_s, r["speedup_warm"]), ("ray incl. ray.init", init_s + first_s,
                                                         r["speedup_with_init"])]
    print(pd.DataFrame(rows, columns=["backend", "wall_s", "speedup"]).to_string(index=False))
    print(f"{a.seeds} seeds, {a.num_cpus} CPUs; ray.init {init_s:.1f} s; results identical: {identical}")
    print(f"capture: sink actor up in {cap['capture_actor_start_s']:.1f} s; {cap['capture_rows']:,} rows of "
          f"{cap['capture_row_bytes']:,} B from {a.workers} workers in {cap['capture_wall_s']:.2f} s "
          f"({cap['capture_stream_s']:.2f} s from the first row in the sink to the last drawn) = "
          f"{cap['capture_rows_per_s']:,.0f} rows/s ({cap['capture_mb_per_s']:.2f} MB/s), "
          f"{cap['capture_points']:,} points drawn, {cap['capture_dropped']} dropped")


if __name__ == "__main__":
    main()
