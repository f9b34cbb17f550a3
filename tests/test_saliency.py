"""Saliency on image observations: known answers, batched == per-mask reference, bad input."""

import numpy as np
import pytest
import torch

from better_rl_widget.analysis.saliency import (
    SaliencyError,
    actor_critic_maps,
    gradient_saliency,
    perturbation_saliency,
    perturbation_saliency_reference,
    to_chw,
)

H = W = 42
PATCH = (slice(24, 32), slice(8, 16))  # the only pixels the network looks at


class PatchNet(torch.nn.Module):
    """Q-values that depend only on PATCH of every frame: a linear read-out of that region."""

    def __init__(self, channels=4, n_actions=3):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        w = torch.zeros(n_actions, channels, H, W)
        w[:, :, PATCH[0], PATCH[1]] = torch.randn(n_actions, channels, 8, 8, generator=g)
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return torch.einsum("nchw,achw->na", x, self.w)


class ChannelsLastPatchNet(PatchNet):
    """The same read-out, but taking (N, H, W, C) frames, as the CNN DQN does for MinAtar."""

    def forward(self, x):
        assert x.shape[-1] == 4, "expects channels last"
        return super().forward(x.permute(0, 3, 1, 2))


def frame(seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (4, H, W)).astype(dtype)


def mass_near_patch(sal: np.ndarray, margin: int) -> float:
    inside = np.zeros_like(sal, bool)
    rows = slice(max(0, PATCH[0].start - margin), PATCH[0].stop + margin)
    cols = slice(max(0, PATCH[1].start - margin), PATCH[1].stop + margin)
    inside[rows, cols] = True
    return float(sal[inside].sum() / sal.sum())


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients"])
def test_gradient_maps_sit_on_the_patch(method):
    sal = gradient_saliency(PatchNet(), frame(), method=method)
    assert sal.shape == (H, W)
    assert mass_near_patch(sal, 0) > 0.999  # gradients are exactly zero elsewhere


def test_perturbation_maps_sit_on_the_patch():
    maps = actor_critic_maps(PatchNet(), frame(), r=3, d=3)
    for sal in maps.values():
        assert sal.shape == (H, W)
        # the blur (σ=3) and the mask (σ=r) spread influence a few pixels beyond the patch, not further
        assert mass_near_patch(sal, 8) > 0.9


def test_actor_and_critic_from_one_pass_equal_separate_passes():
    net, obs = PatchNet(), frame(4)
    maps = actor_critic_maps(net, obs, r=3, d=3)
    np.testing.assert_allclose(maps["actor"], perturbation_saliency(net, obs, r=3, d=3), rtol=1e-6)
    critic = perturbation_saliency(lambda x: net(x).max(dim=1, keepdim=True).values, obs, r=3, d=3)
    np.testing.assert_allclose(maps["critic"], critic, rtol=1e-6)


def test_batched_equals_the_per_mask_loop():
    net = PatchNet()
    obs = frame(1)
    fast = perturbation_saliency(net, obs, r=5, d=5, batch_size=7)  # several batches, a ragged last one
    ref = perturbation_saliency_reference(net, obs, r=5, d=5)
    np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-6 * ref.max())
    assert np.corrcoef(fast.ravel(), ref.ravel())[0, 1] > 0.9999


def test_layouts_and_dtypes_give_the_same_map():
    """The network gets frames in the observations' own layout; the map does not depend on it or on the dtype."""
    chw = frame(2)
    a = perturbation_saliency(PatchNet(), chw, d=6)
    b = perturbation_saliency(ChannelsLastPatchNet(), np.moveaxis(chw, 0, -1), d=6, layout="HWC")
    c = perturbation_saliency(ChannelsLastPatchNet(), np.moveaxis(chw, 0, -1), d=6)  # auto-detected channel-last
    d = perturbation_saliency(PatchNet(), chw.astype(np.float32), d=6)
    for other in (b, c, d):
        np.testing.assert_allclose(a, other, rtol=1e-5)


def test_bad_input_is_refused_clearly():
    with pytest.raises(SaliencyError, match="image observations"):
        to_chw(np.zeros(4))
    with pytest.raises(SaliencyError, match="too small"):
        perturbation_saliency(lambda x: x.flatten(1), np.zeros((2, 2)))
    with pytest.raises(SaliencyError, match="cannot tell channels"):
        to_chw(np.zeros((30, 30, 30)))
    with pytest.raises(ValueError, match="method"):
        gradient_saliency(PatchNet(), frame(), method="lime")


def test_frames_smaller_than_the_mask_radius_still_work():
    tiny = np.random.default_rng(0).random((1, 5, 5))
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(25, 2))
    sal = perturbation_saliency(net, tiny, r=5, d=1)
    assert sal.shape == (5, 5) and np.isfinite(sal).all()


# -- through the widget: a click asks, the answer arrives in the `saliency` trait ----------------------------------
def _wait_for(widget, slot, timeout=30.0):
    import time

    from better_rl_widget.frames.codec import decode

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if widget.saliency:
            meta, arrays = decode(widget.saliency)
            if meta.get("slot") == slot:
                return meta, arrays
        time.sleep(0.05)
    raise AssertionError("no saliency answer")


def test_widget_answers_saliency_requests_for_image_slots():
    from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook

    from .conftest import from_browser

    widget = BufferWidget()
    buf = ReplayBuffer(10)
    for s in range(3):
        f = frame(s)
        buf.add(f, 0, 0.0, f, False)
    with TrainingHook(widget, buf, projection="pca") as hook:
        hook.flush()
    widget.enable_saliency(PatchNet(), r=3, d=3)
    from_browser(widget, {"method": "custom", "content": {"type": "saliency", "slot": 1, "method": "perturbation"}})
    meta, arrays = _wait_for(widget, 1)
    assert meta["message"] == "" and meta["layout"] == "CHW" and set(arrays) == {"actor", "critic"}
    assert arrays["actor"].shape == (H, W) and arrays["actor"].max() == pytest.approx(1.0)
    assert mass_near_patch(arrays["actor"].astype(np.float64), 8) > 0.9
    widget._saliency.request(2, "saliency")
    meta, arrays = _wait_for(widget, 2)
    assert set(arrays) == {"map"} and mass_near_patch(arrays["map"].astype(np.float64), 0) > 0.999
    widget._saliency.request(7, "perturbation")  # never written
    meta, arrays = _wait_for(widget, 7)
    assert "no observation" in meta["message"] and arrays == {}


def test_vector_observations_get_a_clear_message():
    from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook

    widget = BufferWidget()
    buf = ReplayBuffer(5)
    buf.add(np.zeros(4, np.float32), 0, 0.0, np.zeros(4, np.float32), False)
    with TrainingHook(widget, buf, projection="pca") as hook:
        hook.flush()
    widget.enable_saliency(torch.nn.Linear(4, 2)).request(0)
    meta, arrays = _wait_for(widget, 0)
    assert "need image observations" in meta["message"] and arrays == {}


def test_without_enable_saliency_the_view_is_told_how_to_turn_it_on():
    from better_rl_widget import BufferWidget
    from better_rl_widget.frames.codec import decode

    from .conftest import from_browser

    widget = BufferWidget()
    from_browser(widget, {"method": "custom", "content": {"type": "saliency", "slot": 3, "method": "perturbation"}})
    meta, arrays = decode(widget.saliency)
    assert meta["slot"] == 3 and "enable_saliency" in meta["message"] and arrays == {}



def test_networks_taking_channels_last_frames_get_them():
    hwc = np.moveaxis(frame(3), 0, -1)  # (H, W, 4)
    a = perturbation_saliency(ChannelsLastPatchNet(), hwc, d=6)
    b = perturbation_saliency(PatchNet(), np.moveaxis(hwc, -1, 0), d=6)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    g = gradient_saliency(ChannelsLastPatchNet(), hwc)
    assert g.shape == (H, W) and mass_near_patch(g, 0) > 0.999
    ref = perturbation_saliency_reference(ChannelsLastPatchNet(), hwc, d=6)
    np.testing.assert_allclose(a, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_scaled_defaults_follow_the_frame_size():
    from better_rl_widget.analysis.saliency import scaled_defaults

    assert scaled_defaults(84, 84) == (5.0, 5)  # the paper's values for Atari frames
    assert scaled_defaults(10, 10) == (1.0, 1)  # MinAtar: one mask per pixel


@pytest.mark.timeout(600)
def test_saliency_notebook_runs(tmp_path, monkeypatch):
    """notebooks/saliency.ipynb: a CNN DQN on MinAtar Breakout with the hook, then maps for the worst-TD state."""
    import os
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    pytest.importorskip("minatar")
    repo = Path(__file__).resolve().parents[1]
    nb = nbformat.read(repo / "notebooks" / "saliency.ipynb", as_version=4)
    monkeypatch.setenv("BRW_NOTEBOOK_STEPS", "400")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "slot " in text and "steps" in text
    assert "influential list: 20 thumbnails of 10x10 px" in text
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
