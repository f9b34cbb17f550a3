"""The interpretability panels' cost on training. Reference DQN on CartPole with the live hook (TD-errors, Q/V,
features, projection), env steps per second with ``widget.enable_interpret(hook)`` on against the same hooked
training without it, in the same run. Runs alternate (panels, none, none, panels, ...) so drifts in machine load
hit both sides alike; ``ratio`` is the median over neighbouring pairs of (with panels / without). On a shared,
loaded machine that ratio swings either way; ``cpu_per_refresh_s`` (the panels thread's own CPU time per refresh)
and ``core_fraction`` (that CPU time over the run's wall time) measure the panels' cost directly.

    python benchmarks/interpret_overhead.py --steps 8000 --pairs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.agents.dqn import DQN, DQNConfig


def one_run(steps: int, panels: bool, seed: int, every_s: float, worker: str = "auto") -> tuple[float, int, float]:
    agent = DQN("CartPole-v1", DQNConfig(buffer_size=steps, learning_starts=min(500, steps // 4)), seed=seed)
    widget = BufferWidget()
    hook = TrainingHook(widget, agent.buffer, q_network=agent.q, target_network=agent.q_target,
                        double_dqn=agent.config.double_dqn, n_actions=2, worker=worker)
    svc = widget.enable_interpret(hook, every_s=every_s) if panels else None
    t0 = time.perf_counter()
    agent.learn(steps, callback=hook.on_step)
    dt = time.perf_counter() - t0
    refreshes, cpu = (svc.refreshes, svc.cpu_s) if svc is not None else (0, 0.0)
    if svc is not None:
        svc.close()
    hook.close()
    return steps / dt, refreshes, cpu / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8_000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--every-s", type=float, default=5.0)
    ap.add_argument("--worker", default="auto", choices=["auto", "thread", "process"],
                    help="the hook's worker (a short run with the process may end before its first frame)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ratios, with_p, without, refreshes, cpu_per, core = [], [], [], [], [], []
    for i in range(args.pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        res = {}
        for panels in order:
            res[panels] = one_run(args.steps, panels, seed=i, every_s=args.every_s, worker=args.worker)
        with_p.append(res[True][0])
        without.append(res[False][0])
        refreshes.append(res[True][1])
        core.append(res[True][2])
        cpu_per.append(res[True][2] * args.steps / res[True][0] / max(1, res[True][1]))
        ratios.append(res[True][0] / res[False][0])
        if not args.json:
            print(f"pair {i}: with panels {res[True][0]:.0f} steps/s ({res[True][1]} refreshes, "
                  f"{cpu_per[-1]:.2f} s CPU each, {core[-1]:.3f} of a core), without {res[False][0]:.0f} steps/s, "
                  f"ratio {ratios[-1]:.3f}")
    out = {"ratio": statistics.median(ratios), "with_panels_steps_s": statistics.median(with_p),
           "without_steps_s": statistics.median(without), "refreshes": refreshes, "every_s": args.every_s,
           "cpu_per_refresh_s": statistics.median(cpu_per), "core_fraction": statistics.median(core),
           "steps": args.steps}
    print(json.dumps(out) if args.json else
          f"median ratio (with panels / without): {out['ratio']:.3f}; panels thread: "
          f"{out['cpu_per_refresh_s']:.2f} s CPU per refresh, {out['core_fraction']:.3f} of one core")


if __name__ == "__main__":
    main()
