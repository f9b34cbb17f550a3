"""P4: the live hook's cost on training. Reference DQN on CartPole, env steps per second with the hook (TD-errors,
Q/V, features and the projection on) against the same training without the hook, in the same run.

Runs alternate (hook, plain, plain, hook, ...) so drifts in machine load hit both sides alike. ``ratio`` is the
median over pairs of (hooked / plain) for the two runs of a pair, which sit next to each other in time; on a
shared machine whose load swings between pairs it is steadier than ``ratio_of_medians`` (also printed).
Target: ratio >= 0.95.

    python benchmarks/overhead.py                 # table
    python benchmarks/overhead.py --json          # one JSON object with "ratio" among its keys
    python benchmarks/overhead.py --profile       # cProfile of the training thread of one hooked run
    python benchmarks/overhead.py --worker thread,process   # both worker kinds against one plain run per round

With several ``--worker`` kinds each round runs plain and every kind in rotated order; ``ratios`` holds each
kind's median of (kind / plain of the same round) and ``ratio`` the first kind's.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import time

import torch

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.agents.dqn import DQN, DQNConfig
from better_rl_widget.embed import PROJECTIONS


def one_run(steps: int, worker: str | None, projection: str, seed: int, every: int,
            td: bool = True) -> tuple[float, dict]:
    """Steps/s of one training run; ``worker=None`` trains without the hook."""
    agent = DQN("CartPole-v1", DQNConfig(buffer_size=steps, learning_starts=min(500, steps // 4)), seed=seed)
    hook = None
    if worker is not None:
        kw = dict(q_network=agent.q, target_network=agent.q_target, double_dqn=agent.config.double_dqn,
                  n_actions=2) if td else {}
        hook = TrainingHook(BufferWidget(), agent.buffer, every=every, projection=projection, worker=worker, **kw)
    t0 = time.perf_counter()
    agent.learn(steps, callback=None if hook is None else hook.on_step)
    dt = time.perf_counter() - t0
    info: dict = {}
    if hook is not None:
        t1 = time.perf_counter()
        hook.close()
        info = {"frames_shown": hook.widget.status["frames_shown"], "points": hook.widget.n_points,
                "channels": sorted(hook.worker.frame_state._fields), "worker": hook.worker.mode,
                "close_s": round(time.perf_counter() - t1, 2), "errors": len(hook.widget.errors)}
    return steps / dt, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3, help="pairs of (hooked, plain) runs")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--projection", default="auto" if "auto" in PROJECTIONS else "pca")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both sides")
    ap.add_argument("--worker", default="auto", help="worker kind(s), comma-separated: auto, thread, process")
    ap.add_argument("--no-td", action="store_true", help="hook without a q_network (no TD-errors/features)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kinds = args.worker.split(",")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        one_run(args.steps, kinds[0], args.projection, 0, args.every, not args.no_td)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return
    for k in kinds:  # warm-up (imports, allocator)
        one_run(min(args.steps, 600), k, args.projection, 0, args.every, not args.no_td)
    sides: list[str | None] = [*kinds, None]
    runs: dict[str | None, list[float]] = {k: [] for k in sides}
    infos: dict[str, list[dict]] = {k: [] for k in kinds}
    for r in range(args.repeats):
        shift = r % len(sides)  # rotate the order so no side always runs first in a round
        for side in sides[shift:] + sides[:shift]:
            sps, i = one_run(args.steps, side, args.projection, r, args.every, not args.no_td)
            runs[side].append(sps)
            if side is not None:
                infos[side].append(i)
    plain = runs[None]
    pairs = {k: [h / p for h, p in zip(runs[k], plain, strict=True)] for k in kinds}
    ratios = {k: round(statistics.median(v), 4) for k, v in pairs.items()}
    first = kinds[0]
    ratio = ratios[first]
    last = infos[first][-1]
    out = {"ratio": ratio, "pair_ratios": [round(x, 3) for x in pairs[first]],
           "ratio_of_medians": round(statistics.median(runs[first]) / statistics.median(plain), 4),
           "hooked_steps_per_s": round(statistics.median(runs[first]), 1),
           "plain_steps_per_s": round(statistics.median(plain), 1), "hooked_runs": [round(x, 1) for x in runs[first]],
           "plain_runs": [round(x, 1) for x in plain], "steps": args.steps, "repeats": args.repeats,
           "every": args.every, "projection": args.projection, "td_errors": not args.no_td, "target": 0.95,
           "worker": last.get("worker"), "frames_shown": [i.get("frames_shown") for i in infos[first]],
           "close_s": [i.get("close_s") for i in infos[first]], "points": last.get("points"),
           "channels": last.get("channels"), "errors": sum(i.get("errors", 0) for i in infos[first])}
    if len(kinds) > 1:
        out["ratios"] = ratios
        out["pair_ratios_by_worker"] = {k: [round(x, 3) for x in v] for k, v in pairs.items()}
        out["frames_shown_by_worker"] = {k: [i.get("frames_shown") for i in v] for k, v in infos.items()}
        out["runs_by_worker"] = {k: [round(x, 1) for x in runs[k]] for k in kinds}
    if args.json:
        print(json.dumps(out))
        return
    print(f"DQN CartPole, {args.steps} steps x {args.repeats} rounds, hook every {args.every}, "
          f"projection {args.projection}, TD-errors {'off' if args.no_td else 'on'}")
    print(f"  without hook: {out['plain_steps_per_s']:8.1f} steps/s  {out['plain_runs']}")
    for k in kinds:
        print(f"  with hook ({infos[k][-1].get('worker')}): {statistics.median(runs[k]):8.1f} steps/s  "
              f"{[round(x, 1) for x in runs[k]]}  frames shown {[i.get('frames_shown') for i in infos[k]]}")
        print(f"    pair ratios {[round(x, 3) for x in pairs[k]]}  ratio {ratios[k]:.3f} (median of pair ratios; "
              f"target >= 0.95)")


if __name__ == "__main__":
    main()
