"""Map history: bounds and thinning, the snapshot codec, the live widget's history and snapshot requests, replay."""

from __future__ import annotations

import numpy as np
import pytest

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook
from better_rl_widget.frames.codec import CodecError, decode, encode
from better_rl_widget.frames.frame_state import FrameState
from better_rl_widget.frames.snapshot import MapSnapshot
from better_rl_widget.frames.snapshot_codec import (
    decode_snapshot,
    encode_snapshot,
    snapshot_nbytes,
)
from better_rl_widget.widget.history import MapHistory, stable_sample


def snap(step: int, n: int = 20, seed: int | None = None, **fields) -> MapSnapshot:
    rng = np.random.default_rng(step if seed is None else seed)
    slots = np.arange(n, dtype=np.uint32)
    return MapSnapshot(step=step, time_s=step / 10, slots=slots, xy=rng.normal(size=(n, 2)).astype(np.float32),
                       extent=(-3.0, 3.0, -3.0, 3.0),
                       fields={"step": slots + step, "reward": rng.normal(size=n).astype(np.float32), **fields})


# -- bounds and thinning -----------------------------------------------------------------------------------
def test_count_bound_thins_evenly_and_keeps_first_and_newest():
    h = MapHistory(max_snapshots=10, every_s=None)
    ids = [h.add(snap(s)) for s in range(0, 1000, 10)]
    steps = h.steps
    assert len(h) == 10 and h.thinned == 90
    assert steps[0] == 0 and steps[-1] == 990  # early training stays visible
    gaps = np.diff(steps)
    assert gaps.max() <= 3 * (990 / 9)  # an even spread, not the last ten
    assert h.ids == sorted(h.ids) and set(h.ids) <= set(ids)
    assert h.get(ids[-1]) is h[-1] and h.get(ids[5]) is None


def test_byte_bound_holds_and_keeps_the_ends():
    one = snapshot_nbytes(snap(0, n=100))
    h = MapHistory(max_snapshots=1000, max_bytes=int(one * 8.5), every_s=None)
    for s in range(50):
        h.add(snap(s, n=100))
    assert h.nbytes <= h.max_bytes and len(h) == 8
    assert h.steps[0] == 0 and h.steps[-1] == 49


def test_oversized_snapshot_keeps_a_stable_sample_and_says_so():
    notes: list[str] = []
    big = snap(0, n=4000)
    h = MapHistory(max_bytes=snapshot_nbytes(big) * 2, every_s=None)  # share = 1/4 of one snapshot
    h.on_note = notes.append
    h.add(big)
    h.add(snap(1, n=4000))
    kept0, kept1 = h[0].slots, h[1].slots
    assert 600 < len(kept0) < 1400  # about a quarter
    assert np.array_equal(kept0, kept1)  # the same slots in every snapshot: points can be followed
    assert np.array_equal(h[0].xy, big.xy[np.isin(big.slots, kept0)])
    assert len(notes) == 1 and "sample" in notes[0]
    assert stable_sample(np.arange(10, dtype=np.uint32), 1.0).all()


def _frame(fs: FrameState, value: float, n: int = 4) -> None:
    fs.set_coords(np.arange(n), np.full((n, 2), value, np.float32))
    fs.take_delta()


def test_take_is_due_by_time_skips_unchanged_maps_and_force_overrides():
    fs = FrameState(8)
    _frame(fs, 0)
    h = MapHistory(every_s=5.0, every_frames=None)
    assert h.take(fs, 1, 0.0, now=100.0) is not None  # the first one is always due
    _frame(fs, 1)
    assert h.take(fs, 2, 1.0, now=101.0) is None  # not 5 s yet
    assert h.take(fs, 3, 5.5, now=105.5) is not None
    assert h.take(fs, 4, 11.0, now=111.0) is None  # due, but no frame since: the same map
    _frame(fs, 2)
    assert h.take(fs, 5, 11.1, now=111.1, force=True) is not None  # force: not due, but taken
    assert h.steps == [1, 3, 5]
    _frame(fs, 3)
    h.take(fs, 5, 11.2, force=True)  # same step as the newest (the final pass on close): it supersedes it
    assert h.steps == [1, 3, 5] and float(h[-1].xy[0, 0]) == 3.0


def test_take_is_due_every_n_frames():
    fs = FrameState(8)
    h = MapHistory(every_s=None, every_frames=2)
    taken = []
    for k in range(7):
        _frame(fs, k)
        taken.append(h.take(fs, k, float(k)) is not None)
    assert taken == [True, False, True, False, True, False, True]


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="max_snapshots"):
        MapHistory(max_snapshots=1)
    with pytest.raises(ValueError, match="max_bytes"):
        MapHistory(max_bytes=0)


# -- codec ------------------------------------------------------------------------------------------------
def test_snapshot_round_trip_through_the_codec():
    n = 7
    s = snap(123, n=n, done=np.array([True, False] * 3 + [True]), episode=np.arange(n, dtype=np.int64),
             neg=np.array([-5, 1, 2, 3, 4, 5, 6], np.int64), big=np.array([2**40] * n, np.int64),
             q=np.linspace(0, 1, n), half=np.ones(n, np.float16), **{"<b>ünïcode</b>": np.ones(n, np.float32)})
    blob = encode_snapshot(s, snapshot_id=9)
    meta, arrays = decode(blob)
    assert meta["kind"] == "snapshot" and meta["id"] == 9 and meta["step"] == 123
    assert meta["newest_step"] == 123 + n - 1
    assert meta["channels"]["episode"]["kind"] == "categorical" and meta["channels"]["q"]["kind"] == "continuous"
    assert arrays["done"].dtype == np.uint8 and arrays["neg"].dtype == np.int32 and arrays["big"].dtype == np.float64
    back = decode_snapshot(blob)
    assert back.step == s.step and back.time_s == s.time_s and back.extent == s.extent
    assert np.array_equal(back.slots, s.slots) and np.array_equal(back.xy, s.xy)
    assert set(back.fields) == set(s.fields)
    for k, v in s.fields.items():
        assert np.array_equal(back.fields[k].astype(np.float64), np.asarray(v, np.float64)), k


def test_codec_refuses_what_it_cannot_carry():
    with pytest.raises(ValueError, match="reserved"):
        encode_snapshot(snap(1, x=np.zeros(20, np.float32)))
    with pytest.raises(ValueError, match="not finite"):
        encode_snapshot(MapSnapshot(1, 0.0, np.zeros(1, np.uint32), np.zeros((1, 2), np.float32),
                                    (0.0, float("nan"), 0.0, 1.0)))
    with pytest.raises(ValueError, match="dtype"):
        encode_snapshot(snap(1, label=np.array(["a"] * 20)))
    with pytest.raises(CodecError, match="snapshot"):
        decode_snapshot(encode({"kind": "keyframe"}, {}))


# -- the live widget ---------------------------------------------------------------------------------------
def _run_hook(widget: BufferWidget, phases: int = 3, n: int = 300) -> None:
    buf = ReplayBuffer(n)
    rng = np.random.default_rng(0)
    widget.history.every_s = 0.0  # a snapshot after every frame
    with TrainingHook(widget, buf, projection="pca", every=50) as hook:
        for phase in range(phases):
            for i in range(n):
                o = (rng.normal(size=4) + 3 * phase * np.array([1, -1, 0, 0])).astype(np.float32)
                buf.add(o, i % 2, float(phase), o, i % 50 == 49)
                hook.on_step()
            hook.flush()


def test_live_widget_keeps_snapshots_of_what_it_drew():
    w = BufferWidget()
    _run_hook(w)
    h = w.history
    assert len(h) >= 3
    assert h.steps == sorted(h.steps) and h.steps[-1] == 900
    last = h[-1]
    fs = w.frame_state
    present = fs.present_slots()
    assert np.array_equal(last.slots, present)
    assert np.array_equal(last.xy[:, 0], fs._x[present]) and np.array_equal(last.xy[:, 1], fs._y[present])
    assert tuple(last.extent) == tuple(fs.extent)
    assert np.array_equal(last.fields["step"], fs.column("step", present))
    # early maps differ from the final one (the projection refitted as the data moved)
    assert not np.array_equal(h[0].xy, last.xy[: len(h[0].xy)])
    meta, arrays = decode(w.history_index)
    assert meta["kind"] == "history" and meta["count"] == len(h)
    assert arrays["ids"].tolist() == h.ids and arrays["steps"].tolist() == h.steps
    assert arrays["points"].tolist() == [len(s.slots) for s in h]


def test_snapshot_requests_are_answered_with_the_codec(monkeypatch):
    w = BufferWidget()
    _run_hook(w, phases=2)
    sent: list[tuple[dict, list]] = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append((content, buffers or [])))
    first = w.history.ids[0]
    w._on_custom_msg(w, {"type": "request_snapshot", "id": first}, [])
    w._on_custom_msg(w, {"type": "request_snapshot", "id": 10**6}, [])
    w._on_custom_msg(w, {"type": "request_snapshot", "id": "not a number"}, [])
    assert [c for c, _ in sent] == [{"type": "snapshot", "id": first},
                                    {"type": "snapshot", "id": 10**6, "missing": True}]
    got = decode_snapshot(sent[0][1][0])
    assert np.array_equal(got.xy, w.history[0].xy) and got.step == w.history[0].step


def test_history_errors_are_reported_not_raised(monkeypatch):
    w = BufferWidget()
    w.attach(8, lambda slot: ({}, None))

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(w.history, "take", boom)
    w.record_history(5)
    assert "map history: RuntimeError: disk on fire" in w.status["last_error"]


# -- replay ------------------------------------------------------------------------------------------------
def test_replay_widget_shows_the_given_history():
    snaps = [snap(30), snap(10), snap(20, n=12)]
    w = BufferWidget.replay(snaps, title="run A")
    assert w.history.steps == [10, 20, 30]
    assert w.history[0] is snaps[1]  # kept as given, no copy, no thinning
    _meta, arrays = decode(w.history_index)
    assert arrays["steps"].tolist() == [10, 20, 30] and arrays["points"].tolist() == [20, 12, 20]
    assert w.status["replay"] is True and w.status["running"] is False and w.status["hook_step"] == 30
    assert w.gauge["size"] == 20 and w.gauge["capacity"] == 20
    assert BufferWidget.replay(snaps, capacity=1000).gauge["capacity"] == 1000
    assert w.frame_state is None and w.title == "run A"
    w.clicked = 3  # no buffer: the view shows the snapshot's row; Python must not answer "no buffer attached"
    assert w.inspection == b""
    with pytest.raises(ValueError, match="at least one"):
        BufferWidget.replay([])
    with pytest.raises(ValueError, match="reserved"):  # refused up front, not when the scrubber asks
        BufferWidget.replay([snap(1, y=np.zeros(20, np.float32))])


def test_history_benchmark_json():
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "history.py"), "--json", "--n", "2000",
                          "--snapshots", "3", "--repeats", "1"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert {"snapshot_vs_keyframe", "answer_ms", "export_mb", "snapshot_mb"} <= set(r)
    # sizes are deterministic: 2,000 rows of slots, xy and six fields
    assert r["snapshot_mb"] * 2**20 == 2000 * (4 + 8 + 4 + 4 + 4 + 4 + 1 + 4)
    assert r["snapshot_vs_keyframe"] > 0
