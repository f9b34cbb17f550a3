"""The live map at real scale: any buffer capacity (a bounded sample), memory bounded by the map, the cost governor,
and the settled final map."""

from __future__ import annotations

import time

import numpy as np
import pytest

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook
from better_rl_widget.capture.governor import CostGovernor
from better_rl_widget.embed.quality import knn_preservation_of


class FramesOnRead:
    """A 1M-slot ring of 4×84×84 uint8 frame stacks that makes each frame when read (28 GB if stored)."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self.total_inserted = 0

    def read(self, slots, fields=None):
        slots = np.asarray(slots, np.int64)
        n = len(slots)
        obs = np.zeros((n, 4, 84, 84), np.uint8)
        for i, s in enumerate(slots.tolist()):  # a bright square whose place depends on the slot
            y, x = (s * 7) % 76, (s * 13) % 76
            obs[i, :, y:y + 8, x:x + 8] = 200
        out = {"obs": obs, "next_obs": obs, "action": slots % 4, "reward": np.ones(n, np.float32),
               "terminated": np.zeros(n, bool), "truncated": np.zeros(n, bool), "step": slots.astype(np.uint32),
               "episode": (slots // 100).astype(np.uint32), "episode_step": (slots % 100).astype(np.uint32)}
        return {k: out[k] for k in (fields or out)}


def blobs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(6, 8))
    return (centres[rng.integers(6, size=n)] + rng.normal(size=(n, 8))).astype(np.float32)


def test_a_million_slot_image_buffer_is_drawn_from_a_bounded_sample():
    src = FramesOnRead()
    w = BufferWidget()
    hook = TrainingHook(w, src, max_points=500, worker="thread", projection="pca", every=50, settle_s=0)
    for _ in range(20_000):
        src.total_inserted += 1
        hook.on_step()
    assert hook.flush(120)
    mirror = hook.worker.mirror
    # Everything behind the hook is sized by the map: 500 frames (14 MB), not a million (28 GB).
    assert mirror.obs.shape == (500, 4, 84, 84) and hook.worker.frame_state.capacity == 500
    assert 0.9 * 500 <= w.n_points <= 500
    assert w.status["map"]["capacity"] == 1_000_000 and w.status["map"]["resident"] == 20_000
    assert w.gauge["size"] == 20_000  # the gauge still describes the whole buffer
    # Clicking a drawn point inspects its buffer slot's frame; the selection comes back as buffer slots.
    lane = int(hook.worker.frame_state.present_slots()[0])
    slot = int(w.buffer_slots(np.array([lane]))[0])
    meta, obs = mirror.inspect(lane)
    assert meta["buffer_slot"] == slot and np.array_equal(obs, src.read([slot], ("obs",))["obs"][0])
    hook.close()


def test_sb3_default_million_slot_buffer_gets_a_tsne_map():
    sb3 = pytest.importorskip("stable_baselines3")
    from better_rl_widget.adapters.sb3 import BetterRLCallback

    model = sb3.DQN("MlpPolicy", "CartPole-v1", seed=0)  # SB3's defaults: buffer_size=1_000_000
    w = BufferWidget()
    cb = BetterRLCallback(w, settle_s=5)
    model.learn(2500, callback=cb)
    st = w.status
    assert st["map"]["capacity"] == 1_000_000 and st["map"]["sampled_by"] == "age"
    assert st["projection"] == "auto" and st["engine"]["phase"] not in ("pca", "")
    assert not any("t-SNE off" in n for n in st.get("notes", []))
    assert 500 <= w.n_points <= 2000 and not w.errors


def test_the_map_settles_when_training_ends():
    def run(settle_s: float) -> tuple[float, dict]:
        X = blobs(2500)
        buf = ReplayBuffer(5000, seed=0)
        w = BufferWidget()
        hook = TrainingHook(w, buf, worker="thread", max_points=2500, settle_s=settle_s, every=100)
        for x in X:
            buf.add(x, 0, 0.0, x, False)
            hook.on_step()
        hook.close()
        lanes, Z, xy = hook.worker.embedding_snapshot()
        return knn_preservation_of(Z, xy, k=10, sample=None), w.status

    raw, st_raw = run(0)
    settled, st = run(60)
    assert st["settle"]["done"] is True and st["settle"]["progress"] == 1.0
    assert st["engine"]["phase"] != "exaggeration"
    assert "settle" not in st_raw
    assert settled > raw + 0.2, (raw, settled)  # measured here: 0.04 -> 0.44


class FakeClocks:
    """Scripted CPU clocks for the governor: training earns CPU as time passes, frames spend it."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.map = 0.0
        self.train = 0.0

    def __call__(self):
        return self.wall, self.map, self.train


def test_governor_keeps_the_map_within_its_budget(monkeypatch):
    g = CostGovernor(0.05)
    clk = FakeClocks()
    monkeypatch.setattr(g, "_clocks", clk)
    frames = 0
    for _ in range(1000):  # 100 s: training uses 2 cores; a frame costs 0.2 CPU-s
        clk.wall += 0.1
        clk.train += 0.2
        if g.wait_s() == 0.0:
            g.begin_frame()
            clk.map += 0.2
            g.end_frame()
            frames += 1
    # 5 % of 200 CPU-s of training = 10 CPU-s of map = 50 frames (plus the credit of one or two)
    assert 45 <= frames <= 53
    assert g.cost is not None and abs(g.cost - 0.05) < 0.02
    assert g.frame_cpu_s() == pytest.approx(0.05 * 2.0, rel=0.05)  # one frame a second would fit in 0.1 CPU-s


def test_governor_waits_while_training_is_idle(monkeypatch):
    g = CostGovernor(0.05)
    clk = FakeClocks()
    monkeypatch.setattr(g, "_clocks", clk)
    g.update()
    g.begin_frame()
    clk.map += 0.5
    g.end_frame()
    clk.wall += 10  # no training CPU: no credit, so no frames
    assert g.wait_s() > 0


def busy_training(hook: TrainingHook, buf: ReplayBuffer, seconds: float) -> int:
    """A CPU-bound 'training' loop: each step does some numpy work; returns the steps done."""
    X = blobs(200_000, seed=1)
    a = np.random.default_rng(0).normal(size=(64, 64))
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        for _ in range(20):
            a = np.tanh(a @ a.T / 64.0)
        x = X[i % len(X)]
        buf.add(x, 0, 0.0, x, False)
        hook.on_step()
        i += 1
    return i


def test_the_governor_lowers_the_frame_rate_when_the_budget_is_small():
    out = {}
    for budget in (1.0, 0.01):
        buf = ReplayBuffer(20_000, seed=0)
        w = BufferWidget()
        hook = TrainingHook(w, buf, worker="thread", max_points=1500, cost_budget=budget, settle_s=0, every=20)
        busy_training(hook, buf, 8.0)
        hook.worker.governor.update()
        out[budget] = (w.status["frames_shown"], hook.worker.governor.cost)
        hook.close()
    (frames_hi, cost_hi), (frames_lo, cost_lo) = out[1.0], out[0.01]
    assert cost_lo is not None and cost_hi is not None
    assert frames_lo * 2 < frames_hi, out
    assert cost_lo < cost_hi and cost_lo < 0.05, out  # held near its 1 % budget (a frame's worth of slack)
