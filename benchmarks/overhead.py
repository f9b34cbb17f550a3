"""P4: the live hook's cost on training. Reference DQN on CartPole, env steps per second with the hook (TD-errors,
Q/V, features and the projection on) against the same training without the hook, in the same run.

Runs alternate (hook, plain, plain, hook, ...) so drifts in machine load hit both sides alike. ``ratio`` is the
median over pairs of (hooked / plain) for the two runs of a pair, which sit next to each other in time; on a
shared machine whose load swings between pairs it is steadier than ``ratio_of_medians`` (also printed).
Target: ratio >= 0.95.

    python benchmarks/overhead.py                 # table
    python benchmarks/overhead.py --json          # one JSON object with "ratio" among its keys
    python benchmarks/overhead.py --profile       # cProfile of the training thread of one hooked run
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


def one_run(steps: int, hooked: bool, projection: str, seed: int, every: int, td: bool = True) -> tuple[float, dict]:
    agent = DQN("CartPole-v1", DQNConfig(buffer_size=steps, learning_starts=min(500, steps // 4)), seed=seed)
    hook = None
    if hooked:
        kw = dict(q_network=agent.q, target_network=agent.q_target, double_dqn=agent.config.double_dqn,
                  n_actions=2) if td else {}
        hook = TrainingHook(BufferWidget(), agent.buffer, every=every, projection=projection, **kw)
    t0 = time.perf_counter()
    agent.learn(steps, callback=None if hook is None else hook.on_step)
    dt = time.perf_counter() - t0
    info: dict = {}
    if hook is not None:
        hook.close()
        info = {"frames_shown": hook.widget.status["frames_shown"], "points": hook.widget.n_points,
                "channels": sorted(hook.worker.frame_state._fields)}
    return steps / dt, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3, help="pairs of (hooked, plain) runs")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--projection", default="auto" if "auto" in PROJECTIONS else "pca")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both sides")
    ap.add_argument("--no-td", action="store_true", help="hook without a q_network (no TD-errors/features)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        one_run(args.steps, True, args.projection, 0, args.every, not args.no_td)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return
    one_run(min(args.steps, 600), True, args.projection, 0, args.every, not args.no_td)  # warm-up (imports, allocator)
    hooked, plain, info = [], [], {}
    for r in range(args.repeats):
        for side in ((True, False) if r % 2 == 0 else (False, True)):
            sps, i = one_run(args.steps, side, args.projection, r, args.every, not args.no_td)
            (hooked if side else plain).append(sps)
            info = i or info
    pairs = [h / p for h, p in zip(hooked, plain, strict=True)]
    ratio = statistics.median(pairs)
    out = {"ratio": round(ratio, 4), "pair_ratios": [round(x, 3) for x in pairs],
           "ratio_of_medians": round(statistics.median(hooked) / statistics.median(plain), 4), "hooked_steps_per_s": round(statistics.median(hooked), 1),
           "plain_steps_per_s": round(statistics.median(plain), 1), "hooked_runs": [round(x, 1) for x in hooked],
           "plain_runs": [round(x, 1) for x in plain], "steps": args.steps, "repeats": args.repeats,
           "every": args.every, "projection": args.projection, "td_errors": not args.no_td, "target": 0.95, **info}
    if args.json:
        print(json.dumps(out))
        return
    print(f"DQN CartPole, {args.steps} steps x {args.repeats} pairs, hook every {args.every}, "
          f"projection {args.projection}, TD-errors {'off' if args.no_td else 'on'}")
    print(f"  without hook: {out['plain_steps_per_s']:8.1f} steps/s  {out['plain_runs']}")
    print(f"  with hook:    {out['hooked_steps_per_s']:8.1f} steps/s  {out['hooked_runs']}")
    print(f"  pair ratios:  {out['pair_ratios']}")
    print(f"  ratio:        {ratio:.3f}  median of pair ratios (target >= 0.95); ratio of medians "
          f"{out['ratio_of_medians']:.3f}")


if __name__ == "__main__":
    main()
