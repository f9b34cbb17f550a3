"""Replay counts and staleness: known answers from seeded samplers, resets on overwrite, the map's channels."""

import time

import numpy as np
import pytest
import torch

from better_rl_widget import ReplayBuffer, TrainingHook
from better_rl_widget.capture.prioritized import PrioritizedReplayBuffer
from better_rl_widget.capture.replay_counts import ReplayCounter, replay_stats, spearman
from better_rl_widget.frames.codec import decode
from better_rl_widget.frames.summary import build_summary

from .conftest import fill, keyframe_arrays


def _hand_count(capacity, batches):
    c = np.zeros(capacity, np.int64)
    for b in batches:
        for i in np.asarray(b).ravel():
            c[int(i)] += 1
    return c


@pytest.mark.parametrize("kind", [ReplayBuffer, PrioritizedReplayBuffer])
def test_reference_counts_equal_a_hand_count_and_reset_on_overwrite(kind):
    buf = kind(50, seed=3)
    fill(buf, 40)
    batches = [buf.sample(16)["indices"] for _ in range(30)]
    assert np.array_equal(buf.replay_counts.counts, _hand_count(50, batches))
    assert buf.replay_counts.counts.sum() == 16 * 30
    # staleness: batches since the last replay (a slot last drawn in batch k has 30 - (k+1))
    last = np.full(50, -1)
    for k, b in enumerate(batches):
        last[b] = k
    seen = last >= 0
    assert np.array_equal(buf.replay_counts.staleness(np.flatnonzero(seen)), 30 - (last[seen] + 1))
    # 20 more rows: slots 40..49 are new, 0..9 are overwritten: their counts start again at 0
    fill(buf, 20, start=40)
    expect = _hand_count(50, batches)
    expect[np.r_[40:50, 0:10]] = 0
    assert np.array_equal(buf.replay_counts.counts, expect)
    assert (buf.replay_counts.staleness(np.arange(10)) == 0).all()


def test_counter_ignores_padding_and_counts_repeats():
    c = ReplayCounter(4)
    c.sampled(np.array([0, 0, 3, -1, 7]))  # -1 / 7: padding or out of range, not counted
    assert c.counts.tolist() == [2, 0, 0, 1] and c.samples == 3


def test_stats_and_spearman_known_answers():
    s = replay_stats(np.array([0, 0, 1, 3, 5]))
    assert s["never"] == pytest.approx(0.4) and s["median"] == 1.0 and s["n"] == 5
    assert spearman(np.arange(10), np.arange(10) ** 2) == pytest.approx(1.0)
    assert spearman(np.arange(10), -np.arange(10)) == pytest.approx(-1.0)
    # ties averaged: equals scipy's
    from scipy.stats import spearmanr

    a = np.array([0, 0, 1, 1, 1, 2, 5, 5])
    b = np.array([0.1, 0.3, 0.2, 0.9, 0.5, 0.4, 0.8, 0.7])
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)


def test_counting_cost_per_sample_call_is_small():
    buf = ReplayBuffer(100_000, seed=0)
    idx = np.random.default_rng(0).integers(0, 100_000, size=(2000, 256))
    c = buf.replay_counts
    t0 = time.perf_counter()
    for b in idx:
        c.sampled(b)
    us = (time.perf_counter() - t0) / len(idx) * 1e6
    print(f"replay counting: {us:.1f} us per sample call of 256")
    assert us < 500  # generous on a shared machine; measured ~10 us


def test_map_carries_replays_and_staleness_channels(widget):
    buf = PrioritizedReplayBuffer(300, seed=0)
    with TrainingHook(widget, buf, every=1, max_points=100, copy_every_s=0.0) as hook:
        fill(buf, 300)
        hook.on_step()
        rng = np.random.default_rng(1)
        for _ in range(40):
            b = buf.sample(32)
            buf.update_priorities(b["indices"], rng.exponential(size=32))
        hook.on_step()
        assert hook.flush(30)
    meta, a = keyframe_arrays(widget)
    assert "replays" in meta["channels"] and "staleness" in meta["channels"]
    lanes = a["slots"].astype(np.int64)
    slots = hook.sample.slot_of(lanes)
    assert np.array_equal(a["replays"], buf.replay_counts.counts[slots].astype(np.float32))
    assert (a["staleness"] >= 0).all()
    summary_meta, arr = decode(widget.summary)
    assert summary_meta["fields"] == ["priority"]  # the influential list stays priority/TD-error
    rs = summary_meta["replays"]
    assert rs["of"] == "drawn" and rs["n"] == len(lanes)
    assert rs["never"] == pytest.approx(float(np.mean(a["replays"] == 0)))
    assert rs["median"] == pytest.approx(float(np.median(a["replays"])))
    assert arr["hist_replays_counts"].sum() == len(lanes)
    assert rs["spearman_priority"] == pytest.approx(spearman(a["priority"], a["replays"]))


def test_no_channel_before_training_samples(widget):
    buf = ReplayBuffer(100)
    with TrainingHook(widget, buf, every=1) as hook:
        fill(buf, 50)
        hook.on_step()
    meta, _ = keyframe_arrays(widget)
    assert "replays" not in meta["channels"]
    assert build_summary(widget.frame_state) is None


# -- adapters -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_envs", [1, 2])
def test_sb3_counts_equal_a_hand_count_of_its_seeded_sampler(n_envs):
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    from better_rl_widget import BufferWidget
    from better_rl_widget.adapters.sb3 import BetterRLCallback

    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    model = DQN("MlpPolicy", env, buffer_size=150, learning_starts=50, batch_size=16, seed=0, device="cpu")
    cb = BetterRLCallback(BufferWidget(), td_errors=False, every=5, max_fps=20, worker="thread")
    model.learn(200, callback=cb)
    src = cb.source
    rb = model.replay_buffer
    counter = src.replay_counts
    # during learn(): every gradient step's batch was counted (the ring wrapped, so some were reset since)
    assert model._n_updates > 0 and counter.samples == model._n_updates * 16
    # a seeded sampler, counted by hand: SB3 draws rows, then (in _get_samples) the env of each row
    counter.counts[:] = 0
    np.random.seed(123)  # noqa: NPY002 - the library samples from the global RNG
    hand = np.random.RandomState(123)
    expect = np.zeros(src.capacity, np.int64)
    upper = rb.buffer_size if rb.full else rb.pos
    for _ in range(25):
        batch = rb.sample(16)
        rows = hand.randint(0, upper, size=16)
        envs = hand.randint(0, n_envs, size=16)
        np.add.at(expect, rows * n_envs + envs, 1)
        # the sampled observations are those of the counted slots
        np.testing.assert_array_equal(batch.observations.numpy(), rb.observations[rows, envs])
    assert np.array_equal(counter.counts, expect)
    # adds overwrite rows (all envs), here across the ring's end: those slots start again at 0 before the next
    # batch is counted, and only they do
    rb.pos = rb.buffer_size - 1
    src._count_pos = rb.pos
    counter.counts[:] = 7
    obs = np.zeros((n_envs, 4), np.float32)
    for _ in range(2):
        rb.add(obs, obs, np.zeros((n_envs, 1)), np.zeros(n_envs), np.zeros(n_envs), [{}] * n_envs)
    written = np.r_[(rb.buffer_size - 1) * n_envs:rb.buffer_size * n_envs, 0:n_envs]
    np.random.seed(7)  # noqa: NPY002
    hand = np.random.RandomState(7)
    rb.sample(16)
    expect = np.full(src.capacity, 7, np.int64)
    expect[written] = 0
    np.add.at(expect, hand.randint(0, rb.buffer_size, size=16) * n_envs + hand.randint(0, n_envs, size=16), 1)
    assert np.array_equal(counter.counts, expect)
    src.detach()
    assert "_get_samples" not in rb.__dict__ and "add" not in rb.__dict__


def _torchrl_fill(rb, n):
    from tensordict import TensorDict

    obs = torch.arange(n * 4, dtype=torch.float32).reshape(n, 4)
    rb.extend(TensorDict({"observation": obs, "action": torch.zeros(n, dtype=torch.long),
                          "next": {"observation": obs, "reward": torch.zeros(n, 1),
                                   "terminated": torch.zeros(n, 1, dtype=torch.bool),
                                   "truncated": torch.zeros(n, 1, dtype=torch.bool),
                                   "done": torch.zeros(n, 1, dtype=torch.bool)}}, [n]))


def _torchrl_per(capacity):
    from torchrl.data import LazyTensorStorage, TensorDictPrioritizedReplayBuffer

    return TensorDictPrioritizedReplayBuffer(alpha=0.6, beta=0.4, storage=LazyTensorStorage(capacity), batch_size=16)


@pytest.mark.parametrize("prioritized", [False, True])
def test_torchrl_counts_equal_the_indices_it_returned(prioritized):
    from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - torchrl draws its masses from it
    rb = _torchrl_per(60) if prioritized else TensorDictReplayBuffer(storage=LazyTensorStorage(60), batch_size=16)
    src = TorchRLBufferSource(rb)
    assert src.replay_counts is not None
    _torchrl_fill(rb, 50)
    drawn = [rb.sample()["index"].numpy() for _ in range(30)]
    assert np.array_equal(src.replay_counts.counts, _hand_count(60, drawn))
    _torchrl_fill(rb, 20)  # slots 50..59 new, 0..9 overwritten
    expect = _hand_count(60, drawn)
    expect[np.r_[50:60, 0:10]] = 0
    assert np.array_equal(src.replay_counts.counts, expect)
    src.detach()


@pytest.mark.parametrize("prioritized", [False, True])
def test_tianshou_counts_equal_the_indices_it_returned(prioritized):
    from tianshou.data import Batch, PrioritizedReplayBuffer
    from tianshou.data import ReplayBuffer as TSReplayBuffer

    from better_rl_widget.adapters.tianshou import TianshouBufferSource

    np.random.seed(0)  # noqa: NPY002 - the library samples from the global RNG
    buf = PrioritizedReplayBuffer(60, alpha=0.6, beta=0.4) if prioritized else TSReplayBuffer(60)
    src = TianshouBufferSource(buf)

    def add(n, start):
        for i in range(start, start + n):
            buf.add(Batch(obs=np.full(4, i, np.float32), act=0, rew=0.0, terminated=False, truncated=False,
                          obs_next=np.zeros(4, np.float32), info={}))

    add(50, 0)
    drawn = [buf.sample(16)[1] for _ in range(30)]
    assert np.array_equal(src.replay_counts.counts, _hand_count(60, drawn))
    add(20, 50)
    expect = _hand_count(60, drawn)
    expect[np.r_[50:60, 0:10]] = 0
    assert np.array_equal(src.replay_counts.counts, expect)
    src.detach()
    assert "sample_indices" not in buf.__dict__
