"""``BufferWidget.selection_dataset()``: exactly the selected rows, as arrays or a DataFrame."""

import numpy as np
import pytest

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.capture.prioritized import PrioritizedReplayBuffer

from .conftest import browser_update, fill


def _select(widget, points):
    browser_update(widget, selection_bytes=np.asarray(points, "<u4").tobytes())


@pytest.mark.parametrize("max_points", [1000, 50])  # every slot drawn / a sample of a larger buffer
def test_selection_dataset_returns_exactly_the_selected_rows(widget, max_points):
    buf = PrioritizedReplayBuffer(200, seed=0)
    with TrainingHook(widget, buf, every=1, max_points=max_points) as hook:
        fill(buf, 150)
        for _ in range(10):
            b = buf.sample(16)
            buf.update_priorities(b["indices"], np.abs(b["reward"]) + 0.5)
        hook.on_step()
        assert hook.flush(30)
    points = np.flatnonzero(widget.frame_state.present_mask())[[0, 3, 7, 11]]
    _select(widget, points)
    slots = widget.selection.astype(np.int64)
    assert len(slots) == 4
    d = widget.selection_dataset()
    assert d["slot"].tolist() == slots.tolist() and d["point"].tolist() == points.tolist()
    truth = buf.read(slots)
    np.testing.assert_array_equal(d["obs"], truth["obs"])
    np.testing.assert_array_equal(d["action"], truth["action"])
    np.testing.assert_array_equal(d["reward"], truth["reward"])
    np.testing.assert_array_equal(d["episode"], truth["episode"])
    np.testing.assert_array_equal(d["step"], truth["step"])
    np.testing.assert_array_equal(d["done"], truth["terminated"] | truth["truncated"])
    np.testing.assert_allclose(d["priority"], buf.priorities(slots), rtol=1e-6)
    np.testing.assert_array_equal(d["replays"], buf.replay_counts.counts[slots])
    assert d["obs"].dtype == truth["obs"].dtype and d["obs"].shape == (4, 4)
    df = widget.selection_dataset(as_frame=True)
    assert df["slot"].tolist() == slots.tolist() and len(df) == 4
    np.testing.assert_array_equal(np.stack(df["obs"].to_numpy()), truth["obs"])


def test_nothing_selected_or_no_live_map_is_a_clear_error(widget):
    buf = PrioritizedReplayBuffer(20)
    with TrainingHook(widget, buf, every=1) as hook:
        fill(buf, 10)
        hook.on_step()
        assert hook.flush(30)
    with pytest.raises(ValueError, match="nothing is selected"):
        widget.selection_dataset()
    fresh = BufferWidget()
    _select(fresh, [0])
    with pytest.raises(RuntimeError, match="TrainingHook"):
        fresh.selection_dataset()
