"""What a break in the training loop costs training on this machine, with no widget at all.

The live map has to take its CPU from somewhere: beside training (a worker thread or process) or between steps.
On the 2-core machine the project is measured on, training lost far more than the map's own time either way.
This isolates the machine's part: the reference DQN on CartPole-v1 (the quickstart's agent, torch at its default
thread count) trains with its step callback breaking the loop for ``ms`` milliseconds at a fixed duty of
``--duty`` (3 % by default), by sleeping or by spinning in Python, against the same training without breaks, in
alternating rounds. If breaks cost only their own length, every ratio is 1 − duty; what is lost beyond that is
what each break costs afterwards (caches, the scheduler, torch's thread team, the host).

    python benchmarks/breaks.py                  # table; 3 rounds of plain / sleep 5, 25, 50 ms / spin 25 ms
    python benchmarks/breaks.py --json --rounds 5 --steps 20000
    python benchmarks/breaks.py --quick --json   # smoke test

Keys: per kind, ``ratio`` (median over rounds of steps/s ÷ the plain run's of the same round), ``round_ratios``,
``breaks_per_s``, ``break_share`` (measured share of time in breaks) and ``lost_per_break_ms`` (training time lost
per break beyond the break itself: (1 − ratio − break_share) ÷ breaks_per_s, in ms).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time

import torch

from better_rl_widget.agents.dqn import DQN, DQNConfig

KINDS = {"plain": None, "sleep5": ("sleep", 0.005), "sleep25": ("sleep", 0.025), "sleep50": ("sleep", 0.05),
         "spin25": ("spin", 0.025)}


def run(kind: str, steps: int, seed: int, duty: float) -> tuple[float, float, float]:
    """(steps/s, share of time in breaks, breaks a second) of one training run."""
    agent = DQN("CartPole-v1", DQNConfig(buffer_size=20_000), seed=seed)
    spec = KINDS[kind]
    state = {"next": time.perf_counter() + 0.5, "in_breaks": 0.0, "breaks": 0}

    def callback(*_args) -> None:
        if spec is None:
            return
        how, length = spec
        now = time.perf_counter()
        if now < state["next"]:
            return
        if how == "sleep":
            time.sleep(length)
        else:  # a break that keeps this core busy: no idle CPU, no sleeping thread
            end = now + length
            while time.perf_counter() < end:
                pass
        t = time.perf_counter()
        state["in_breaks"] += t - now
        state["breaks"] += 1
        state["next"] = t + length / duty - length

    t0 = time.perf_counter()
    agent.learn(steps, callback=callback)
    dt = time.perf_counter() - t0
    return steps / dt, state["in_breaks"] / dt, state["breaks"] / dt


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=15_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duty", type=float, default=0.03, help="share of the time spent in breaks")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma list of {', '.join(KINDS)}")
    ap.add_argument("--quick", action="store_true", help="1 round of 1,500 steps (a smoke test)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.quick:
        a.steps, a.rounds = 1_500, 1
    kinds = [k for k in a.kinds.split(",") if k]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        ap.error(f"unknown kinds {unknown}; choose from {list(KINDS)}")
    if "plain" not in kinds:
        kinds.insert(0, "plain")
    load_before = os.getloadavg()
    t_all = time.perf_counter()
    runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in kinds}
    for r in range(a.rounds):  # the order alternates so drifts in the machine's speed hit every kind alike
        for k in kinds if r % 2 == 0 else kinds[::-1]:
            runs[k].append(run(k, a.steps, r, a.duty))
            gc.collect()
    out: dict = {"steps": a.steps, "rounds": a.rounds, "duty": a.duty, "torch_threads": torch.get_num_threads(),
                 "cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
                 "load_after": [round(x, 2) for x in os.getloadavg()], "wall_s": round(time.perf_counter() - t_all, 1),
                 "kinds": {}}
    for k in kinds:
        ratios = [runs[k][r][0] / runs["plain"][r][0] for r in range(a.rounds)]
        ratio = statistics.median(ratios)
        share = statistics.median(x[1] for x in runs[k])
        per_s = statistics.median(x[2] for x in runs[k])
        out["kinds"][k] = {"ratio": round(ratio, 4), "round_ratios": [round(x, 4) for x in ratios],
                           "steps_per_s": [round(x[0], 1) for x in runs[k]], "break_share": round(share, 4),
                           "breaks_per_s": round(per_s, 3),
                           "lost_per_break_ms": round(1000 * (1 - ratio - share) / per_s, 1) if per_s else None}
    if a.json:
        print(json.dumps(out))
        return
    print(f"{a.rounds} rounds x {a.steps} steps, duty {a.duty:.0%}, torch threads {out['torch_threads']}, "
          f"load {out['load_before']} -> {out['load_after']}")
    print(f"{'kind':9s} {'ratio':>6s}  {'rounds':24s} {'breaks/s':>8s} {'in breaks':>9s} {'lost/break':>10s}")
    for k, v in out["kinds"].items():
        lost = "" if v["lost_per_break_ms"] is None else f"{v['lost_per_break_ms']:.0f} ms"
        print(f"{k:9s} {v['ratio']:6.3f}  {v['round_ratios']!s:24s} {v['breaks_per_s']:8.2f} "
              f"{v['break_share']:9.3f} {lost:>10s}")


if __name__ == "__main__":
    main()
