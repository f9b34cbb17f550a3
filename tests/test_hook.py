import threading
import time

import numpy as np
import pytest

from better_rl_widget import ReplayBuffer, TrainingHook
from better_rl_widget.frames.codec import decode

from .conftest import browser_update, fill, from_browser, keyframe_arrays


def test_cartpole_5000_transitions_end_as_5000_points(widget):
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CartPole-v1")
    buf = ReplayBuffer(10_000, seed=0)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    # max_points above the rows inserted: every row is drawn (nothing sampled, nothing lost)
    with TrainingHook(widget, buf, every=7, max_points=5000) as hook:
        for _t in range(5000):
            a = env.action_space.sample()
            nxt, r, term, trunc, _ = env.step(a)
            buf.add(obs, a, r, nxt, term, trunc)
            hook.on_step()
            obs = env.reset()[0] if (term or trunc) else nxt
    _meta, a = keyframe_arrays(widget)
    assert len(a["slots"]) == 5000 == widget.n_points
    assert sorted(a["slots"].tolist()) == list(range(5000))
    assert sorted(a["step"].tolist()) == list(range(5000))
    assert np.isfinite(a["x"]).all() and np.isfinite(a["y"]).all()
    assert a["episode"].max() == buf.read(np.arange(5000))["episode"].max()
    assert widget.gauge["size"] == 5000 and widget.gauge["total_inserted"] == 5000
    assert widget.status["running"] is False and widget.errors == []


def test_deltas_replayed_by_a_view_equal_the_keyframe(widget, view):
    buf = ReplayBuffer(300)
    hook = TrainingHook(widget, buf, every=5, max_fps=50)
    for chunk in range(6):  # wraps the ring twice: evictions reuse slots
        fill(buf, 150, seed=chunk, start=chunk * 150)
        hook.on_step(chunk * 10)  # a multiple of every=5, so it captures
        hook.flush()
    hook.close()
    view.sync()
    _meta, a = keyframe_arrays(widget)
    assert len(view.deltas) >= 3
    truth = {int(s): (float(a["x"][i]), float(a["y"][i]), int(a["step"][i])) for i, s in enumerate(a["slots"])}
    assert view.rows == truth and len(truth) == 300
    assert min(step for *_, step in truth.values()) == 900 - 300  # only the newest 300 insertions are drawn
    assert widget.gauge["evictions"] == 600


def test_delta_payload_is_small_when_little_changes(widget, view):
    buf = ReplayBuffer(20_000)
    hook = TrainingHook(widget, buf, every=1, max_fps=100, projection="pca")  # PCA: kept points stay put
    fill(buf, 20_000)
    hook.flush()
    fill(buf, 200, start=20_000)  # 1% of the buffer replaced
    hook.flush()
    hook.close()
    full = len(widget.keyframe)
    _meta, last = decode(view.deltas[-1])
    assert len(last["slots"]) <= 200 + 32  # PCA keeps kept points still: only new rows move
    assert len(view.deltas[-1]) < 0.05 * full


def test_worker_keeps_newest_when_behind(widget):
    buf = ReplayBuffer(50)
    hook = TrainingHook(widget, buf, every=1, max_fps=0.5)  # worker far slower than the loop
    for i in range(10):
        fill(buf, 50, seed=i, start=50 * i)
        hook.on_step()
    hook.close()
    _, a = keyframe_arrays(widget)
    assert sorted(a["step"].tolist()) == list(range(450, 500))
    assert widget.status["frames_dropped"] >= 1


def test_non_finite_observations_are_skipped_and_counted(widget):
    buf = ReplayBuffer(100)
    fill(buf, 40)
    bad = np.array([np.nan, 0, 0, 0], np.float32)
    buf.add(bad, 0, 0.0, bad, False)
    buf.add(np.array([np.inf, 1, 1, 1], np.float32), 0, 0.0, bad, False)
    fill(buf, 10, start=42)
    with TrainingHook(widget, buf) as hook:
        hook.flush()
    _, a = keyframe_arrays(widget)
    assert len(a["slots"]) == 50 and 40 not in a["slots"] and 41 not in a["slots"]
    assert widget.status["nan_skipped"] == 2
    assert np.isfinite(a["x"]).all()


class ShapeShiftingBuffer:
    """A user's own buffer whose observation width changes mid-run (e.g. a wrapper toggled)."""

    def __init__(self):
        self.capacity = 100
        self.total_inserted = 0
        self.rows: list[np.ndarray] = []

    def add(self, obs):
        self.rows.append(np.asarray(obs, np.float32))
        self.total_inserted += 1

    def read(self, slots, fields=None):
        obs = np.stack([self.rows[s] for s in slots])
        n = len(slots)
        return {"obs": obs, "action": np.zeros(n, np.int64), "reward": np.zeros(n, np.float32),
                "terminated": np.zeros(n, bool), "truncated": np.zeros(n, bool), "step": np.asarray(slots),
                "episode": np.zeros(n, np.int64), "episode_step": np.asarray(slots)}


def test_shape_change_mid_run_is_reported_with_slot_and_shapes(widget):
    buf = ShapeShiftingBuffer()
    hook = TrainingHook(widget, buf, every=1)
    for _ in range(20):
        buf.add(np.ones(4))
    hook.on_step()
    hook.flush()
    for _ in range(5):
        buf.add(np.ones(6))
    hook.on_step()  # must not raise
    hook.close()
    assert any("slot(s) 20" in e and "(6,)" in e and "(4,)" in e for e in widget.errors), widget.errors
    assert "shape" in widget.status["last_error"]
    assert widget.n_points == 20


def test_empty_buffer_gives_an_empty_map_without_errors(widget):
    buf = ReplayBuffer(10)
    with TrainingHook(widget, buf) as hook:
        for _ in range(30):
            hook.on_step()
        hook.flush()
    _meta, a = keyframe_arrays(widget)
    assert len(a["slots"]) == 0 and widget.gauge["size"] == 0 and widget.gauge["capacity"] == 10
    assert widget.errors == []


@pytest.mark.parametrize("n", [1, 2])
def test_one_or_two_points_are_drawn(widget, n):
    buf = ReplayBuffer(10)
    fill(buf, n)
    with TrainingHook(widget, buf) as hook:
        hook.flush()
    _, a = keyframe_arrays(widget)
    assert len(a["slots"]) == n and np.isfinite(a["x"]).all()
    assert widget.errors == []


class ExplodingBuffer(ReplayBuffer):
    def read(self, slots, fields=None):
        raise RuntimeError("storage went away")


def test_capture_errors_never_reach_the_training_loop(widget):
    buf = ExplodingBuffer(10)
    fill(buf, 5)
    hook = TrainingHook(widget, buf, every=1)
    for _ in range(5):
        hook.on_step()  # must not raise
    hook.close()
    assert len(widget.errors) == 1  # the same error is reported once, not per step
    assert "storage went away" in widget.status["last_error"]


class BrokenProjection:
    name = "broken"

    def add(self, slots, features):
        raise ValueError("projection exploded")

    def remove(self, slots):
        pass

    def step(self, budget_s):
        raise ValueError("projection exploded")


def test_worker_exceptions_go_to_the_status_line(widget):
    buf = ReplayBuffer(10)
    fill(buf, 5)
    hook = TrainingHook(widget, buf, projection=BrokenProjection())
    hook.flush()
    fill(buf, 5, start=5)
    hook.flush()
    hook.close()
    assert "projection exploded" in widget.status["last_error"]
    assert hook.worker._thread.is_alive() is False  # stopped by close(), not by the error
    # a failed frame's rows get one more frame, then are given up and named (no retry loop); nothing else failed
    exploded = [e for e in widget.errors if "projection exploded" in e]
    assert 2 <= len(exploded) <= 8
    assert all(e in exploded or "rows may be missing from the map" in e for e in widget.errors)
    assert any("rows may be missing from the map" in e for e in widget.errors)


def test_hook_rejects_what_it_cannot_stream(widget):
    with pytest.raises(TypeError, match="lacks"):
        TrainingHook(widget, object())
    with pytest.raises(ValueError, match="every"):
        TrainingHook(widget, ReplayBuffer(3), every=0)
    with pytest.raises(ValueError, match="unknown projection"):
        TrainingHook(widget, ReplayBuffer(3), projection="umap")


def test_click_is_answered_with_the_slot_contents(widget):
    buf = ReplayBuffer(20)
    fill(buf, 10)
    hook = TrainingHook(widget, buf)
    hook.flush()
    seen = []
    widget.on_click(seen.append)
    browser_update(widget, clicked=3)
    meta, a = decode(widget.inspection)
    expected = buf.read(np.array([3]))
    assert meta["slot"] == 3 and meta["present"] and meta["step"] == 3 and meta["obs_layout"] == "vector"
    np.testing.assert_allclose(a["obs"], expected["obs"][0])
    assert meta["action"] == int(expected["action"][0]) and meta["reward"] == float(expected["reward"][0])
    assert seen == [3]
    browser_update(widget, clicked=15)  # never written
    meta, a = decode(widget.inspection)
    assert meta["present"] is False and "obs" not in a
    hook.close()


def test_image_inspection_layouts(widget):
    buf = ReplayBuffer(5)
    frame = np.arange(4 * 84 * 84, dtype=np.uint32).reshape(4, 84, 84).astype(np.uint8)
    buf.add(frame, 1, 1.0, frame, False)
    with TrainingHook(widget, buf) as hook:
        hook.flush()
    browser_update(widget, clicked=0)
    meta, a = decode(widget.inspection)
    assert meta["obs_layout"] == "CHW" and a["obs"].shape == (4, 84, 84)
    np.testing.assert_array_equal(a["obs"], frame.astype(np.float32))


def test_selection_arrives_as_uint32_and_fires_callbacks(widget):
    got = []
    widget.on_select(got.append)
    slots = np.array([4, 8, 15, 16], np.uint32)
    browser_update(widget, selection_bytes=slots.tobytes())
    assert widget.selection.dtype == np.uint32
    np.testing.assert_array_equal(widget.selection, slots)
    np.testing.assert_array_equal(got[0], slots)
    assert widget.status["selected"] == 4


def test_callback_errors_are_shown_not_raised(widget):
    def bad(_):
        raise KeyError("oops")

    widget.on_select(bad)
    browser_update(widget, selection_bytes=np.array([1], np.uint32).tobytes())
    assert "oops" in widget.status["last_error"]


def test_keyframe_request_refreshes_the_trait(widget):
    buf = ReplayBuffer(20)
    fill(buf, 10)
    hook = TrainingHook(widget, buf, max_fps=100)
    hook.flush()
    before = widget.keyframe
    from_browser(widget, {"method": "custom", "content": {"type": "request_keyframe", "seq": 0}})
    assert widget.keyframe_requests == 1 and widget.keyframe != before
    _meta, a = decode(widget.keyframe)
    assert len(a["slots"]) == 10
    hook.close()


def test_background_run_keeps_training_off_the_kernel_thread(widget):
    buf = ReplayBuffer(1000)
    hook = TrainingHook(widget, buf, every=10)
    started = threading.Event()

    def train(stop):
        i = 0
        started.set()
        while not stop.is_set() and i < 100_000:
            fill(buf, 1, seed=i, start=i)
            hook.on_step()
            i += 1
            time.sleep(0.0005)
        return i

    run = hook.run_in_background(train)
    started.wait(5)
    time.sleep(0.3)
    assert not run.done
    run.stop()
    steps = run.join(10)
    assert run.done and 0 < steps < 100_000
    assert widget.status["running"] is False and widget.n_points == min(steps, 1000)


def test_background_run_errors_are_shown_and_reraised(widget):
    hook = TrainingHook(widget, ReplayBuffer(10))

    def train(stop):
        raise RuntimeError("diverged")

    run = hook.run_in_background(train)
    with pytest.raises(RuntimeError, match="diverged"):
        run.join(10)
    assert "diverged" in widget.status["last_error"]


def test_a_view_that_joins_late_recovers_through_a_keyframe_request(widget):
    from better_rl_widget.frames.codec import decode as _decode

    buf = ReplayBuffer(500)
    sent: list[bytes] = []
    original = widget.send
    widget.send = lambda content, buffers=None: (sent.append(bytes(buffers[0])), original(content, buffers))
    hook = TrainingHook(widget, buf, every=1, max_fps=100)
    fill(buf, 100)
    hook.flush()
    stale_keyframe = widget.keyframe  # what a view opened now would read first
    for chunk in range(3):
        fill(buf, 50, seed=chunk + 1, start=100 + 50 * chunk)
        hook.flush()
    # the late view holds the stale keyframe and sees the newest delta: a gap, so it asks for a keyframe
    kmeta, _ = _decode(stale_keyframe)
    dmeta, _ = _decode(sent[-1])
    assert dmeta["seq"] > kmeta["seq"] + 1
    from_browser(widget, {"method": "custom", "content": {"type": "request_keyframe", "seq": kmeta["seq"]}})
    meta, a = _decode(widget.keyframe)
    assert meta["seq"] >= dmeta["seq"] and len(a["slots"]) == 250
    hook.close()


def test_flush_and_close_place_every_row_with_the_live_tsne(widget):
    """A burst far above what one t-SNE frame places: flush() must still return with every row on the map."""
    from better_rl_widget.embed import make_projection

    buf = ReplayBuffer(2000)
    proj = make_projection("tsne", 2000, 0)
    proj.max_place_per_step = 200  # force several frames' worth of pending rows
    hook = TrainingHook(widget, buf, every=1, projection=proj, max_points=5000)  # every row drawn
    fill(buf, 1200)
    hook.on_step()
    assert hook.flush(120)
    assert widget.n_points == 1200
    hook.close()
    _, a = keyframe_arrays(widget)
    assert len(a["slots"]) == 1200 and np.isfinite(a["x"]).all()


def copies_over_steps(hook, buf, n):
    """The batches the hook hands its worker while ``n`` rows are added, one ``on_step()`` each."""
    copies = []
    submit = hook.worker.submit
    hook.worker.submit = lambda batch: (copies.append(batch), submit(batch))[1]
    for t in range(n):
        fill(buf, 1, seed=t, start=t)
        hook.on_step()
    return copies


def test_copies_are_at_most_every_copy_every_s_but_never_let_the_ring_lap(widget):
    """Copying every ``every`` steps only spent training time (frames come about once a second): a copy waits for
    ``copy_every_s``, except when half the buffer was written since the last one, so no row is overwritten
    before it is copied."""
    buf = ReplayBuffer(200)
    hook = TrainingHook(widget, buf, every=1, copy_every_s=3600.0)
    copies = copies_over_steps(hook, buf, 1000)
    # the first step copies; then one copy each time 100 rows (half of 200) were written since the last
    assert len(copies) == 1 + (1000 - 1) // 100
    copied = np.concatenate([b.slots for b in copies])
    assert len(np.unique(copied)) == 200  # every slot was copied at least once
    assert hook.flush()
    hook.close()
    _meta, a = keyframe_arrays(widget)
    assert sorted(a["step"].tolist()) == list(range(800, 1000))  # the newest 200 rows, none lost


def test_copy_every_s_zero_copies_every_every_steps(widget):
    buf = ReplayBuffer(1000)
    hook = TrainingHook(widget, buf, every=5, copy_every_s=0.0)
    assert len(copies_over_steps(hook, buf, 100)) == 20
    hook.close()
