import numpy as np
import pytest
from scipy.stats import chisquare

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.capture.prioritized import PrioritizedReplayBuffer, SumTree
from better_rl_widget.frames.codec import decode


def test_sum_tree_sums_and_finds_prefix_ranges():
    t = SumTree(5)
    t.update(np.arange(5), [1.0, 2.0, 3.0, 4.0, 0.0])
    assert t.total == pytest.approx(10.0)
    # cumulative [0,1) → 0, [1,3) → 1, [3,6) → 2, [6,10) → 3; leaf 4 has zero mass and is never found
    got = t.find(np.array([0.0, 0.99, 1.0, 2.5, 3.0, 5.99, 6.0, 9.99]))
    assert got.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    t.update(np.array([1, 1]), np.array([5.0, 7.0]))  # duplicates: the last write wins
    assert t.total == pytest.approx(15.0) and t[np.array([1])][0] == 7.0


def test_sampling_proportions_match_priorities():
    rng = np.random.default_rng(0)
    prio = rng.uniform(0.1, 5.0, size=37)  # not a power of two: padding leaves must never be drawn
    t = SumTree(len(prio))
    t.update(np.arange(len(prio)), prio)
    n = 200_000
    idx = t.find(rng.random(n) * t.total)
    counts = np.bincount(idx, minlength=len(prio))
    assert counts.sum() == n and len(counts) == len(prio)
    expected = n * prio / prio.sum()
    stat, p = chisquare(counts, expected)
    assert p > 0.001, (stat, p)
    # and a clearly wrong hypothesis (uniform) is rejected by the same test
    assert chisquare(counts, np.full(len(prio), n / len(prio)))[1] < 1e-6


def test_per_buffer_samples_by_priority_with_importance_weights():
    buf = PrioritizedReplayBuffer(8, alpha=1.0, beta=1.0, eps=1e-6, seed=0)
    for i in range(8):
        buf.add(np.full(2, i, np.float32), i % 2, 0.0, np.zeros(2, np.float32), False)
    buf.update_priorities(np.arange(8), np.array([1, 1, 1, 1, 1, 1, 1, 9.0]))
    b = buf.sample(20_000)
    freq = np.bincount(b["indices"], minlength=8) / 20_000
    assert freq[7] == pytest.approx(9 / 16, abs=0.02) and freq[0] == pytest.approx(1 / 16, abs=0.01)
    # beta = 1 fully corrects: weight ∝ 1/P, normalised so the largest is 1 (the rarest slot)
    w7 = b["weights"][b["indices"] == 7][0]
    w0 = b["weights"][b["indices"] == 0][0]
    assert w0 == pytest.approx(1.0) and w7 == pytest.approx(1 / 9, rel=1e-4)
    written, rep = buf.take_changes()
    assert written.tolist() == list(range(8)) and rep.tolist() == list(range(8))
    assert [len(x) for x in buf.take_changes()] == [0, 0]  # cost ∝ what changed since the last call


def test_per_rejects_bad_updates():
    buf = PrioritizedReplayBuffer(4)
    buf.add(np.zeros(2), 0, 0.0, np.zeros(2), False)
    with pytest.raises(ValueError, match="NaN"):
        buf.update_priorities([0], [np.nan])
    with pytest.raises(ValueError, match="same length"):
        buf.update_priorities([0, 1], [1.0])


def test_reprioritised_old_slots_reach_the_widget_without_recopying_rows():
    w = BufferWidget()
    buf = PrioritizedReplayBuffer(50, alpha=1.0, eps=1e-6, seed=0)
    hook = TrainingHook(w, buf, every=1, max_fps=50)
    for i in range(50):
        buf.add(np.array([i, -i], np.float32), 0, 1.0, np.zeros(2, np.float32), False)
    hook.flush()
    buf.update_priorities(np.array([3, 40]), np.array([7.0, 2.0]))
    hook.on_step()
    hook.close()
    _, a = decode(w.keyframe)
    by_slot = dict(zip(a["slots"].tolist(), a["priority"].tolist(), strict=True))
    assert by_slot[3] == pytest.approx(7.0, rel=1e-5) and by_slot[40] == pytest.approx(2.0, rel=1e-5)
    assert by_slot[0] == pytest.approx(1.0)  # untouched slots keep the initial max priority
    meta, s = decode(w.summary)
    assert meta["fields"] == ["priority"] and s["top_priority_slots"][:2].tolist() == [3, 40]
    assert s["hist_priority_counts"].sum() == 50
