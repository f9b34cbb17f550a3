"""Run records: round trips on file:// and memory://, no pickle, crash safety under SIGKILL, the hook's recording."""

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import uuid
import zlib
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook, open_run
from better_rl_widget.frames.snapshot import MapSnapshot
from better_rl_widget.store import RunWriter, run_manifest, seed_everything

from .conftest import fill

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["file", "memory"])
def run_url(request, tmp_path):
    if request.param == "file":
        yield (tmp_path / "run").as_uri()  # file:///...
        return
    url = f"memory://runs/{uuid.uuid4().hex}"
    yield url
    fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)


def _snapshot(step: int, n: int, seed: int) -> MapSnapshot:
    rng = np.random.default_rng(seed)
    return MapSnapshot(step=step, time_s=0.5 * step, slots=rng.permutation(2 * n)[:n].astype(np.uint32),
                       xy=rng.normal(size=(n, 2)).astype(np.float32), extent=(-3.0, 3.0, -2.5, 2.5),
                       fields={"reward": rng.normal(size=n).astype(np.float32),
                               "action": rng.integers(0, 4, n).astype(np.uint32),
                               "td_error": np.where(rng.random(n) < 0.1, np.nan,
                                                    rng.normal(size=n)).astype(np.float32)})


def test_every_record_type_round_trips(run_url):
    manifest = run_manifest(name="<img src=x onerror=alert(1)>", config={"lr": 1e-3, "layers": [64, 64]},
                            seeds={"seed": 3})
    w = RunWriter(run_url, manifest)
    snaps = [_snapshot(10, 50, 0), _snapshot(20, 70, 1)]
    for s in snaps:
        w.append_snapshot(s)
    w.append_table("metrics", {"step": np.array([1, 2], np.int64), "time_s": [0.1, 0.2],
                               "name": ["loss", "episode_return"], "value": [0.5, 21.0]})
    w.append_table("metrics", {"step": np.array([3], np.int64), "time_s": [0.3], "name": ["loss"], "value": [0.25]})
    w.append_table("events", {"step": np.array([5], np.int64), "time_s": [0.5], "kind": ["task_switch"],
                              "details": [json.dumps({"task": "b"})]})
    obs = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    w.append_arrays("buffer_sample", {"slot": np.array([4, 9], np.uint32), "obs": obs,
                                      "reward": np.array([1.0, np.nan], np.float32)})
    w.append_arrays("buffer_sample", {"slot": np.array([1], np.uint32), "obs": obs[:1] + 1,
                                      "reward": np.array([-1.0], np.float32)})
    w.close()

    run = open_run(run_url)
    assert run.status == "finished"
    assert run.manifest["name"] == "<img src=x onerror=alert(1)>" and run.manifest["seeds"] == {"seed": 3}
    assert run.manifest["config"]["layers"] == [64, 64]
    assert {"python", "torch", "numpy", "gymnasium", "better_rl_widget"} <= set(run.manifest["versions"])
    got = run.snapshots()
    assert len(got) == 2
    for a, b in zip(snaps, got):
        assert (a.step, a.time_s, a.extent) == (b.step, b.time_s, b.extent)
        np.testing.assert_array_equal(a.slots, b.slots)
        np.testing.assert_array_equal(a.xy, b.xy)
        assert set(a.fields) == set(b.fields)
        for k in a.fields:
            assert a.fields[k].dtype == b.fields[k].dtype
            assert a.fields[k].tobytes() == b.fields[k].tobytes()  # NaNs included, bit for bit
    assert run.metrics["value"].tolist() == [0.5, 21.0, 0.25]
    assert run.metric("loss").to_dict() == {1: 0.5, 3: 0.25}
    assert json.loads(run.events["details"][0]) == {"task": "b"} and run.events["kind"][0] == "task_switch"
    sample = run.arrays["buffer_sample"]
    assert sample["obs"].dtype == np.uint8 and sample["obs"].shape == (3, 3, 4)
    np.testing.assert_array_equal(sample["obs"], np.concatenate([obs, obs[:1] + 1]))
    assert sample["reward"].tobytes() == np.array([1.0, np.nan, -1.0], np.float32).tobytes()
    summary = run.summary().set_index("stream")
    assert summary.loc["metrics", "chunks"] == 2 and summary.loc["metrics", "rows"] == 3
    with pytest.raises(KeyError, match="no metric 'accuracy'"):
        run.metric("accuracy")


def test_layout_is_the_same_on_every_filesystem(tmp_path):
    urls = [(tmp_path / "a").as_uri(), f"memory://runs/{uuid.uuid4().hex}"]
    listings = []
    for url in urls:
        w = RunWriter(url)
        w.append_snapshot(_snapshot(1, 5, 0))
        w.append_table("metrics", {"step": [1], "time_s": [0.0], "name": ["loss"], "value": [1.0]})
        w.append_arrays("final_buffer", {"obs": np.zeros((3, 2), np.float32)})
        w.close()
        fs, root = fsspec.core.url_to_fs(url)
        listings.append(sorted(p[len(root.rstrip("/")) + 1:] for p in fs.find(root)))
    assert listings[0] == listings[1] == ["arrays/final_buffer/000000.npz", "index.json", "manifest.json",
                                          "snapshots/000000.npz", "tables/metrics/000000.parquet"]


def test_long_runs_seal_index_segments(run_url, monkeypatch):
    from better_rl_widget.store import writer

    monkeypatch.setattr(writer, "SEGMENT", 3)
    w = RunWriter(run_url)
    for k in range(8):
        w.append_arrays("buffer", {"k": np.full(2, k)})
        w.append_snapshot(_snapshot(k, 4, k))
    index = dict(w.index)
    w.close()
    assert len(index["streams"]["buffer"]["segments"]) == 2 and len(index["streams"]["buffer"]["chunks"]) == 2
    run = open_run(run_url)
    np.testing.assert_array_equal(run.array("buffer")["k"], np.repeat(np.arange(8), 2))
    assert [s.step for s in run.snapshots()] == list(range(8))
    assert run.summary().set_index("stream").loc["snapshots", "chunks"] == 8


def test_files_are_readable_without_this_package(tmp_path):
    w = RunWriter(tmp_path / "run")
    w.append_snapshot(_snapshot(1, 5, 0))
    w.append_table("metrics", {"step": [1, 2], "time_s": [0.0, 0.1], "name": ["loss", "loss"], "value": [1.0, 0.5]})
    w.close()
    index = json.loads((tmp_path / "run" / "index.json").read_text())
    metrics = pd.read_parquet(tmp_path / "run" / index["streams"]["metrics"]["chunks"][0]["file"])
    assert metrics["value"].tolist() == [1.0, 0.5]
    with np.load(tmp_path / "run" / index["streams"]["snapshots"]["chunks"][0]["file"], allow_pickle=False) as z:
        assert z["xy"].shape == (5, 2) and "field.reward" in z.files


def test_loading_never_unpickles(tmp_path, monkeypatch):
    w = RunWriter(tmp_path / "run")
    w.append_snapshot(_snapshot(1, 5, 0))
    w.append_table("events", {"step": [1], "time_s": [0.0], "kind": ["checkpoint"], "details": ["{}"]})
    w.append_arrays("buffer_sample", {"obs": np.zeros((2, 3), np.float32)})
    with pytest.raises(TypeError, match="dtype object"):
        w.append_arrays("bad", {"obs": np.array([{"a": 1}, None], dtype=object)})
    w.close()

    def refuse(*_a, **_k):
        raise AssertionError("a store must never be unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    run = open_run(tmp_path / "run")
    assert len(run.snapshots()) == 1 and len(run.events) == 1 and run.arrays["buffer_sample"]["obs"].shape == (2, 3)
    # A chunk that does hold a pickle (written by someone else, index entry matched) is refused, not executed.
    chunk = tmp_path / "run" / "arrays" / "buffer_sample" / "000000.npz"
    np.savez(chunk, obs=np.array([{"a": 1}], dtype=object), allow_pickle=True)
    index_path = tmp_path / "run" / "index.json"
    index = json.loads(index_path.read_text())
    entry = index["streams"]["buffer_sample"]["chunks"][0]
    entry.update(bytes=chunk.stat().st_size, crc32=zlib.crc32(chunk.read_bytes()))
    index_path.write_text(json.dumps(index))
    run = open_run(tmp_path / "run")
    assert run.array("buffer_sample") == {}
    assert "allow_pickle" in run.damaged["arrays/buffer_sample/000000.npz"]


def test_writer_refuses_to_overwrite_and_reader_names_what_is_missing(tmp_path):
    RunWriter(tmp_path / "run").close()
    with pytest.raises(FileExistsError, match="already holds a run"):
        RunWriter(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="is not a run"):
        open_run(tmp_path / "nothing")


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from better_rl_widget.store import RunWriter
    w = RunWriter(sys.argv[1])
    for k in range(10_000):
        # ~2 MB per chunk, so a kill often lands inside a write
        w.append_arrays("buffer", {"k": np.full(250_000, k, np.int64)})
        w.append_table("metrics", {"step": [k], "time_s": [0.0], "name": ["k"], "value": [float(k)]})
        print(k, flush=True)
""")


def test_sigkill_mid_write_leaves_every_completed_chunk(tmp_path):
    path = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    done = []
    for line in proc.stdout:
        done.append(int(line))
        if len(done) >= 4:
            break
    time.sleep(0.05 * (len(done) % 3))  # somewhere inside the next chunk
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = open_run(path)
    assert run.status == "running"  # never closed
    buffer = run.array("buffer")["k"]
    n = int(run.summary().set_index("stream").loc["buffer", "chunks"])
    assert n >= done[-1] + 1  # every chunk reported complete is indexed
    np.testing.assert_array_equal(buffer, np.repeat(np.arange(n), 250_000))  # and whole, in order
    m = run.metric("k")
    assert m.tolist() == [float(i) for i in range(len(m))] and len(m) >= done[-1] + 1
    # Whatever the kill interrupted is invisible to readers, and a new writer cleans it up.
    from better_rl_widget.store.files import RunFiles

    RunFiles(path).remove_temporaries()
    assert not [p for p in path.rglob("*") if ".tmp-" in p.name]


RECORDING_CHILD = textwrap.dedent("""
    import sys
    from better_rl_widget import BufferWidget, TrainingHook
    from better_rl_widget.agents.dqn import DQN, DQNConfig
    agent = DQN("CartPole-v1", DQNConfig(buffer_size=5000, learning_starts=200), seed=0)
    hook = TrainingHook(BufferWidget(), agent.buffer, every=10, projection="pca", max_fps=20)
    hook.record_to(sys.argv[1], snapshot_every_s=0.1, flush_every_s=0.1)
    agent.learn(10**7, callback=hook.on_step, log=hook.log_metrics, log_every=10)
""")


def test_sigkill_a_recording_training_run(tmp_path):
    path = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", RECORDING_CHILD, str(path)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                streams = json.loads((path / "index.json").read_text())["streams"]
            except (FileNotFoundError, json.JSONDecodeError):
                streams = {}
            if len(streams.get("snapshots", {}).get("chunks", [])) >= 4 and "metrics" in streams:
                break
            assert proc.poll() is None, "the recording process ended early"
            time.sleep(0.2)
        else:
            pytest.fail("no snapshots recorded within 240 s")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    run = open_run(path)
    assert run.status == "running"
    snaps = run.snapshots()
    assert len(snaps) >= 4
    assert all(s.slots.dtype == np.uint32 and s.xy.shape == (len(s.slots), 2) and np.isfinite(s.xy).all()
               for s in snaps)
    assert [s.step for s in snaps] == sorted(s.step for s in snaps) and snaps[-1].step > 0
    assert len(run.metrics) > 0 and np.isfinite(run.metrics["value"]).all()
    sample = run.arrays["buffer_sample"]
    assert sample["obs"].shape[1:] == (4,) and len(sample["obs"]) == len(sample["slot"])


def test_hook_records_metrics_events_snapshots_and_samples(tmp_path):
    buf = ReplayBuffer(500, seed=0)
    widget = BufferWidget()
    hook = TrainingHook(widget, buf, every=5, max_fps=50, record=tmp_path / "run")
    hook.recorder.snapshot_every_s = 0.0
    hook.recorder.buffer_rows = 64
    for chunk in range(4):
        fill(buf, 100, seed=chunk, start=chunk * 100)
        for _ in range(100):
            hook.on_step()
        hook.log_metrics(hook.step, loss=1.0 / (chunk + 1), episode_return=float(chunk))
        hook.flush()
    hook.log_event("task_switch", task=2)
    hook.log_metrics(hook.step, loss="high")  # not a number: reported, training goes on
    hook.close()
    assert any("must be a number" in e for e in widget.errors)
    run = open_run(tmp_path / "run")
    assert run.status == "finished"
    assert run.metric("loss").tolist() == [1.0, 0.5, 1 / 3, 0.25]
    assert run.metric("episode_return").index.tolist() == [100, 200, 300, 400]
    assert run.events["kind"].tolist() == ["task_switch"] and run.events["step"].tolist() == [400]
    snaps = run.snapshots()
    assert len(snaps) >= 2 and len(snaps[-1].slots) == 400 == widget.n_points  # the final map is recorded
    assert snaps[-1].step == 400
    sample = run.arrays["buffer_sample"]
    last = sample["snapshot"] == sample["snapshot"].max()
    assert last.sum() == 64 and len(np.unique(sample["slot"][last])) == 64
    truth = buf.read(sample["slot"][last].astype(np.int64))
    np.testing.assert_array_equal(sample["obs"][last], truth["obs"])  # the recorded rows are the buffer's rows
    stats = run.tables["td_stats"]
    assert stats["points"].iloc[-1] == 400


def test_logging_without_a_record_is_reported_not_raised(widget):
    hook = TrainingHook(widget, ReplayBuffer(10), every=1)
    hook.log_metrics(1, loss=0.1)
    hook.close()
    assert any("records no run" in e for e in widget.errors)


def test_from_run_shows_the_last_map_and_answers_clicks(tmp_path):
    from better_rl_widget.widget.run_replay import show_snapshot

    buf = ReplayBuffer(300, seed=0)
    hook = TrainingHook(BufferWidget(), buf, every=5, max_fps=50, record=tmp_path / "run")
    fill(buf, 200, seed=1)
    for _ in range(200):
        hook.on_step()
    hook.close()
    run = open_run(tmp_path / "run")
    w = BufferWidget.from_run(run)
    assert isinstance(w, BufferWidget)
    if hasattr(BufferWidget, "replay"):  # the scrubber's widget holds every recorded map
        assert [s.step for s in w.history] == [s.step for s in run.snapshots()]
        assert w.gauge["capacity"] == 300  # from the run's manifest
    last = run.snapshots()[-1]
    kept = run.arrays["buffer_sample"]
    rows = {k: v[kept["snapshot"] == len(run.snapshots()) - 1] for k, v in kept.items()}
    w = BufferWidget()
    show_snapshot(w, last, rows)  # the fallback: the last map, clicks answered from the recorded rows
    assert w.n_points == len(last.slots) == 200
    slot = int(rows["slot"][0])
    meta, obs = w._inspect_fn(slot)
    assert meta["present"] and obs is not None
    np.testing.assert_array_equal(obs, buf.read(np.array([slot]))["obs"][0])
    assert not w._inspect_fn(299)[0]["present"]  # never written: not in the sample


def test_seed_everything_seeds_python_numpy_torch_and_the_env():
    gym = pytest.importorskip("gymnasium")
    torch = pytest.importorskip("torch")
    import random

    draws = []
    for _ in range(2):
        env = gym.make("CartPole-v1")
        seeds = seed_everything(123, env)
        # np.random.rand: the legacy global generator is the one seed_everything must seed
        draws.append((random.random(), np.random.rand(), torch.rand(1).item(), env.action_space.sample(),  # noqa: NPY002
                      env.observation_space.sample().tobytes(), env.reset()[0].tobytes()))
    assert draws[0] == draws[1]
    assert seeds["env"] == seeds["torch"] == 123 and torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    with pytest.raises(ValueError, match="seed must be"):
        seed_everything(-1)


def test_a_failing_disk_is_shown_and_training_goes_on(tmp_path, monkeypatch):
    buf = ReplayBuffer(200, seed=0)
    widget = BufferWidget()
    hook = TrainingHook(widget, buf, every=5, max_fps=50, record=tmp_path / "run")
    hook.recorder.snapshot_every_s = 0.0

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hook.recorder.writer, "append_snapshot", full)
    fill(buf, 100, seed=0)
    for _ in range(100):
        hook.on_step()
    hook.flush()
    hook.log_metrics(100, loss=0.5)
    hook.close()
    assert any("No space left on device" in e for e in widget.errors)
    assert widget.n_points == 100  # the live map is unaffected
    assert open_run(tmp_path / "run").metric("loss").tolist() == [0.5]  # other streams still recorded
