"""close() lets go of everything: the worker threads, the engine child, the comm, and the widget object itself."""

import gc
import os
import threading
import time
import weakref

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook  # noqa: E402

from .conftest import fill  # noqa: E402


def _children() -> set[int]:
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
            return {int(p) for p in f.read().split()}
    except OSError:
        pytest.skip("no /proc children list here")


def _until(cond, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            return False
        gc.collect()
        time.sleep(0.1)
    return True


def _ours() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("better_rl_widget")}


@pytest.mark.parametrize(("worker", "record"), [("thread", False), ("process", False), ("process", True)])
def test_a_closed_widget_and_hook_are_collected_and_leave_nothing_running(worker, record, tmp_path):
    before, threads_before = _children(), _ours()  # other tests' hooks may still be running
    w = BufferWidget()
    buf = ReplayBuffer(300)
    hook = TrainingHook(w, buf, q_network=nn.Linear(4, 2), n_actions=2, worker=worker)
    if record:
        hook.record_to(tmp_path / "run")
    fill(buf, 300)
    hook.on_step()
    assert hook.flush(60)
    hook.close()
    w.close()
    ref, hook_ref = weakref.ref(w), weakref.ref(hook)
    del w, hook
    assert _until(lambda: ref() is None and hook_ref() is None), "the widget or hook is still referenced"
    assert _until(lambda: _ours() <= threads_before), [t.name for t in _ours() - threads_before]
    assert _until(lambda: _children() <= before), _children() - before


def test_the_classic_widgets_are_collected_after_close():
    from better_rl_widget.envs.gridworld import GridWorld
    from better_rl_widget.widget.continual_widget import ContinualWidget
    from better_rl_widget.widget.grid_widget import GridWorldWidget

    for make in (lambda: GridWorldWidget(GridWorld(width=4, height=3, goals=[(3, 2)])), ContinualWidget):
        w = make()
        w.close()
        ref = weakref.ref(w)
        del w
        assert _until(lambda: ref() is None)  # noqa: B023 - called within this iteration


def test_closing_the_widget_stops_its_saliency_service():
    w = BufferWidget()
    svc = w.enable_saliency(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    w.close()
    with pytest.raises(RuntimeError, match="shutdown"):  # its thread pool takes no more work: its thread ends
        svc._pool.submit(print)
    ref = weakref.ref(w)
    del w, svc
    assert _until(lambda: ref() is None)
