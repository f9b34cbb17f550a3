"""The Ray backend on a local cluster started and shut down here (one cluster for the module: start-up is slow):
same results as the local backend for the same seeds; remote workers' transitions reach the widget; a failed or
killed worker is reported and the others go on."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from better_rl_widget import BufferWidget  # noqa: E402
from better_rl_widget.agents.tabular import QLearning, RandomAgent  # noqa: E402
from better_rl_widget.experiments import (  # noqa: E402
    MDPDistribution,
    run_agents_lifelong,
    run_agents_on_mdp,
)
from better_rl_widget.experiments.loop import as_tabular  # noqa: E402
from better_rl_widget.frames.codec import decode  # noqa: E402
from better_rl_widget.remote.capture import RemoteCapture, RemoteRecorder  # noqa: E402
from better_rl_widget.scale.backend import init_local  # noqa: E402

from .conftest import browser_update, keyframe_arrays  # noqa: E402

GRID = "better_rl_widget/GridWorld-v0"


@pytest.fixture(scope="module", autouse=True)
def cluster(tmp_path_factory):
    os.environ["RAY_AUTH_MODE"] = "disabled"  # no token written to the home folder
    init_local(num_cpus=2, _temp_dir=str(tmp_path_factory.mktemp("ray")), log_to_driver=False)  # retries a slow start
    yield
    ray.shutdown()


def _same_results(a, b) -> None:
    pd.testing.assert_frame_equal(a.df, b.df)
    assert a.Q.keys() == b.Q.keys() and all(np.array_equal(a.Q[k], b.Q[k]) for k in a.Q)
    assert a.figure().to_json() == b.figure().to_json()


@pytest.mark.parametrize("block", [None, 2])
def test_experiments_on_ray_equal_local(block):
    agents = lambda: [QLearning(gamma=0.95, name="q"), RandomAgent()]
    kw = dict(instances=5, episodes=12, steps=25, seed=7, track_visits=True, progress=False, instance_block=block)
    local = run_agents_on_mdp(agents(), GRID, backend="local", **kw)
    remote = run_agents_on_mdp(agents(), GRID, backend="ray", **kw)
    _same_results(local, remote)
    assert all(np.array_equal(local.visits[k], remote.visits[k]) for k in local.visits)
    assert local.df["instance"].nunique() == 5

    env = as_tabular(GRID)
    dist = MDPDistribution([env, env])
    kw = dict(samples=2, episodes=6, steps=20, instances=4, seed=3, progress=False, instance_block=block)
    local = run_agents_lifelong([QLearning(name="q")], dist, backend="local", **kw)
    remote = run_agents_lifelong([QLearning(name="q")], dist, backend="ray", **kw)
    _same_results(local, remote)
    pd.testing.assert_frame_equal(local.performance, remote.performance)


def test_policy_visualizer_on_ray_equals_local(tmp_path):
    from better_rl_widget.agents.dqn import DQN, DQNConfig
    from better_rl_widget.policy_visualizer import PolicyVisualizer

    agent = DQN("CartPole-v1", DQNConfig(buffer_size=1000, learning_starts=50), seed=0)
    for _ in range(2):
        agent.learn(120)
        agent.save(tmp_path / f"dqn_{agent.steps_done}.pt")
    (tmp_path / "dqn_999.pt").write_bytes(b"not a checkpoint")  # skipped the same way on both backends
    kw = dict(episodes=3, seed=1, max_steps=100, progress=False)
    local = PolicyVisualizer(tmp_path, "CartPole-v1", DQN, backend="local", **kw)
    remote = PolicyVisualizer(tmp_path, "CartPole-v1", DQN, backend="ray", **kw)
    pd.testing.assert_frame_equal(local.to_dataframe(), remote.to_dataframe())
    pd.testing.assert_frame_equal(local.rollouts.steps, remote.rollouts.steps)
    assert np.array_equal(local.rollouts.obs, remote.rollouts.obs)
    assert local.plot_returns().to_json() == remote.plot_returns().to_json()
    assert list(remote.failed) == ["dqn_999.pt"] and local.failed == remote.failed


def _obs(worker: int, i: int) -> np.ndarray:
    return np.array([worker, i, worker * 10_000 + i], np.float32)  # content tells where a row came from


@ray.remote
def collect(sink, worker: int, n: int, fail_at: int | None = None) -> int:
    rec = RemoteRecorder(sink, f"w{worker}", batch_rows=50)
    for i in range(n):
        if i == fail_at:
            raise RuntimeError(f"collector {worker} crashed")
        rec.record(_obs(worker, i), i % 2, float(worker), _obs(worker, i + 1), i % 40 == 39, False)
    rec.close()
    return n


@ray.remote
class Collector:
    """A worker that runs until killed: its rows arrive as it goes."""

    def run(self, sink, worker: int) -> None:
        rec = RemoteRecorder(sink, f"w{worker}", batch_rows=20)
        i = 0
        while True:
            rec.record(_obs(worker, i), 0, float(worker), _obs(worker, i + 1), False, False)
            i += 1
            if i % 20 == 0:
                time.sleep(0.02)


def test_remote_workers_stream_into_one_widget():
    widget = BufferWidget()
    cap = RemoteCapture(widget, capacity=5_000, projection="pca", max_fps=20, max_points=5_000)
    refs = [collect.remote(cap.sink, w, 600) for w in range(3)]
    cap.watch(refs, ["w0", "w1", "w2"])
    assert cap.wait(timeout=120)
    cap.close()
    _, a = keyframe_arrays(widget)
    assert len(a["slots"]) == widget.n_points == 1800
    assert sorted(a["step"].tolist()) == list(range(1800))
    assert a["episode"].max() + 1 == 3 * 15  # 600 steps / 40 per episode, per worker, made global
    assert sorted(cap.finished) == ["w0", "w1", "w2"] and cap.failed == {} and widget.errors == []
    seen = set()
    for slot in a["slots"][::37].tolist():  # each drawn row holds what its worker sent
        browser_update(widget, clicked=int(slot))
        meta, arr = decode(widget.inspection)
        w, i, tag = arr["obs"].tolist()
        assert tag == w * 10_000 + i and meta["reward"] == w
        seen.add(int(w))
    assert seen == {0, 1, 2}
    assert any(n.startswith("remote: 3 workers, 1,800 rows received, 0 dropped") for n in widget.status["notes"])


def test_a_failed_and_a_killed_worker_are_reported_and_the_rest_go_on():
    widget = BufferWidget()
    cap = RemoteCapture(widget, capacity=5_000, projection="pca", max_fps=20, max_points=5_000)
    forever = Collector.remote()
    refs = [collect.remote(cap.sink, 0, 400), collect.remote(cap.sink, 1, 400, fail_at=130),
            forever.run.remote(cap.sink, 2)]
    cap.watch(refs, ["w0", "w1", "w2"])
    deadline = time.monotonic() + 60
    while cap.stats.get("received", {}).get("w2", 0) < 100 and time.monotonic() < deadline:
        time.sleep(0.1)
    ray.kill(forever)
    assert cap.wait(timeout=120)
    cap.close()
    assert cap.finished == ["w0"]
    assert cap.failed["w1"].startswith("RuntimeError: collector 1 crashed")
    assert "w2" in cap.failed  # killed by ray.kill: ActorDiedError
    assert any("remote worker w1 failed" in e for e in widget.errors)
    assert any("remote worker w2 failed" in e for e in widget.errors)
    _, _a = keyframe_arrays(widget)
    got = cap.stats["received"]
    assert got["w0"] == 400 and got["w1"] == 100 and got["w2"] >= 100  # w1 pushed its full batches of 50
    assert widget.n_points == sum(got.values()) == cap.buffer.total_inserted
    assert any("2 failed" in n for n in widget.status["notes"])


def test_the_cartpole_collectors_example():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "ray_collectors.py"
    spec = importlib.util.spec_from_file_location("ray_collectors_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    widget = BufferWidget()
    cap = example.start(widget, workers=3, steps=600, projection="pca", max_points=2_000)  # all rows drawn
    assert cap.wait(timeout=120)
    cap.close()
    got = cap.stats["received"]
    assert got["collector-0"] == got["collector-1"] == 600
    assert got["collector-2"] == 256  # crashed at step 300: its one full batch of 256 had been pushed
    assert sorted(cap.finished) == ["collector-0", "collector-1"]
    assert widget.n_points == 1456
    assert "crashed at step 300" in cap.failed["collector-2"]
    _, a = keyframe_arrays(widget)
    assert a["reward"].min() == a["reward"].max() == 1.0 and a["done"].sum() > 0  # CartPole rows, with episode ends


@ray.remote
def sampled(sink, n: int, keep_every: int) -> tuple[int, int]:
    rec = RemoteRecorder(sink, "s", batch_rows=16, keep_every=keep_every)
    for i in range(n):
        rec.record(_obs(0, i), 0, 0.0, _obs(0, i + 1), i % 10 == 9, False)
    rec.close()
    return rec.recorded, rec.pushed


def test_keep_every_samples_at_the_source_with_exact_episode_ids():
    widget = BufferWidget()
    cap = RemoteCapture(widget, capacity=1_000, projection="pca")
    ref = sampled.remote(cap.sink, 300, 3)
    cap.watch(ref, ["s"])
    assert cap.wait(timeout=120)
    cap.close()
    assert ray.get(ref) == (300, 100)
    got = cap.buffer.read(np.arange(100), ("obs", "episode", "episode_step"))
    i = got["obs"][:, 1].astype(int)
    assert i.tolist() == list(range(0, 300, 3))  # every third transition
    assert got["episode"].tolist() == (i // 10).tolist() and got["episode_step"].tolist() == (i % 10).tolist()


def test_a_dead_sink_is_reported_once_and_the_map_keeps_what_arrived():
    widget = BufferWidget()
    cap = RemoteCapture(widget, capacity=1_000, projection="pca")
    ref = sampled.remote(cap.sink, 100, 1)
    cap.watch(ref, ["s"])
    assert cap.wait(timeout=120)
    ray.kill(cap.sink)
    deadline = time.monotonic() + 30
    while not any("sink actor is gone" in e for e in widget.errors) and time.monotonic() < deadline:
        time.sleep(0.1)
    cap.close()
    assert sum("sink actor is gone" in e for e in widget.errors) == 1
    assert widget.n_points == 100


@ray.remote
def snapshot_worker(sink) -> str:
    from better_rl_widget import ReplayBuffer
    from better_rl_widget.remote.sink import ROW_FIELDS

    buf = ReplayBuffer(64)
    for i in range(80):  # wraps: the snapshot is the newest 64
        buf.add(_obs(7, i), i % 2, 7.0, _obs(7, i + 1), i % 16 == 15)
    rec = RemoteRecorder(sink, "snap")
    rows = buf.read(np.arange(64), ROW_FIELDS)
    try:
        rec.push_rows({k: v[:3] if k == "reward" else v for k, v in rows.items()})
    except ValueError as exc:
        bad = str(exc)
    rec.push_rows(rows)
    rec.close()
    return bad


def test_a_worker_pushes_a_buffer_snapshot():
    widget = BufferWidget()
    cap = RemoteCapture(widget, capacity=1_000, projection="pca")
    ref = snapshot_worker.remote(cap.sink)
    cap.watch(ref, ["snap"])
    assert cap.wait(timeout=120)
    cap.close()
    assert "different lengths" in ray.get(ref)  # a malformed snapshot is refused on the worker, before sending
    got = cap.buffer.read(np.arange(64), ("obs", "episode"))
    assert sorted(got["obs"][:, 1].astype(int).tolist()) == list(range(16, 80))
    assert widget.n_points == 64 and len(set(got["episode"].tolist())) == 4
