"""The reference buffers never change a value silently, and a closed hook never loses rows without a word."""

import logging

import numpy as np
import pytest

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook
from better_rl_widget.capture.mirror import BufferMirror
from better_rl_widget.capture.prioritized import PrioritizedReplayBuffer, SumTree
from better_rl_widget.frames.codec import decode

from .conftest import fill


def _row(obs, reward=0.0, action=0):
    return (obs, action, reward, obs, False)


# -- ReplayBuffer.add: a row that cannot be stored exactly is refused, whole ----------------------------------
@pytest.mark.parametrize(("first", "bad", "match"), [
    (np.zeros(3, np.int64), np.array([0.0, np.nan, 0.0]), r"obs\[1\] = nan .*int64 observations \(not finite"),
    (np.zeros(3, np.uint8), np.array([0.0, 0.5, 0.0]), r"obs\[1\] = 0\.5 .*uint8 observations .*fractional"),
    (np.zeros(3, np.uint8), np.array([0, 300, 0]), r"obs\[1\] = 300 .*uint8 observations .*range \[0, 255\]"),
    (np.zeros(3, np.float32), np.array([0.0, 1e39, 0.0]), r"obs\[1\] = 1e\+39 .*float32 observations .*inf"),
])
def test_add_refuses_observations_its_dtype_cannot_hold(first, bad, match):
    b = ReplayBuffer(4)
    b.add(*_row(first))
    with pytest.raises(ValueError, match=match):
        b.add(*_row(bad))
    assert b.total_inserted == 1 and b.read(np.array([1]))["obs"].sum() == 0  # nothing of the row was written


def test_float_buffers_keep_nan_observations_and_round_float64():
    b = ReplayBuffer(4)
    b.add(*_row(np.zeros(2, np.float32)))
    b.add(*_row(np.array([np.nan, 0.1])))  # NaN is stored as given: the live map skips and counts it
    got = b.read(np.array([1]))["obs"][0]
    assert np.isnan(got[0]) and got[1] == np.float32(0.1)


@pytest.mark.parametrize("reward", [1e39, -1e39, np.nan, np.inf])
def test_add_refuses_rewards_float32_cannot_hold(reward):
    b = ReplayBuffer(4)
    b.add(*_row(np.zeros(2), reward=1.5))
    with pytest.raises(ValueError, match=r"reward = .*float32"):
        b.add(*_row(np.ones(2), reward=reward))
    assert b.total_inserted == 1 and b.read(np.array([0]))["reward"][0] == 1.5


def test_a_refused_row_leaves_the_slot_it_would_overwrite_intact():
    b = ReplayBuffer(2)
    b.add(np.ones(2), np.zeros(2), 1.0, np.ones(2), False)
    b.add(np.ones(2), np.zeros(2), 1.0, np.ones(2), False)
    with pytest.raises(ValueError, match="action has shape"):  # slot 0 is next: obs must not be written first
        b.add(np.full(2, 7.0), np.zeros(3), 1.0, np.full(2, 7.0), False)
    np.testing.assert_array_equal(b.read(np.array([0]))["obs"], [[1.0, 1.0]])
    b.add(np.ones(2), np.zeros((1, 2)), 1.0, np.ones(2), False)  # same values, other nesting: stored
    assert b.total_inserted == 3


def test_add_refuses_object_observations_and_fractional_int_actions():
    b = ReplayBuffer(4)
    with pytest.raises(ValueError, match=r"dtype object.*numbers"):
        b.add(np.array([np.zeros(2), np.zeros(3)], dtype=object), 0, 0.0, np.zeros(2), False)
    b.add(np.zeros(2), 1, 0.0, np.zeros(2), False)
    with pytest.raises(ValueError, match=r"action = 0\.5 .*int64 actions"):
        b.add(np.zeros(2), 0.5, 0.0, np.zeros(2), False)


def test_record_reports_a_row_the_mirror_cannot_store_instead_of_drawing_garbage():
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, every=1, max_fps=50)
    for t in range(10):
        o = np.array([t, -t, 2 * t], np.int64)  # integer observations set an int64 mirror
        hook.record(o, 0, 1.0, o, False, False)
    nan_obs = np.array([1.0, np.nan, 2.0])
    hook.record(nan_obs, 0, 1.0, nan_obs, False, False)  # must not raise into the loop
    hook.close()
    _, a = decode(w.keyframe)
    assert len(a["slots"]) == 10  # not an 11th point at -9.2e18
    assert any("obs[1] = nan" in e and "int64" in e for e in w.errors), w.errors


# -- PrioritizedReplayBuffer.update_priorities -----------------------------------------------------------------
def _per(n, capacity=100, **kw):
    buf = PrioritizedReplayBuffer(capacity, seed=0, **kw)
    for i in range(n):
        buf.add(np.full(2, i, np.float32), 0, 0.0, np.zeros(2, np.float32), False)
    return buf


def test_update_of_a_slot_never_written_is_refused_and_sampling_is_unchanged():
    buf = _per(51)
    with pytest.raises(ValueError, match=r"slots \[70\] hold no transition \(slots 0\.\.50 of 100"):
        buf.update_priorities([3, 70], [1.0, 100.0])
    counts = np.bincount(buf.sample(10_000)["indices"], minlength=51)
    assert counts.max() < 0.05 * 10_000  # uniform over 51 rows, not piled onto slot 50
    assert buf.take_changes()[1].size == 0  # nothing was re-prioritised


@pytest.mark.parametrize("slot", [-1, 100, 10**6])
def test_update_of_a_slot_outside_the_buffer_is_a_value_error_naming_it(slot):
    with pytest.raises(ValueError, match=rf"slots \[{slot}\] hold no transition"):
        _per(100).update_priorities([slot], [1.0])


def test_priorities_stay_float64_and_overflow_is_refused():
    buf = _per(10, alpha=0.6)
    buf.update_priorities([3, 4], [1e300, -2.0])  # a signed TD-error is fine: p = |δ| + ε
    p = buf.read(np.array([3, 4]), ("priority",))["priority"]
    assert np.isfinite(p).all() and p[0] == pytest.approx(1e180, rel=1e-9)
    assert p[1] == pytest.approx((2.0 + buf.eps) ** 0.6)
    big = _per(4, capacity=4, alpha=1.0)
    with pytest.raises(ValueError, match=r"priorities too large at slots \[1\]"):
        big.update_priorities([0, 1], [1.0, 1e308])  # four such slots would sum to inf
    assert np.isfinite(big.tree.total)
    with pytest.raises(ValueError, match=r"NaN or inf at slots \[2\]"):
        big.update_priorities([1, 2], [1.0, np.inf])


def test_sum_tree_names_the_leaves_it_refuses():
    t = SumTree(4)
    with pytest.raises(ValueError, match=r"got \[-1\] at leaves \[2\]"):
        t.update(np.array([0, 2]), np.array([1.0, -1.0]))


# -- after close() ---------------------------------------------------------------------------------------------
def test_rows_after_close_are_counted_and_reported_once(caplog):
    w = BufferWidget()
    buf = ReplayBuffer(100)
    hook = TrainingHook(w, buf, every=1, max_fps=50)
    fill(buf, 20)
    hook.close()
    assert w.errors == [] and hook.flush() is True  # nothing after close yet: nothing lost
    with caplog.at_level(logging.WARNING):
        for i in range(5):
            fill(buf, 1, start=20 + i)
            hook.on_step()  # must not raise
    hook.close()  # harmless a second time; refreshes the count
    assert hook.rows_after_close == 5 and w.status["rows_after_close"] == 5
    assert hook.flush() is False  # those rows are not on the map
    closed = [e for e in w.errors if "after hook.close()" in e]
    assert len(closed) == 1 and len(w.errors) == 1
    assert sum("after hook.close()" in r.getMessage() for r in caplog.records) == 1
    assert len(decode(w.keyframe)[1]["slots"]) == 20


def test_record_after_close_is_counted_and_other_uses_say_the_hook_is_closed():
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, every=1, max_fps=50)
    for t in range(10):
        hook.record(np.full(2, t, np.float32), 0, 0.0, np.zeros(2, np.float32), False, False)
    hook.close()
    for _ in range(3):
        hook.record(np.zeros(2, np.float32), 0, 0.0, np.zeros(2, np.float32), False, False)
    hook.capture()
    hook.close()
    assert hook.rows_after_close == 3 and w.status["rows_after_close"] == 3
    assert sum("after hook.close()" in e for e in w.errors) == 1
    with pytest.raises(RuntimeError, match="closed"):
        hook.run_in_background(lambda stop: None)


# -- the mirror's message for observations it cannot hold -----------------------------------------------------
def test_object_observations_get_a_message_that_says_what_is_wrong():
    m = BufferMirror(8)
    obs = np.empty(2, dtype=object)
    obs[0], obs[1] = np.zeros(2), np.zeros(3)  # ragged rows
    got = m.apply(np.array([0, 1]), {"obs": obs, "reward": np.zeros(2)})
    assert "cannot be mirrored" in got.error and "np.asarray(obs, np.float32)" in got.error
    assert "expected" not in got.error and got.rejected.tolist() == [0, 1]
    ok = m.apply(np.array([2]), {"obs": np.zeros((1, 4), np.float32), "reward": np.zeros(1)})
    assert ok.error == "" and ok.valid.tolist() == [2]  # numeric rows that follow are drawn
