"""The training gate: frames are made while the training thread waits at a step boundary (capture/gate.py)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook
from better_rl_widget.capture.gate import TrainingGate


def stepping(gate: TrainingGate, stop: threading.Event, counter: list[int]) -> threading.Thread:
    """A 'training thread' that steps as fast as it can and parks when asked."""
    def loop() -> None:
        while not stop.is_set():
            if gate.wanted:
                gate.park()
            counter[0] += 1
            time.sleep(0.0005)
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def test_hold_parks_the_stepping_thread_until_release():
    gate, stop, counter = TrainingGate(), threading.Event(), [0]
    t = stepping(gate, stop, counter)
    try:
        assert gate.hold(timeout=30.0)  # it reaches a step and parks
        before = counter[0]
        time.sleep(0.05)  # while held, the loop makes no step
        assert counter[0] == before
        gate.release()
        deadline = time.monotonic() + 30.0
        while counter[0] == before and time.monotonic() < deadline:
            time.sleep(0.001)
        assert counter[0] > before  # and goes on once let go
        assert gate.parks == 1 and gate.parked_s >= 0.05
    finally:
        stop.set()
        gate.release()
        t.join(5.0)


def test_hold_gives_up_when_no_step_comes():
    gate = TrainingGate()
    t0 = time.monotonic()
    assert gate.hold(timeout=0.05) is False  # training is not running: the frame goes ahead
    assert time.monotonic() - t0 >= 0.05
    gate.release()
    assert not gate.wanted


def test_a_parked_thread_never_waits_longer_than_max_park_s():
    gate, stop, counter = TrainingGate(max_park_s=0.1), threading.Event(), [0]
    t = stepping(gate, stop, counter)
    try:
        assert gate.hold(timeout=30.0)
        deadline = time.monotonic() + 30.0  # never released: the thread goes on by itself after 0.1 s
        while gate.timeouts == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert gate.timeouts == 1 and not gate.wanted  # and is not asked to park again for this request
        before = counter[0]
        while counter[0] < before + 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert counter[0] >= before + 20 and gate.parks == 1
    finally:
        stop.set()
        t.join(5.0)


@pytest.mark.parametrize("hold", [True, False])
def test_training_makes_no_step_while_a_frame_is_made(hold):
    """With ``hold_training`` (the default) the hook parks the training loop during each frame; without it the
    loop runs on beside the frame. Seen from a frame listener, which runs inside the frame."""
    buf = ReplayBuffer(5_000, seed=0)
    hook = TrainingHook(BufferWidget(), buf, every=5, copy_every_s=0.0, max_fps=20, cost_budget=1.0, settle_s=0,
                        worker="thread", hold_training=hold)
    seen: list[tuple[int, int]] = []
    running = threading.Event()

    def listener(final: bool) -> None:
        if final or not running.is_set():
            return
        a = hook.step
        end = time.perf_counter() + 0.02  # inside the frame: does the loop step meanwhile?
        while time.perf_counter() < end:
            pass
        seen.append((a, hook.step))

    hook.worker.frame_listeners.append(listener)
    rng = np.random.default_rng(0)
    running.set()
    deadline = time.monotonic() + 120.0
    while len(seen) < 8 and time.monotonic() < deadline:
        x = rng.normal(size=4).astype(np.float32)
        buf.add(x, 0, 0.0, x, False)
        hook.on_step()
        time.sleep(0.0002)
    running.clear()
    hook.close()
    assert len(seen) >= 8
    moved = [b - a for a, b in seen]
    if hold:
        assert all(m == 0 for m in moved), moved
        assert hook.worker.gate.parks >= 8
    else:
        assert any(m > 0 for m in moved), moved


def test_frames_still_come_when_training_is_not_stepping():
    """A notebook between cells: rows were copied, no step follows; the frame waits briefly, then is made."""
    buf = ReplayBuffer(1_000, seed=0)
    w = BufferWidget()
    hook = TrainingHook(w, buf, every=1, copy_every_s=0.0, settle_s=0, worker="thread")
    rng = np.random.default_rng(0)
    for _ in range(300):
        x = rng.normal(size=4).astype(np.float32)
        buf.add(x, 0, 0.0, x, False)
        hook.on_step()
    shown = hook.worker.stats.frames_shown
    x = rng.normal(size=4).astype(np.float32)
    buf.add(x, 0, 0.0, x, False)
    hook.capture()  # copied, and no step after it
    deadline = time.monotonic() + 60.0
    while hook.worker.stats.frames_shown == shown and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hook.worker.stats.frames_shown > shown
    hook.close()
