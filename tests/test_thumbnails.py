"""Thumbnails (and saliency thumbnails) of the influential states: the right slots, the right pixels, refreshed
only when the top-K set changes, none for vector observations."""

import time

import numpy as np
import pytest
import torch

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.analysis.saliency import actor_critic_maps
from better_rl_widget.capture.prioritized import PrioritizedReplayBuffer
from better_rl_widget.frames.codec import decode
from better_rl_widget.widget.thumbnails import frame_image, thumbnail, top_slots

from .conftest import from_browser
from .test_saliency import H, PatchNet, W, mass_near_patch


def hand_downsample(img: np.ndarray, f: int) -> np.ndarray:
    """Mean over f×f blocks, written out as loops (edge blocks average the pixels they have)."""
    h, w = img.shape[:2]
    out = np.zeros((-(-h // f), -(-w // f), *img.shape[2:]))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = img[i * f:(i + 1) * f, j * f:(j + 1) * f]
            out[i, j] = block.reshape(-1, *img.shape[2:]).mean(axis=0)
    return out


def hand_thumb(newest: np.ndarray, f: int) -> np.ndarray:
    x = newest.astype(np.float64)
    x = (x - x.min()) / (x.max() - x.min())
    return np.clip(np.rint(hand_downsample(x, f) * 255), 0, 255).astype(np.uint8)


def assert_same_u8(got: np.ndarray, want: np.ndarray) -> None:
    """Equal up to the rounding of a .5 mean (summation order differs from the loops above)."""
    diff = np.abs(got.astype(int) - want.astype(int))
    assert got.shape == want.shape and diff.max() <= 1 and (diff > 0).mean() < 0.02


def image_buffer(n=60, capacity=100, seed=0):
    rng = np.random.default_rng(seed)
    buf = PrioritizedReplayBuffer(capacity, alpha=1.0, eps=1e-6, seed=0)
    frames = []
    for _ in range(n):
        f = rng.integers(0, 255, (4, H, W)).astype(np.uint8)
        frames.append(f)
        buf.add(f, 0, 0.0, f, False)
    return buf, frames


def wait_for(pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = pred()
        if out:
            return out
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_thumbnails_are_the_downsampled_newest_frames_of_exactly_the_top_k_slots_in_order():
    w = BufferWidget()
    buf, frames = image_buffer()
    prio = np.random.default_rng(1).random(40) * 10
    with TrainingHook(w, buf, every=1, projection="pca") as hook:
        hook.flush()
        buf.update_priorities(np.arange(40), prio)
        hook.on_step()
    smeta, s = decode(w.summary)
    meta, t = decode(w.thumbnails)
    assert smeta["fields"] == ["priority"]
    top = s["top_priority_slots"]
    assert len(top) == 20 and t["slots"].tolist() == top.tolist()
    assert t["steps"].tolist() == top.tolist()  # slot i holds insertion i here
    assert meta["layout"] == "CHW" and meta["size"] == [21, 21] and meta["channels"] == 1
    assert t["images"].dtype == np.uint8 and t["images"].shape == (20, 21, 21, 1)
    for row, slot in enumerate(top):
        assert_same_u8(t["images"][row, :, :, 0], hand_thumb(frames[slot][-1], 2))
    assert "actor" not in t and meta["saliency"] == "unavailable"


def test_thumbnails_refresh_only_when_the_top_k_set_changes():
    w = BufferWidget()
    buf, frames = image_buffer()
    with TrainingHook(w, buf, every=1, projection="pca") as hook:
        hook.flush()
        buf.update_priorities(np.arange(30), np.linspace(30, 1, 30))
        hook.on_step()
        hook.flush()
        th = w._thumbnails
        n0, blob0 = th.refreshes, w.thumbnails
        # new values, the same top-20 set (slot 0..19 stay on top): the summary changes, the thumbnails do not
        buf.update_priorities(np.arange(20), np.linspace(40, 21, 20))
        hook.on_step()
        hook.flush()
        assert decode(w.summary)[1]["top_priority_values"][0] == pytest.approx(40.0)
        assert th.refreshes == n0 and w.thumbnails is blob0
        # slot 25 jumps into the top-K: a refresh that shows it first, reading only that row's observation
        read = []
        inspect = w._inspect_fn
        w._inspect_fn = lambda slot: read.append(slot) or inspect(slot)
        buf.update_priorities(np.array([25]), np.array([100.0]))
        hook.on_step()
        hook.flush()
        assert th.refreshes == n0 + 1 and read == [25]
        _, t = decode(w.thumbnails)
        assert t["slots"][0] == 25
        assert_same_u8(t["images"][0, :, :, 0], hand_thumb(frames[25][-1], 2))


def test_a_rewritten_top_slot_gets_a_new_thumbnail():
    """Same slot, new insertion (the ring wrapped): the (slot, step) pair changed, so the picture must too."""
    w = BufferWidget()
    buf, _frames = image_buffer(n=10, capacity=10)
    with TrainingHook(w, buf, every=1, projection="pca") as hook:
        hook.flush()
        n0 = w._thumbnails.refreshes
        new = np.full((4, H, W), 7, np.uint8)
        new[-1, :10] = 200
        buf.add(new, 0, 0.0, new, False)  # insertion 10 → slot 0
        hook.on_step()
        hook.flush()
    assert w._thumbnails.refreshes > n0
    _, t = decode(w.thumbnails)
    row = t["slots"].tolist().index(0)
    assert t["steps"][row] == 10
    assert_same_u8(t["images"][row, :, :, 0], hand_thumb(new[-1], 2))


def test_vector_buffers_send_no_thumbnails():
    w = BufferWidget()
    buf = PrioritizedReplayBuffer(50, alpha=1.0, eps=1e-6, seed=0)
    with TrainingHook(w, buf, every=1, projection="pca") as hook:
        for i in range(50):
            buf.add(np.array([i, -i], np.float32), 0, 1.0, np.zeros(2, np.float32), False)
        hook.flush()
        buf.update_priorities(np.array([3, 40]), np.array([7.0, 2.0]))
        hook.on_step()
    assert decode(w.summary)[1]["top_priority_slots"][:2].tolist() == [3, 40]
    assert w.thumbnails == b"" and w.errors == []


def test_frame_pictures_for_each_image_layout():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (64, 48, 3)).astype(np.uint8)
    t = thumbnail(rgb, "HWC")
    assert t.shape == (32, 24, 3)  # factor 2, aspect kept
    x = (rgb - rgb.min()) / (rgb.max() - rgb.min())
    assert_same_u8(t, np.clip(np.rint(hand_downsample(x, 2) * 255), 0, 255).astype(np.uint8))
    gray = rng.random((84, 84)).astype(np.float32)
    assert thumbnail(gray, "HW").shape == (28, 28, 1)
    # MinAtar-style object planes: each channel's object in its own hue, empty cells black
    planes = np.zeros((10, 10, 4), bool)
    planes[2, 3, 1] = True
    planes[5, 5, 3] = True
    pic = frame_image(planes, "HWC")
    assert pic.shape == (10, 10, 3) and pic[0, 0].tolist() == [0, 0, 0]
    assert not np.allclose(pic[2, 3], pic[5, 5]) and pic[2, 3].max() > 0
    assert thumbnail(planes, "HWC").shape == (10, 10, 3)  # small frames are not upscaled
    # a channel-last frame stack (not 0/1 planes) shows its newest frame
    stack = rng.integers(0, 255, (40, 40, 4)).astype(np.uint8)
    assert_same_u8(thumbnail(stack, "HWC")[..., 0], hand_thumb(stack[..., -1], 2))
    with pytest.raises(ValueError, match="no thumbnail"):
        frame_image(np.zeros(5), "vector")


def test_top_slots_keep_display_order_and_each_slot_once():
    from better_rl_widget.frames.codec import encode

    blob = encode({"kind": "summary", "fields": ["priority", "td_error"]},
                  {"top_priority_slots": np.array([5, 2, 9], np.uint32),
                   "top_td_error_slots": np.array([2, 7], np.uint32)})
    assert top_slots(blob).tolist() == [5, 2, 9, 7]
    assert top_slots(b"").tolist() == []


# -- saliency thumbnails ------------------------------------------------------------------------------------------
def _with_maps(w, n):
    def ready():
        meta, t = decode(w.thumbnails)
        return (meta, t) if "has_saliency" in t and t["has_saliency"].sum() == n else None
    return wait_for(ready)


def test_saliency_thumbnails_are_the_downsampled_maps_of_those_slots():
    w = BufferWidget()
    buf, frames = image_buffer(n=30)
    with TrainingHook(w, buf, every=1, projection="pca") as hook:
        hook.flush()
        buf.update_priorities(np.arange(6), np.linspace(9, 4, 6))
        hook.on_step()
    _, t0 = decode(w.thumbnails)
    assert "actor" not in t0
    net = PatchNet()
    w.enable_saliency(net, r=3, d=3, thumbnails=True)
    meta, t = _with_maps(w, 20)
    assert meta["saliency"] == "on" and t["actor"].shape == (20, 21, 21) and t["actor"].dtype == np.uint8
    for row, slot in enumerate(t["slots"][:6]):
        maps = actor_critic_maps(net, frames[slot], r=3, d=3)
        for name in ("actor", "critic"):
            m = maps[name] / maps[name].max()
            want = np.clip(np.rint(hand_downsample(m, 2) * 255), 0, 255)
            np.testing.assert_allclose(t[name][row].astype(float), want, atol=1)
        # and they sit where the network looks (PatchNet reads rows 24-31, columns 8-15 → 12-15, 4-7 here)
        big = np.kron(t["actor"][row].astype(float), np.ones((2, 2)))[:H, :W]
        assert mass_near_patch(big, 8) > 0.85


def test_saliency_thumbnails_are_off_by_default_cached_by_slot_and_step_and_toggled_by_the_view():
    w = BufferWidget()
    buf, _frames = image_buffer(n=30)
    hook = TrainingHook(w, buf, every=1, projection="pca")
    hook.flush()
    service = w.enable_saliency(PatchNet(), r=3, d=3)
    calls = []
    real = service._perturbation
    service._perturbation = lambda *a: calls.append(1) or real(*a)
    buf.update_priorities(np.arange(6), np.linspace(9, 4, 6))
    hook.on_step()
    hook.flush()
    meta, t = decode(w.thumbnails)
    assert meta["saliency"] == "off" and "actor" not in t and calls == []
    from_browser(w, {"method": "custom", "content": {"type": "thumbnail_saliency", "on": True}})  # the list's toggle
    _with_maps(w, 20)
    assert len(calls) == 20
    buf.update_priorities(np.array([25]), np.array([50.0]))  # one new row in the top-K
    hook.on_step()
    hook.flush()
    meta, t = _with_maps(w, 20)
    assert t["slots"][0] == 25 and len(calls) == 21  # only the new row was computed
    from_browser(w, {"method": "custom", "content": {"type": "thumbnail_saliency", "on": False}})
    assert decode(w.thumbnails)[0]["saliency"] == "off"
    hook.close()


def test_an_inspector_click_is_answered_while_thumbnails_are_computed():
    w = BufferWidget()
    buf, _frames = image_buffer(n=30)
    with TrainingHook(w, buf, every=1, projection="pca") as hook:
        hook.flush()
    service = w.enable_saliency(PatchNet(), r=3, d=3, thumbnail_budget_s=60.0)
    real = service._perturbation
    order = []

    def slow(model, obs, layout):
        time.sleep(0.05)
        return real(model, obs, layout)

    service._perturbation = slow
    service.set_thumbnails(True)
    original = service.compute
    service.compute = lambda slot, method: (order.append(len(w._thumbnails._maps)), original(slot, method))[1]
    service.request(3)
    wait_for(lambda: w.saliency and decode(w.saliency)[0].get("slot") == 3)
    _with_maps(w, 20)
    assert order and order[0] < 20  # answered before the thumbnail rows were all done


def test_a_thumbnail_time_budget_leaves_a_visible_note():
    w = BufferWidget()
    buf, _ = image_buffer(n=30)
    with TrainingHook(w, buf, every=1, projection="pca") as hook:
        hook.flush()
    w.enable_saliency(PatchNet(), r=3, d=3, thumbnails=True, thumbnail_budget_s=0.0)
    meta, t = wait_for(lambda: (lambda m: m if "budget" in m[0]["message"] else None)(decode(w.thumbnails)))
    assert 0 < t["has_saliency"].sum() < 20 and "next refresh" in meta["message"]


def test_thumbnail_refresh_benchmark_json():
    """benchmarks/saliency.py --thumbnails runs and reports what docs/performance.md quotes (sizes, not timings)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "saliency.py"
    out = subprocess.run([sys.executable, str(script), "--thumbnails", "--k", "2", "--repeats", "1", "--json"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert {"images_ms", "saliency_ms", "saliency_ms_per_row", "separate_passes_ms", "shared_pass_speedup"} <= set(r)
    assert r["k"] == 2 and r["threads"] == 1 and r["correlation"] > 0.9999
    out = subprocess.run([sys.executable, str(script), "--thumbnails", "--minatar", "--k", "2", "--repeats", "1",
                          "--json"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert r["frames"] == "minatar 10x10x4" and (r["r"], r["d"]) == (1.0, 1) and r["correlation"] > 0.9999


def test_a_network_that_fails_on_the_frames_is_reported_in_the_list_not_raised():
    w = BufferWidget()
    buf, _ = image_buffer(n=10)
    with TrainingHook(w, buf, every=1, projection="pca") as hook:
        hook.flush()
    w.enable_saliency(torch.nn.Linear(3, 2), thumbnails=True)  # cannot take (N, 4, 42, 42) frames
    meta, t = wait_for(lambda: (lambda m: m if "failed" in m[0]["message"] else None)(decode(w.thumbnails)))
    assert "saliency failed" in meta["message"] and "actor" not in t and len(t["slots"]) == 10


def test_enabling_saliency_again_replaces_the_service_and_keeps_the_thumbnail_setting():
    w = BufferWidget()
    first = w.enable_saliency(PatchNet(), r=3, d=3, thumbnails=True)
    second = w.enable_saliency(PatchNet(), r=3, d=3)  # what a new TrainingHook(q_network=...) does
    assert second.thumbnails and w._saliency is second
    from_browser(w, {"method": "custom", "content": {"type": "thumbnail_saliency", "on": False}})
    assert not second.thumbnails and first.thumbnails  # only the live service listens
