"""Saliency maps for image observations.

Two families:

- gradient methods through Captum (``Saliency``, ``IntegratedGradients``) on a Q-network or policy network;
- perturbation saliency as in Greydanus, Koul, Dodge and Fern 2018, "Visualizing and Understanding Atari
  Agents": for each centre (i, j) on a grid of stride ``d``, a mask M (a point-sized disk blurred with a Gaussian
  of σ = ``r``, scaled to a peak of 1) blends the frame with a blurred copy of itself,
  I' = I·(1−M) + G(I, σ=3)·M, and the score is S(i, j) = ½‖f(I) − f(I')‖². The *actor* map uses f = the action
  outputs (logits or Q-values); the *critic* map f = V (or max Q). Frame stacks are perturbed on every frame.

The perturbation method here is batched: the masks for a frame size are built once and cached, the frame is blurred
once, and all perturbed frames go through the network in a few batched forward passes (on the network's device,
so on the GPU when it lives there). ``perturbation_saliency_reference`` is the per-mask loop of the paper's code,
kept as the correctness reference and the benchmark's anchor.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, zoom

Layout = Literal["CHW", "HWC", "HW", "auto"]
BLUR_SIGMA = 3.0


class SaliencyError(ValueError):
    """An observation these methods cannot explain (not an image, too small, ...)."""


# -- frames ------------------------------------------------------------------------------------------------
def to_chw(obs: np.ndarray, layout: Layout = "auto") -> tuple[np.ndarray, Layout]:
    """float64 (C, H, W) frames from uint8 or float input in CHW, HWC or HW layout; and the layout used.

    ``auto`` takes a small leading axis (≤ 16, as frame stacks have) as channels, else a small trailing one.
    """
    a = np.asarray(obs)
    if a.ndim == 2:
        layout = "HW"
    elif a.ndim != 3:
        raise SaliencyError(f"saliency needs image observations (H, W) or (C, H, W) / (H, W, C); got shape {a.shape}")
    if layout == "auto":
        if a.ndim == 2:
            layout = "HW"
        elif a.shape[0] <= 16 and a.shape[0] < min(a.shape[1], a.shape[2]):
            layout = "CHW"
        elif a.shape[2] <= 16 and a.shape[2] < min(a.shape[0], a.shape[1]):
            layout = "HWC"
        else:
            raise SaliencyError(f"cannot tell channels from height/width in shape {a.shape}; pass layout=")
    if layout == "HW":
        chw = a[None]
    elif layout == "HWC":
        chw = np.moveaxis(a, -1, 0)
    elif layout == "CHW":
        chw = a
    else:
        raise SaliencyError(f"unknown layout {layout!r}")
    if chw.dtype.kind not in "biuf":
        raise SaliencyError(f"image dtype {chw.dtype} is not numeric")
    chw = chw.astype(np.float64)
    if not np.isfinite(chw).all():  # a NaN pixel spreads through the blur into every score: a map of NaN
        c, i, j = np.unravel_index(int(np.flatnonzero(~np.isfinite(chw))[0]), chw.shape)
        raise SaliencyError(f"the frame holds NaN/inf values ({int((~np.isfinite(chw)).sum())} of them, first at "
                            f"channel {c}, pixel ({i}, {j})): saliency needs a finite frame")
    return chw, layout


def _native(x: torch.Tensor, layout: str) -> torch.Tensor:
    """(N, C, H, W) frames → the layout the caller's network takes (its observations' own)."""
    if layout == "HWC":
        return x.permute(0, 2, 3, 1)
    if layout == "HW":
        return x[:, 0]
    return x


def from_chw(chw: np.ndarray, layout: str) -> np.ndarray:
    """Back to the caller's layout (the inverse of :func:`to_chw`)."""
    if layout == "HW":
        return chw[0]
    if layout == "HWC":
        return np.moveaxis(chw, 0, -1)
    return chw


# -- perturbation saliency ---------------------------------------------------------------------------------
def _mask(h: int, w: int, ci: int, cj: int, r: float) -> np.ndarray:
    """The paper's mask: a point-sized disk at (ci, cj) blurred with σ = r, peak scaled to 1."""
    y, x = np.ogrid[-ci:h - ci, -cj:w - cj]
    m = np.zeros((h, w))
    m[x * x + y * y <= 1] = 1.0
    m = gaussian_filter(m, sigma=r)
    return m / m.max()


def scaled_defaults(h: int, w: int) -> tuple[float, int]:
    """The paper's r = 5, d = 5 are for 84x84 Atari frames; scale them to the frame (10x10 MinAtar → r = 1, d = 1)."""
    scale = min(h, w) / 84.0
    return max(1.0, 5.0 * scale), max(1, round(5.0 * scale))


def grid_centres(h: int, w: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(0, h, d), np.arange(0, w, d)


@lru_cache(maxsize=8)
def _masks(h: int, w: int, r: float, d: int) -> np.ndarray:
    """All masks of a frame size, (K, H, W), built once: the same arrays the per-mask loop computes."""
    ii, jj = grid_centres(h, w, d)
    out = np.stack([_mask(h, w, int(i), int(j), r) for i in ii for j in jj])
    out.setflags(write=False)
    return out


def _check(chw: np.ndarray, r: float, d: int) -> None:
    _, h, w = chw.shape
    if d < 1 or r <= 0:
        raise SaliencyError(f"need stride d >= 1 and radius r > 0, got d={d}, r={r}")
    if min(h, w) < 3:
        raise SaliencyError(f"frame {h}x{w} is too small for perturbation saliency")


def _upsample(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """The score grid stretched back to the frame (bilinear), as the paper shows it."""
    return zoom(grid, (h / grid.shape[0], w / grid.shape[1]), order=1)[:h, :w]


def perturbation_saliency(f: Callable[[torch.Tensor], torch.Tensor], obs: np.ndarray, *, r: float = 5.0,
                          d: int = 5, layout: Layout = "auto", batch_size: int = 512,
                          device: torch.device | str | None = None) -> np.ndarray:
    """Greydanus et al. 2018 saliency of ``f`` (frames (N, C, H, W) float32 → outputs (N, k)) at ``obs``.

    Returns the score map upsampled to (H, W). All masks of the frame go through ``f`` in batches of ``batch_size``
    (one batch for an 84x84 frame at the default stride: fewer, larger forwards are what make it fast).
    """
    return _perturbation_maps(f, obs, (_identity,), r=r, d=d, layout=layout, batch_size=batch_size,
                              device=device)[0]


def _identity(out: torch.Tensor) -> torch.Tensor:
    return out


def _max_q(out: torch.Tensor) -> torch.Tensor:
    return out.max(dim=1, keepdim=True).values


def _perturbation_maps(f: Callable[[torch.Tensor], torch.Tensor], obs: np.ndarray,
                       heads: tuple[Callable[[torch.Tensor], torch.Tensor], ...], *, r: float, d: int, layout: Layout,
                       batch_size: int = 512, device: torch.device | str | None = None) -> list[np.ndarray]:
    """One map per head (a function of ``f``'s outputs), all from the same batched forward passes."""
    chw, layout = to_chw(obs, layout)
    _check(chw, r, d)
    _c, h, w = chw.shape
    masks = _masks(h, w, float(r), int(d))  # (K, H, W)
    blurred = np.stack([gaussian_filter(ch, sigma=BLUR_SIGMA) for ch in chw])  # G(I), once per frame
    dev = _usable_device(torch.device(device) if device is not None else _device_of(f))
    I = torch.as_tensor(chw, dtype=torch.float32, device=dev)  # noqa: E741 - the image, as in the paper
    G = torch.as_tensor(blurred, dtype=torch.float32, device=dev)
    M = torch.tensor(masks, dtype=torch.float32, device=dev)  # a copy: the cached masks are read-only
    scores = torch.empty(len(heads), len(masks), dtype=torch.float64, device=dev)
    with torch.no_grad():
        out0 = f(_native(I[None], layout))
        _check_outputs(out0)
        # float64 before the difference is squared: outputs of 1e20 and more would overflow float32 to inf
        bases = [hd(out0).reshape(1, -1).double() for hd in heads]
        for s in range(0, len(M), batch_size):
            m = M[s:s + batch_size, None]  # (B, 1, H, W): the same mask on every frame of the stack
            perturbed = torch.addcmul(I[None], m, (G - I)[None])  # I·(1−M) + G·M
            out = f(_native(perturbed, layout))
            for k, (hd, base) in enumerate(zip(heads, bases, strict=True)):
                scores[k, s:s + len(m)] = 0.5 * ((hd(out).reshape(len(m), -1).double() - base) ** 2).sum(dim=1)
    ii, jj = grid_centres(h, w, d)
    grids = scores.cpu().numpy().reshape(len(heads), len(ii), len(jj))
    return [_upsample(g, h, w) for g in grids]


def perturbation_saliency_reference(f: Callable[[torch.Tensor], torch.Tensor], obs: np.ndarray, *,
                                    r: float = 5.0, d: int = 5, layout: Layout = "auto") -> np.ndarray:
    """The paper's per-mask loop: blur the mask and the frame with scipy for every centre, one forward each."""
    chw, layout = to_chw(obs, layout)
    _check(chw, r, d)
    _c, h, w = chw.shape
    dev = _usable_device(_device_of(f))
    with torch.no_grad():
        base = f(_native(torch.as_tensor(chw, dtype=torch.float32, device=dev)[None], layout)).reshape(-1).double()
        ii, jj = grid_centres(h, w, d)
        grid = np.zeros((len(ii), len(jj)))
        for a, i in enumerate(ii):
            for b, j in enumerate(jj):
                m = _mask(h, w, int(i), int(j), r)
                perturbed = chw * (1 - m) + np.stack([gaussian_filter(ch, sigma=BLUR_SIGMA) for ch in chw]) * m
                out = f(_native(torch.as_tensor(perturbed, dtype=torch.float32, device=dev)[None],
                                layout)).reshape(-1).double()
                grid[a, b] = 0.5 * float(((out - base) ** 2).sum())
    return _upsample(grid, h, w)


def actor_critic_maps(q_network: torch.nn.Module, obs: np.ndarray, *, value: Callable | None = None, r: float = 5.0,
                      d: int = 5, layout: Layout = "auto") -> dict[str, np.ndarray]:
    """The paper's two maps: actor (f = the network's action outputs) and critic (f = V, default max Q)."""
    if value is None:  # critic = max Q: both maps from the same perturbed forward passes (half the cost)
        actor, critic = _perturbation_maps(q_network, obs, (_identity, _max_q), r=r, d=d, layout=layout)
        return {"actor": actor, "critic": critic}
    return {"actor": perturbation_saliency(q_network, obs, r=r, d=d, layout=layout),
            "critic": perturbation_saliency(value, obs, r=r, d=d, layout=layout)}


# -- gradient saliency (Captum) -----------------------------------------------------------------------------
def gradient_saliency(model: torch.nn.Module, obs: np.ndarray, *, target: int | None = None,
                      method: Literal["saliency", "integrated_gradients"] = "saliency", layout: Layout = "auto",
                      n_steps: int = 32) -> np.ndarray:
    """|∂ output[target] / ∂ input| (Captum ``Saliency``) or Integrated Gradients from a black baseline, for the
    ``target`` action (default: the greedy one), summed over channels → (H, W)."""
    from captum.attr import IntegratedGradients, Saliency

    chw, layout = to_chw(obs, layout)
    dev = _usable_device(_device_of(model))
    x = _native(torch.as_tensor(chw, dtype=torch.float32, device=dev)[None], layout).contiguous().requires_grad_(True)
    if target is None:
        with torch.no_grad():
            out = model(x)
            _check_outputs(out)
            target = int(out.reshape(1, -1).argmax(dim=1).item())
    if method == "saliency":
        attr = Saliency(model).attribute(x, target=target, abs=True)
    elif method == "integrated_gradients":
        attr = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target,
                                                    n_steps=n_steps).abs()
    else:
        raise ValueError(f"method must be 'saliency' or 'integrated_gradients', got {method!r}")
    a = attr[0].detach().cpu().numpy().astype(np.float64)
    chw_attr, _ = to_chw(a, layout)  # back to (C, H, W), whatever the network takes
    return chw_attr.sum(axis=0)


def _device_of(f: Callable) -> torch.device:
    params = getattr(f, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


def _usable_device(dev: torch.device) -> torch.device:
    """``dev`` if tensors can be made there; else a SaliencyError naming it (torch's own is a bare AssertionError
    for "cuda" without CUDA, and a meta network has no values to compute with)."""
    if dev.type == "meta":
        raise SaliencyError("the network's parameters are on the 'meta' device (shapes only, no values): load its "
                            "weights before asking for saliency")
    try:
        torch.empty(0, device=dev)
    except (AssertionError, RuntimeError) as exc:
        raise SaliencyError(f"device {str(dev)!r} is not available here ({type(exc).__name__}: {exc}); pass "
                            "device='cpu' or move the network") from exc
    return dev


def _check_outputs(out: torch.Tensor) -> None:
    if isinstance(out, torch.Tensor) and not bool(torch.isfinite(out).all()):
        raise SaliencyError("the network's outputs for this frame are NaN or inf (diverged weights?): no saliency "
                            "can be measured against them")
