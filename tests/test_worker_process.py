"""worker="process": the engine in a child process computes what the thread computes, reports its errors, survives
being killed (degraded to a thread, visibly), and never outlives the hook or the interpreter that started it."""

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from better_rl_widget import BufferWidget, LiveOptions, ReplayBuffer, TrainingHook  # noqa: E402
from better_rl_widget.capture.engine import Engine, EngineInput  # noqa: E402
from better_rl_widget.capture.engine_process import EngineProcess, EngineSpec  # noqa: E402
from better_rl_widget.capture.estimator import TDEstimator  # noqa: E402
from better_rl_widget.capture.mirror import BufferMirror  # noqa: E402
from better_rl_widget.embed import make_projection  # noqa: E402
from better_rl_widget.frames.codec import decode  # noqa: E402

from .conftest import fill  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))


def _gone(pid: int, within: float = 10.0) -> bool:
    """True when ``pid`` has exited (absent, or a zombie waiting for a reaper) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                if any(line.startswith("State:") and "Z" in line.split()[1] for line in f):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def _rows(buf, slots):
    r = buf.read(slots, ("obs", "action", "reward", "terminated", "truncated", "episode", "episode_step", "step",
                         "next_obs"))
    r["done"] = np.logical_or(r["terminated"], r.pop("truncated")).astype(np.uint8)
    return r


def test_the_engine_in_a_process_computes_exactly_what_it_computes_in_a_thread():
    """Same inputs in the same order → the same coordinates and TD-errors/Q/V/returns, bit for bit."""
    cap = 900
    buf = ReplayBuffer(cap)
    fill(buf, cap, seed=3)
    q, tgt = _net(0), _net(1)
    est = TDEstimator(q, tgt, gamma=0.9, n_actions=2)
    mirror = BufferMirror(cap)
    options = LiveOptions(seed=7, td_budget_s=30.0)
    local = Engine(cap, make_projection("auto", cap, 7), options, mirror=mirror, estimator=est.export())
    remote = EngineProcess(EngineSpec.pack(cap, options, est))
    try:
        for lo, hi in ((0, 300), (300, 700), (700, 900)):
            slots = np.arange(lo, hi)
            rows = _rows(buf, slots)
            mirror.apply(slots, rows)
            inp = dict(slots=slots, drain=True, force_new=True, weights=est.weights())
            with threadpool_limits(limits=1):  # as in the worker thread (one BLAS thread: same sums)
                a = local.run(EngineInput(**inp))
            b = remote.run(EngineInput(rows={k: rows[k] for k in rows if k != "step"}, **inp))
            np.testing.assert_array_equal(a.frame.slots, b.frame.slots)
            np.testing.assert_array_equal(a.frame.coords, b.frame.coords)
            assert a.frame.extent == b.frame.extent
            assert sorted(a.fields) == sorted(b.fields) and {"td_error", "q", "value"} <= set(a.fields)
            for name in a.fields:
                np.testing.assert_array_equal(a.fields[name][0], b.fields[name][0])
                np.testing.assert_array_equal(a.fields[name][1], b.fields[name][1])
        assert a.frame.info["projection"] == "auto" and a.frame.info["phase"] != "pca"  # t-SNE really ran
    finally:
        remote.close()
    assert _gone(remote.pid)


def test_a_hook_with_a_worker_process_fills_the_map_and_stops_the_process_on_close():
    w = BufferWidget()
    buf = ReplayBuffer(600)
    hook = TrainingHook(w, buf, every=25, q_network=_net(), n_actions=2, worker="process")
    fill(buf, 600)
    for _ in range(600):
        hook.on_step()
    assert hook.flush(60)
    assert hook.worker.mode == "process" and hook.projection is None
    pid = hook.worker.engine.pid
    assert not _gone(pid, within=0.1)
    hook.close()
    assert _gone(pid)
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 600 and np.isfinite(a["x"]).all()
    assert {"td_error", "q", "value", "return"} <= set(meta["channels"])
    assert np.isfinite(a["td_error"]).all()
    info, _ = w._inspect_fn(5)  # the inspector reads the kernel-side mirror, TD-error included
    assert info["present"] and info["td_error"] is not None
    assert w.errors == []


class ExplodingProjection:
    name = "exploding"

    def add(self, slots, features):
        pass

    def remove(self, slots):
        pass

    def step(self, budget_s):
        raise ValueError("projection exploded in the child")


def test_errors_in_the_process_reach_the_status_line_not_the_training_loop():
    w = BufferWidget()
    buf = ReplayBuffer(50)
    hook = TrainingHook(w, buf, projection=ExplodingProjection(), worker="process", every=1)
    fill(buf, 20)
    hook.on_step()
    hook.flush(60)
    assert hook.worker.mode == "process"
    fill(buf, 20, start=20)
    hook.on_step()  # training goes on
    hook.close()
    assert "projection exploded in the child" in w.status["last_error"]
    # each failure is the child's, or says which rows it kept off the map
    assert all("projection exploded in the child" in e or "rows may be missing from the map" in e for e in w.errors)


def test_a_killed_process_degrades_to_a_thread_visibly_and_the_map_completes():
    w = BufferWidget()
    buf = ReplayBuffer(400)
    hook = TrainingHook(w, buf, every=10, q_network=_net(), n_actions=2, worker="process")
    fill(buf, 200)
    hook.flush(60)
    pid = hook.worker.engine.pid
    os.kill(pid, signal.SIGKILL)
    assert _gone(pid)
    fill(buf, 200, start=200)
    for _ in range(200):
        hook.on_step()  # never raises
    assert hook.flush(60)
    hook.close()
    assert hook.worker.mode == "thread"
    assert any("exited with code -9" in e for e in w.errors)
    assert any("goes on in a thread" in n for n in w.status["notes"])
    _meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 400 and np.isfinite(a["td_error"]).all()


def test_a_hook_dropped_without_close_stops_its_process():
    w = BufferWidget()
    buf = ReplayBuffer(100)
    hook = TrainingHook(w, buf, q_network=_net(), n_actions=2, worker="process")
    fill(buf, 100)
    hook.flush(60)
    pid, thread = hook.worker.engine.pid, hook.worker._thread
    del hook
    gc.collect()
    assert _gone(pid)
    thread.join(5)
    assert not thread.is_alive()


def _script(body: str) -> str:
    return textwrap.dedent("""
        import sys, time
        import numpy as np, torch
        from torch import nn
        from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook

        class NotebookNet(nn.Module):  # defined in __main__, like a class in a notebook cell
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU())
                self.head = nn.Linear(16, 2)

            def forward(self, x):
                return self.head(self.body(x))

        w = BufferWidget()
        buf = ReplayBuffer(200)
        hook = TrainingHook(w, buf, q_network=NotebookNet(), n_actions=2, worker="process")
        rng = np.random.default_rng(0)
        for i in range(200):
            o = rng.normal(size=4).astype(np.float32)
            buf.add(o, i % 2, 1.0, o, terminated=(i % 20 == 19))
        assert hook.flush(120)
        print(hook.worker.engine.pid, hook.worker.mode, w.n_points, sorted(hook.worker.frame_state._fields),
              w.errors, flush=True)
    """) + textwrap.dedent(body)


def _start(body: str) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", _script(body)], stdout=subprocess.PIPE, text=True, env=env)
    first = proc.stdout.readline().split(" ", 3)
    return proc, first


def test_no_process_outlives_an_interpreter_that_exits_without_close():
    proc, (pid, mode, n, rest) = _start("")  # the script ends with the hook still open
    assert proc.wait(120) == 0
    assert mode == "process" and n == "200"
    assert "'td_error'" in rest and "[]" in rest  # the __main__-defined network travelled (cloudpickle)
    assert _gone(int(pid))


def test_no_process_outlives_a_parent_that_is_killed():
    proc, (pid, mode, _, _) = _start("time.sleep(600)\n")
    assert mode == "process"
    proc.kill()
    proc.wait(10)
    assert _gone(int(pid))
