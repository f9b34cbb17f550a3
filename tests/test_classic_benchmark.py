"""benchmarks/classic.py: our side runs offline and reports what the comparison needs (simple_rl's side needs the
network to install simple-rl 0.811, so it runs only from the command line)."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("classic_bench", REPO / "benchmarks" / "classic.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_our_side_of_the_benchmark():
    bench = _load()
    r = bench.run_ours(instances=4, episodes=60, steps=50, seed=0, tail=10)
    assert set(r) == {"seconds", "transitions", "final_return"}
    assert r["transitions"] > 60 * 4
    assert r["final_return"] > 0.8      # Q-learning reaches the goal (1.0) and mostly avoids the lava by then
    assert "simple-rl==0.811" in bench.SIMPLE_RL
    assert "time.clock = time.perf_counter" in bench.DRIVER
