"""P6: the classic-MDP runner against simple_rl 0.811 on the same GridWorld and Q-learning settings, same run.

simple_rl is installed into a throwaway virtual environment in a temporary directory (network needed at benchmark
time only; the package never imports it). It needs an older stack: numpy 1.26 (it predates numpy 2) and a
matplotlib that still builds on it (simple_rl imports matplotlib at import time); Python 3.8+ also lacks the
``time.clock`` its runner calls, so the driver aliases it to ``time.perf_counter`` before importing it.

The setting is simple_rl's README grid: 4×3, goal (4,3), lava (4,2), wall (2,2), slip 0.05 (1-indexed there,
0-indexed here), Q-learning α=0.1, γ=0.95, ε=0.1. simple_rl runs its own core loop
(``run_single_agent_on_mdp`` per instance, without its CSV/plot bookkeeping, which only favours it); returns are
counted by wrapping its ``execute_agent_action``.

    python benchmarks/classic.py                   # table
    python benchmarks/classic.py --json            # speedup, return_ours, return_simple_rl, ...
    python benchmarks/classic.py --venv DIR        # reuse (or create once) the simple_rl venv in DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np

SIMPLE_RL = ["simple-rl==0.811", "numpy==1.26.4", "matplotlib==3.8.4"]

DRIVER = r"""
import json, random, sys, time
time.clock = time.perf_counter          # removed in Python 3.8; simple_rl 0.811 still calls it
import numpy as np
instances, episodes, steps, seed, tail = map(int, sys.argv[1:6])
random.seed(seed); np.random.seed(seed)
from simple_rl.tasks import GridWorldMDP
from simple_rl.agents import QLearningAgent
from simple_rl.run_experiments import run_single_agent_on_mdp
mdp = GridWorldMDP(width=4, height=3, init_loc=(1, 1), goal_locs=[(4, 3)], lava_locs=[(4, 2)], gamma=0.95,
                   walls=[(2, 2)], slip_prob=0.05)
agent = QLearningAgent(actions=mdp.get_actions(), alpha=0.1, gamma=0.95, epsilon=0.1)
returns, n = [], [0]
execute = mdp.execute_agent_action
def counted(action):
    reward, state = execute(action)
    returns[-1][-1] += reward
    n[0] += 1
    return reward, state
mdp.execute_agent_action = counted
reset = mdp.reset
def new_episode():
    reset()
    returns[-1].append(0.0)
mdp.reset = new_episode
t0 = time.perf_counter()
for _ in range(instances):
    returns.append([0.0])
    run_single_agent_on_mdp(agent, mdp, episodes, steps)
    returns[-1].pop()                     # the reset after the last episode
    agent.reset()
    mdp.end_of_instance()
seconds = time.perf_counter() - t0
final = float(np.mean([np.mean(r[-tail:]) for r in returns]))
print(json.dumps({"seconds": seconds, "transitions": n[0], "final_return": final}))
"""


def ensure_simple_rl(folder: Path) -> Path:
    py = folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    if not py.exists():
        venv.create(folder, with_pip=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *SIMPLE_RL], check=True)
    return py


def run_simple_rl(py: Path, instances: int, episodes: int, steps: int, seed: int, tail: int) -> dict:
    out = subprocess.run([str(py), "-c", DRIVER, str(instances), str(episodes), str(steps), str(seed), str(tail)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_ours(instances: int, episodes: int, steps: int, seed: int, tail: int) -> dict:
    from better_rl_widget.agents.tabular import QLearning
    from better_rl_widget.envs import GridWorld
    from better_rl_widget.experiments import run_agents_on_mdp

    env = GridWorld(width=4, height=3, start=(0, 0), goals=[(3, 2)], lava=[(3, 1)], walls=[(1, 1)], slip=0.05)
    t0 = time.perf_counter()
    res = run_agents_on_mdp([QLearning(alpha=0.1, gamma=0.95, epsilon=0.1)], env, instances=instances,
                            episodes=episodes, steps=steps, seed=seed, progress=False)
    seconds = time.perf_counter() - t0
    last = res.df[res.df["episode"] >= episodes - tail]
    return {"seconds": seconds, "transitions": int(res.df["length"].sum()),
            "final_return": float(last.groupby("instance")["return"].mean().mean())}


def compare(py: Path, instances: int, episodes: int, steps: int, seed: int, tail: int) -> dict:
    ours = run_ours(instances, episodes, steps, seed, tail)
    theirs = run_simple_rl(py, instances, episodes, steps, seed, tail)
    us_ours = ours["seconds"] / ours["transitions"] * 1e6
    us_theirs = theirs["seconds"] / theirs["transitions"] * 1e6
    return {"instances": instances, "speedup": theirs["seconds"] / ours["seconds"],
            "speedup_per_transition": us_theirs / us_ours, "seconds_ours": ours["seconds"],
            "seconds_simple_rl": theirs["seconds"], "us_per_transition_ours": us_ours,
            "us_per_transition_simple_rl": us_theirs, "return_ours": ours["final_return"],
            "return_simple_rl": theirs["final_return"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tail", type=int, default=20, help="final return = mean over the last TAIL episodes")
    ap.add_argument("--small", type=int, default=5, help="also compare at this many instances (0: skip)")
    ap.add_argument("--venv", type=Path, default=None, help="keep simple_rl's venv here instead of a temp dir")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="simple_rl_venv_") as tmp:
        py = ensure_simple_rl(a.venv or Path(tmp) / "venv")
        main_run = compare(py, a.instances, a.episodes, a.steps, a.seed, a.tail)
        small = compare(py, a.small, a.episodes, a.steps, a.seed, a.tail) if a.small else None
    result = dict(main_run, small=small, episodes=a.episodes, steps=a.steps)
    if a.json:
        print(json.dumps(result))
        return
    print(f"GridWorld 4×3 (lava, slip 0.05), Q-learning α=0.1 γ=0.95 ε=0.1, {a.episodes} episodes × ≤{a.steps} steps")
    for r in filter(None, (main_run, small)):
        print(f"  {r['instances']:4d} instances: ours {r['seconds_ours']:.2f} s, "
              f"simple_rl {r['seconds_simple_rl']:.2f} s"
              f" → {r['speedup']:.1f}× ({r['speedup_per_transition']:.1f}× per transition); final mean return "
              f"ours {r['return_ours']:.3f}, simple_rl {r['return_simple_rl']:.3f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
