"""The interpretability panels' cost on training. Reference DQN on CartPole with the live hook (TD-errors, Q/V,
features, projection), env steps per second with ``widget.enable_interpret(hook)`` on against the same hooked
training without it, in the same run. Runs alternate (panels, none, none, panels, ...) so drifts in machine load
hit both sides alike; ``ratio`` is the median over neighbouring pairs of (with panels / without).

    python benchmarks/interpret_overhead.py --steps 8000 --pairs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.agents.dqn import DQN, DQNConfig


def one_run(steps: int, panels: bool, seed: int, every_s: float) -> tuple[float, int]:
    agent = DQN("CartPole-v1", DQNConfig(buffer_size=steps, learning_starts=min(500, steps // 4)), seed=seed)
    widget = BufferWidget()
    hook = TrainingHook(widget, agent.buffer, q_network=agent.q, target_network=agent.q_target,
                        double_dqn=agent.config.double_dqn, n_actions=2)
    svc = widget.enable_interpret(hook, every_s=every_s) if panels else None
    t0 = time.perf_counter()
    agent.learn(steps, callback=hook.on_step)
    dt = time.perf_counter() - t0
    refreshes = svc.refreshes if svc is not None else 0
    if svc is not None:
        svc.close()
    hook.close()
    return steps / dt, refreshes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8_000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--every-s", type=float, default=5.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ratios, with_p, without, refreshes = [], [], [], []
    for i in range(args.pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        res = {}
        for panels in order:
            res[panels] = one_run(args.steps, panels, seed=i, every_s=args.every_s)
        with_p.append(res[True][0])
        without.append(res[False][0])
        refreshes.append(res[True][1])
        ratios.append(res[True][0] / res[False][0])
        if not args.json:
            print(f"pair {i}: with panels {res[True][0]:.0f} steps/s ({res[True][1]} refreshes), "
                  f"without {res[False][0]:.0f} steps/s, ratio {ratios[-1]:.3f}")
    out = {"ratio": statistics.median(ratios), "with_panels_steps_s": statistics.median(with_p),
           "without_steps_s": statistics.median(without), "refreshes": refreshes, "every_s": args.every_s,
           "steps": args.steps}
    print(json.dumps(out) if args.json else f"median ratio (with panels / without): {out['ratio']:.3f}")


if __name__ == "__main__":
    main()
