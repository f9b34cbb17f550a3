"""``TrainingHook.reprioritize``: exactly the selected slots' priorities change, by the factor, for each prioritized
buffer kind; clear errors otherwise; queued onto the training thread while training runs in the background."""

import math
import threading
import time

import numpy as np
import pytest
import torch

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook
from better_rl_widget.capture.prioritized import PrioritizedReplayBuffer
from better_rl_widget.frames.codec import decode

from .conftest import fill
from .test_replay_counts import _torchrl_fill, _torchrl_per

SEL = np.array([3, 17, 18, 40])


def _per(n=60, capacity=64):
    buf = PrioritizedReplayBuffer(capacity, alpha=0.6, seed=0)
    fill(buf, n)
    rng = np.random.default_rng(0)
    buf.update_priorities(np.arange(n), rng.exponential(size=n))  # distinct priorities
    return buf


def _assert_scaled(before, after, selected, factor, rtol):
    others = np.setdiff1d(np.arange(len(before)), selected)
    np.testing.assert_array_equal(after[others], before[others])  # all others identical
    np.testing.assert_allclose(after[selected], before[selected] * factor, rtol=rtol)
    assert not np.allclose(after[selected], before[selected])


def test_reference_per_changes_exactly_the_selected_slots():
    buf = _per()
    w = BufferWidget()
    with TrainingHook(w, buf, every=1) as hook:
        hook.on_step()
        assert hook.flush(30)
        before = buf.priorities(np.arange(60))
        assert hook.reprioritize(SEL, 4.0) == 4
        after = buf.priorities(np.arange(60))
        _assert_scaled(before, after, SEL, 4.0, rtol=1e-12)
        assert hook.reprioritized[-1]["factor"] == 4.0 and hook.reprioritized[-1]["slots"].tolist() == SEL.tolist()
        # sampling follows: the selected slots' share of the total mass grew by the factor
        assert buf.tree.total == pytest.approx(before.sum() + 3.0 * before[SEL].sum())
        hook.on_step()
        assert hook.flush(30)
    _meta, a = decode(w.keyframe)
    pos = {int(s): i for i, s in enumerate(a["slots"])}
    np.testing.assert_allclose([a["priority"][pos[int(s)]] for s in SEL], after[SEL], rtol=1e-6)  # the map too
    assert any("reprioritized 4 transitions" in n for n in w.status.get("notes", []))


def test_reprioritize_errors_are_clear_and_change_nothing():
    buf = _per()
    with TrainingHook(BufferWidget(), buf, every=1) as hook:
        before = buf.priorities(np.arange(60)).copy()
        for bad in (0, -1.0, math.nan, math.inf, "x"):
            with pytest.raises(ValueError, match="factor"):
                hook.reprioritize(SEL, bad)
        with pytest.raises(ValueError, match="out of range"):
            hook.reprioritize([1, 60], 2.0)  # slot 60 is not written (60 rows in a 64-slot buffer)
        with pytest.raises(ValueError, match="nothing selected"):
            hook.reprioritize(np.zeros(0, np.uint32), 2.0)
        with pytest.raises(ValueError, match="integer"):
            hook.reprioritize([1.5], 2.0)
        np.testing.assert_array_equal(buf.priorities(np.arange(60)), before)
    plain = ReplayBuffer(10)
    fill(plain, 5)
    with TrainingHook(BufferWidget(), plain, every=1) as hook, pytest.raises(TypeError, match="prioritized"):
        hook.reprioritize([0], 2.0)


def test_while_training_in_background_it_is_applied_on_the_training_thread():
    buf = _per()
    w = BufferWidget()
    hook = TrainingHook(w, buf, every=1)
    applied_on: list[str] = []
    orig = buf.scale_priorities

    def spy(slots, factor):
        applied_on.append(threading.current_thread().name)
        return orig(slots, factor)

    buf.scale_priorities = spy
    started = threading.Event()

    def train(stop):
        while not stop.is_set():
            buf.sample(8)
            hook.on_step()
            started.set()
            time.sleep(0.001)

    run = hook.run_in_background(train)
    assert started.wait(30)
    before = buf.priorities(np.arange(60)).copy()
    hook.reprioritize(SEL, 0.5)
    deadline = time.monotonic() + 30
    while not hook.reprioritized and time.monotonic() < deadline:
        time.sleep(0.01)
    run.stop()
    run.join(30)
    assert applied_on == ["better_rl_widget-train"]
    _assert_scaled(before, buf.priorities(np.arange(60)), SEL, 0.5, rtol=1e-12)


def test_torchrl_prioritized_sampler_changes_exactly_the_selected_slots():
    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    rb = _torchrl_per(64)
    src = TorchRLBufferSource(rb)
    if "priority" not in src.optional_fields:
        pytest.skip(f"torchrl's sum-tree extension does not load here: {src.note}")
    _torchrl_fill(rb, 60)
    rb.update_priority(torch.arange(60), torch.linspace(0.1, 3.0, 60))
    tree = rb.prioritized_sampler._sum_tree
    before = torch.as_tensor(tree[torch.arange(60)]).numpy().copy()
    old, _new = src.scale_priorities(SEL, 3.0)
    after = torch.as_tensor(tree[torch.arange(60)]).numpy()
    _assert_scaled(before, after, SEL, 3.0, rtol=1e-4)  # the tree is float32
    np.testing.assert_array_equal(old, before[SEL])
    assert set(src.take_changes()[1].tolist()) >= set(SEL.tolist())  # the map re-reads their priority
    with pytest.raises(ValueError, match="out of range"):
        src.scale_priorities([60], 2.0)
    src.detach()


def test_tianshou_prioritized_buffer_changes_exactly_the_selected_slots():
    from tianshou.data import Batch, PrioritizedReplayBuffer
    from tianshou.data import ReplayBuffer as TSReplayBuffer

    from better_rl_widget.adapters.tianshou import TianshouBufferSource

    buf = PrioritizedReplayBuffer(64, alpha=0.6, beta=0.4)
    src = TianshouBufferSource(buf)
    for i in range(60):
        buf.add(Batch(obs=np.full(4, i, np.float32), act=0, rew=0.0, terminated=False, truncated=False,
                      obs_next=np.zeros(4, np.float32), info={}))
    buf.update_weight(np.arange(60), np.linspace(0.1, 3.0, 60))
    before = np.asarray(buf.weight[np.arange(60)]).copy()
    src.scale_priorities(SEL, 2.5)
    _assert_scaled(before, np.asarray(buf.weight[np.arange(60)]), SEL, 2.5, rtol=1e-9)
    src.detach()
    plain = TianshouBufferSource(TSReplayBuffer(8))
    with pytest.raises(TypeError, match="not prioritized"):
        plain.scale_priorities([0], 2.0)
