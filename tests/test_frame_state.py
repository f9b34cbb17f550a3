import numpy as np

from better_rl_widget.frames.codec import decode
from better_rl_widget.frames.frame_state import FrameState


def _fields(slots, step0=0):
    n = len(slots)
    return {"step": np.arange(step0, step0 + n), "episode": np.zeros(n, np.int64), "action": np.ones(n, np.int64),
            "reward": np.linspace(0, 1, n), "done": np.zeros(n, np.uint8)}


def apply(state, blob):
    """A reference view: replay keyframes/deltas into a slot → row dict (what the JS state does)."""
    meta, a = decode(blob)
    if meta["kind"] == "keyframe":
        state.clear()
    for s in a.get("removed", []):
        state.pop(int(s), None)
    for i, s in enumerate(a["slots"]):
        state[int(s)] = (float(a["x"][i]), float(a["y"][i]), int(a["step"][i]))
    return meta["seq"]


def test_delta_carries_only_changed_rows_and_views_converge():
    fs = FrameState(100)
    slots = np.arange(50)
    fs.upsert(slots, _fields(slots))
    fs.set_coords(slots, np.c_[slots, -slots].astype(np.float32))
    view = {}
    assert apply(view, fs.keyframe()) == 1 and len(view) == 50

    # 3 new rows, 2 removed, 1 moved; unchanged coordinates are not re-sent
    new = np.array([60, 61, 62])
    fs.upsert(new, _fields(new, 100))
    fs.set_coords(np.r_[slots[2:], new], np.r_[np.c_[slots[2:], -slots[2:]], [[1, 1], [2, 2], [3, 3]]]
                  .astype(np.float32))
    fs.set_coords(np.array([10]), np.array([[99.0, 99.0]], np.float32))
    fs.remove(np.array([0, 1]))
    blob = fs.take_delta()
    meta, a = decode(blob)
    assert meta["kind"] == "delta" and meta["seq"] == 2
    assert sorted(a["slots"].tolist()) == [10, 60, 61, 62]
    assert sorted(a["removed"].tolist()) == [0, 1]
    assert apply(view, blob) == 2
    assert view == {int(s): (float(fs.row(int(s))["x"]), float(fs.row(int(s))["y"]), int(fs.row(int(s))["step"]))
                    for s in fs.present_slots()}
    assert fs.take_delta() is None  # nothing new


def test_keyframe_includes_pending_rows_and_bumps_generation():
    fs = FrameState(10)
    s = np.array([1, 2])
    fs.upsert(s, _fields(s))
    fs.set_coords(s, np.zeros((2, 2), np.float32))
    k1 = fs.keyframe()
    k2 = fs.keyframe()
    m1, a1 = decode(k1)
    m2, _ = decode(k2)
    assert len(a1["slots"]) == 2 and m1["seq"] == m2["seq"] == 1
    assert m2["generation"] == m1["generation"] + 1 and k1 != k2
    assert fs.take_delta() is None


def test_optional_channels_and_continuous_actions():
    fs = FrameState(5)
    s = np.array([0, 1])
    f = _fields(s)
    f["action"] = np.array([[0.5, 1.0], [-0.25, 0.0]], np.float32)
    f["td_error"] = np.array([0.1, 2.0], np.float32)
    fs.upsert(s, f)
    fs.set_coords(s, np.zeros((2, 2), np.float32))
    meta, a = decode(fs.keyframe())
    assert a["action"].dtype == np.float32 and a["action"].tolist() == [0.5, -0.25]
    assert meta["channels"]["td_error"] == {"kind": "continuous"}
    assert a["td_error"].tolist() == [np.float32(0.1), 2.0]
