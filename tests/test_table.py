"""BufferWidget.table(): the map as a DataFrame, one row per drawn point, equal to what the view is sent."""

import numpy as np
import pandas as pd

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook
from better_rl_widget.frames.snapshot import MapSnapshot

from .conftest import fill, keyframe_arrays

BASE = ["point", "slot", "x", "y", "step", "episode", "action", "reward", "done"]


def _no_inspect(slot):
    return {"slot": slot, "present": False}, None


def test_empty_widget_gives_an_empty_frame_with_the_columns():
    fresh = BufferWidget()
    attached = BufferWidget()
    attached.attach(16, _no_inspect)
    for widget in (fresh, attached):
        table = widget.table()
        assert isinstance(table, pd.DataFrame)
        assert list(table.columns) == BASE and len(table) == 0


def test_known_frame_gives_exactly_its_points_coordinates_and_channels():
    widget = BufferWidget()
    fs = widget.attach(10, _no_inspect)
    slots = np.array([7, 2, 5])
    fs.upsert(slots, {"step": np.array([70, 20, 50]), "episode": np.array([3, 1, 2]),
                      "action": np.array([1, 0, 1]), "reward": np.array([0.5, -1.0, 2.0]),
                      "done": np.array([0, 1, 0]), "td_error": np.array([0.25, -0.75, 1.5])})
    fs.set_coords(slots, np.array([[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]], np.float32))
    fs.upsert(np.array([9]), {"step": np.array([90])})  # no coordinates yet: not drawn, not in the table

    table = widget.table()
    assert list(table.columns) == BASE + ["td_error"]
    assert table["point"].tolist() == [2, 5, 7] and table["slot"].tolist() == [2, 5, 7]
    assert table["x"].tolist() == [2.0, 3.0, 1.0] and table["y"].tolist() == [-2.0, -3.0, -1.0]
    assert table["step"].tolist() == [20, 50, 70] and table["episode"].tolist() == [1, 2, 3]
    assert table["action"].tolist() == [0, 1, 1] and table["done"].tolist() == [1, 0, 0]
    assert table["reward"].tolist() == [-1.0, 2.0, 0.5] and table["td_error"].tolist() == [-0.75, 1.5, 0.25]

    fs.remove(np.array([5]))  # what the map holds now, not what it once held
    assert widget.table()["point"].tolist() == [2, 7]


def test_sampled_map_names_the_buffer_slot_of_each_point():
    widget = BufferWidget()
    fs = widget.attach(4, _no_inspect, slot_of=lambda points: np.asarray(points) * 1000 + 1)
    fs.upsert(np.array([0, 3]), {"step": np.array([1, 2])})
    fs.set_coords(np.array([0, 3]), np.zeros((2, 2), np.float32))
    table = widget.table()
    assert table["point"].tolist() == [0, 3] and table["slot"].tolist() == [1, 3001]


def test_replayed_run_gives_its_newest_snapshot():
    def snap(step, slots):
        n = len(slots)
        return MapSnapshot(step=step, time_s=float(step), slots=np.array(slots, np.uint32),
                           xy=np.arange(2 * n, dtype=np.float32).reshape(n, 2), extent=(-1.0, 1.0, -1.0, 1.0),
                           fields={"step": np.full(n, step, np.uint32), "q": np.linspace(0, 1, n, dtype=np.float32)})

    widget = BufferWidget.replay([snap(20, [4, 1]), snap(10, [0, 1, 2])])
    table = widget.table()
    assert table["point"].tolist() == [1, 4] and table["slot"].tolist() == [1, 4]
    assert table["x"].tolist() == [2.0, 0.0] and table["q"].tolist() == [1.0, 0.0]
    assert (table["step"] == 20).all()


def test_table_matches_the_keyframe_the_view_draws():
    widget = BufferWidget()
    buf = ReplayBuffer(400)
    with TrainingHook(widget, buf, every=1, max_points=100, projection="pca") as hook:  # a sample of the buffer
        fill(buf, 400)
        hook.flush()
    table = widget.table()
    _meta, rows = keyframe_arrays(widget)  # the keyframe is refreshed when the hook closes
    order = np.argsort(rows["slots"])
    assert table["point"].tolist() == rows["slots"][order].tolist() and 0 < len(table) <= 100
    assert set(table.columns) == {"point", "slot"} | set(rows) - {"slots"}  # every channel the view gets
    for name in set(rows) - {"slots"}:
        np.testing.assert_array_equal(table[name].to_numpy(), rows[name][order], err_msg=name)
    assert table["slot"].tolist() == widget.buffer_slots(table["point"].to_numpy()).tolist()
    assert (table["slot"] != table["point"]).any() and table["slot"].between(0, 399).all()
