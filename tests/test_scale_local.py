"""Scale-out parts that need no Ray cluster: the default path never imports Ray, a clear error names the extra,
the sink's drop-oldest bound, and the drain side's global episode ids."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from better_rl_widget.remote.sink import ROW_FIELDS, TransitionSink

LOCAL_RUN = """
import sys
import better_rl_widget
from better_rl_widget.agents.tabular import QLearning
from better_rl_widget.experiments import MDPDistribution, run_agents_lifelong, run_agents_on_mdp
from better_rl_widget.experiments.loop import as_tabular
from better_rl_widget.policy_visualizer import PolicyVisualizer
run_agents_on_mdp([QLearning()], "better_rl_widget/GridWorld-v0", instances=2, episodes=2, steps=5, progress=False,
                  instance_block=1)
env = as_tabular("better_rl_widget/GridWorld-v0")
run_agents_lifelong([QLearning()], MDPDistribution([env]), samples=1, episodes=2, steps=5, instances=2,
                    progress=False)
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)


def test_the_local_path_never_imports_ray():
    p = _run(LOCAL_RUN + "print('ray' in sys.modules)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_backend_ray_without_ray_names_the_extra():
    p = _run("import sys; sys.modules['ray'] = None\n" + LOCAL_RUN.replace("progress=False,\n", "progress=False, "
             "backend='ray',\n", 1))
    assert p.returncode != 0
    assert "pip install 'better_rl_widget[ray]'" in p.stderr


def test_unknown_backend_is_a_clear_error():
    from better_rl_widget.agents.tabular import QLearning
    from better_rl_widget.experiments import run_agents_on_mdp

    with pytest.raises(ValueError, match="backend must be one of"):
        run_agents_on_mdp([QLearning()], "better_rl_widget/GridWorld-v0", backend="dask", progress=False)


def _batch(n: int, start: int = 0, episode: int = 0) -> dict:
    o = np.arange(start, start + n, dtype=np.float32)[:, None]
    return {"obs": o, "next_obs": o + 1, "action": np.zeros(n, np.int64), "reward": np.ones(n),
            "terminated": np.zeros(n, bool), "truncated": np.zeros(n, bool),
            "episode": np.full(n, episode), "episode_step": np.arange(n)}


def test_sink_drops_the_oldest_batches_and_counts_them():
    sink = TransitionSink(max_rows=100)
    assert sink.push("a", _batch(40, 0)) == 0
    assert sink.push("b", _batch(40, 100)) == 0
    assert sink.push("a", _batch(40, 40)) == 40  # 120 > 100: a's first batch goes
    batches, stats = sink.take(1000)
    assert [(w, int(r["obs"][0, 0])) for w, r in batches] == [("b", 100), ("a", 40)]
    assert stats["dropped"] == {"a": 40} and stats["received"] == {"a": 80, "b": 40} and stats["queued"] == 0


def test_sink_rejects_a_malformed_batch_and_says_why():
    sink = TransitionSink()
    bad = _batch(5)
    bad["reward"] = np.ones(4)
    assert sink.push("w", bad) == 0
    assert "different lengths" in sink.stats()["rejected"]["w"]
    del bad["episode"]
    sink.push("w", bad)
    assert "lacks episode" in sink.stats()["rejected"]["w"]
    assert sink.take()[0] == []


def test_remote_buffer_makes_episode_ids_global_and_keeps_the_newest_rows():
    from better_rl_widget.remote.capture import RemoteBuffer

    buf = RemoteBuffer(capacity=8)
    buf.add_rows("w0", _batch(3, 0, episode=0))
    buf.add_rows("w1", _batch(3, 10, episode=0))  # the same local id from another worker: another episode
    buf.add_rows("w0", _batch(2, 3, episode=0))  # w0's episode 0 goes on
    got = buf.read(np.arange(8), (*ROW_FIELDS, "step"))
    assert got["episode"].tolist() == [0, 0, 0, 1, 1, 1, 0, 0]
    assert got["step"].tolist() == list(range(8))
    buf.add_rows("w1", _batch(20, 50, episode=1))  # bigger than the ring: only its newest 8 rows land
    assert buf.total_inserted == 28
    got = buf.read(np.arange(8), ("obs", "episode"))
    assert sorted(got["obs"][:, 0].tolist()) == list(range(62, 70)) and set(got["episode"].tolist()) == {2}
    b = _batch(2)
    b["obs"] = b["next_obs"] = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="observations of shape"):
        buf.add_rows("w0", b)


def test_sink_is_bounded_by_bytes_too():
    sink = TransitionSink(max_rows=10**6, max_bytes=3 * sum(v.nbytes for v in _batch(10).values()))
    for i in range(5):
        sink.push("w", _batch(10, 10 * i))
    batches, stats = sink.take()
    assert stats["dropped"] == {"w": 20} and [int(r["obs"][0, 0]) for _, r in batches] == [20, 30, 40]


def test_instance_blocks_are_recorded_and_reproduced(tmp_path):
    from better_rl_widget.agents.tabular import QLearning
    from better_rl_widget.experiments import reproduce, run_agents_on_mdp

    kw = dict(instances=5, episodes=8, steps=20, seed=4, progress=False)
    blocked = run_agents_on_mdp([QLearning(name="q")], "better_rl_widget/GridWorld-v0", instance_block=2,
                                results_dir=tmp_path / "r", **kw)
    whole = run_agents_on_mdp([QLearning(name="q")], "better_rl_widget/GridWorld-v0", **kw)
    assert blocked.manifest["config"]["instance_block"] == 2 and "instance_block" not in whole.manifest["config"]
    assert blocked.Q["q"].shape == whole.Q["q"].shape == (5, *whole.Q["q"].shape[1:])
    assert not np.array_equal(blocked.Q["q"], whole.Q["q"])  # other random streams: another experiment
    again = reproduce(tmp_path / "r")
    assert again.df.equals(blocked.df) and np.array_equal(again.Q["q"], blocked.Q["q"])


def test_on_episode_needs_the_local_backend_and_one_block():
    from better_rl_widget.agents.tabular import QLearning
    from better_rl_widget.experiments import run_agents_on_mdp

    with pytest.raises(ValueError, match=r"on_episode .* needs"):
        run_agents_on_mdp([QLearning()], "better_rl_widget/GridWorld-v0", instance_block=2, progress=False,
                          on_episode=lambda *a: None)
