"""Small uint8 thumbnails of the influential states (the summary's top-K slots), for image observations.

The worker calls :meth:`Thumbnails.refresh` with each new summary (off the training thread); thumbnails are
rebuilt only when the set of top-K (slot, insert step) pairs changes. Saliency overlays for the same slots come
from the widget's :class:`~better_rl_widget.widget.saliency_service.SaliencyService` when it is on, and are merged
into the same ``thumbnails`` trait as they arrive (docs/protocol.md).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..frames.codec import decode, encode

if TYPE_CHECKING:
    from .buffer_widget import BufferWidget

MAX_SIDE = 32
# Tableau 10, the widget's categorical palette (js/src/colors.ts): one hue per channel of a composite.
PALETTE = np.array([[0x4E, 0x79, 0xA7], [0xF2, 0x8E, 0x2B], [0xE1, 0x57, 0x59], [0x76, 0xB7, 0xB2],
                    [0x59, 0xA1, 0x4F], [0xED, 0xC9, 0x48], [0xB0, 0x7A, 0xA1], [0xFF, 0x9D, 0xA7],
                    [0x9C, 0x75, 0x5F], [0xBA, 0xB0, 0xAC]], np.float64) / 255.0

InspectFn = Callable[[int], tuple[dict, "np.ndarray | None"]]


# -- pixels ------------------------------------------------------------------------------------------------
def block_factor(h: int, w: int, max_side: int = MAX_SIDE) -> int:
    """The integer downsampling factor that brings the longer side to ≤ ``max_side`` (1 for small frames)."""
    return max(1, math.ceil(max(h, w) / max_side))


def downsample(img: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Block mean over f×f pixel blocks (f = :func:`block_factor`; edge blocks average the pixels they have).

    Integer blocks keep the thumbnail's pixels crisp and every output pixel an honest average of the frame's."""
    a = np.asarray(img, np.float64)
    h, w = a.shape[:2]
    f = block_factor(h, w, max_side)
    if f == 1:
        return a.copy()
    rows, cols = np.arange(0, h, f), np.arange(0, w, f)
    sums = np.add.reduceat(np.add.reduceat(a, rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))
    return sums / (counts if a.ndim == 2 else counts[..., None])


def _minmax(a: np.ndarray) -> np.ndarray:
    """Normalised to 0..1 over the whole array, as the inspector draws images (NaN/inf → 0)."""
    a = np.where(np.isfinite(a), a, np.nan)
    lo, hi = np.nanmin(a), np.nanmax(a)
    if not np.isfinite(lo):
        return np.zeros_like(a)
    out = (a - lo) / (hi - lo) if hi > lo else np.full_like(a, 0.5)
    return np.nan_to_num(out, nan=0.0)


def frame_image(obs: np.ndarray, layout: str) -> np.ndarray:
    """The picture a thumbnail shows, float 0..1, (H, W) gray or (H, W, 3) RGB:

    - ``HW``: the frame; ``CHW``: the newest frame of the stack (the last channel);
    - ``HWC`` with 3 channels: RGB; with 1: gray; with 0/1 object planes (MinAtar): a composite, one palette hue
      per channel; other channel-last stacks: the newest (last) frame.
    """
    a = np.asarray(obs)
    if layout == "HW" and a.ndim == 2:
        return _minmax(a.astype(np.float64))
    if layout == "CHW" and a.ndim == 3:
        return _minmax(a[-1].astype(np.float64))
    if layout == "HWC" and a.ndim == 3:
        c = a.shape[2]
        if c == 3:
            return _minmax(a.astype(np.float64))
        if c == 1:
            return _minmax(a[..., 0].astype(np.float64))
        if a.dtype == bool or np.isin(a, (0, 1)).all():
            planes = a.astype(np.float64)
            colours = PALETTE[np.arange(c) % len(PALETTE)]  # (C, 3)
            return (planes[..., :, None] * colours).max(axis=2)  # the hue of the object present, black elsewhere
        return _minmax(a[..., -1].astype(np.float64))
    raise ValueError(f"no thumbnail for layout {layout!r} and shape {a.shape}")


def to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def thumbnail(obs: np.ndarray, layout: str, max_side: int = MAX_SIDE) -> np.ndarray:
    """uint8 (h, w, 1) or (h, w, 3) thumbnail of an image observation, h, w ≤ ``max_side``."""
    img = downsample(frame_image(obs, layout), max_side)
    return to_uint8(img if img.ndim == 3 else img[..., None])


def map_thumbnail(sal: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """A saliency map (H, W) → uint8 (h, w): scaled to its peak (as the inspector's overlay), then downsampled."""
    s = np.nan_to_num(np.asarray(sal, np.float64), nan=0.0)
    peak = float(s.max()) if s.size else 0.0
    return to_uint8(downsample(s / peak if peak > 0 else s, max_side))


def top_slots(summary: bytes) -> np.ndarray:
    """The influential list's slots: each summary field's top-K in display order, each slot once (uint32)."""
    if not summary:
        return np.zeros(0, np.uint32)
    meta, arrays = decode(summary)
    seen: dict[int, None] = {}
    for f in meta.get("fields", []):
        for s in arrays.get(f"top_{f}_slots", np.zeros(0, np.uint32)).tolist():
            seen.setdefault(int(s), None)
    return np.fromiter(seen, np.uint32, len(seen))


# -- the trait -----------------------------------------------------------------------------------------------
class Thumbnails:
    """Keeps the ``thumbnails`` trait of one widget current: images of the top-K slots, plus saliency maps."""

    def __init__(self, widget: BufferWidget, max_side: int = MAX_SIDE) -> None:
        self.widget = widget
        self.max_side = max_side
        self._lock = threading.RLock()
        self._key: tuple[tuple[int, int], ...] = ()  # the top-K (slot, step) set last refreshed for
        self.entries: tuple[tuple[int, int], ...] = ()  # the (slot, insert step) rows with a thumbnail, in order
        self.refreshes = 0  # how many times the images were rebuilt (top-K set changes)
        self._images: np.ndarray | None = None  # (n, h, w, c) uint8
        self._layout = ""
        self._maps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # (slot, step) → (actor, critic)
        self._pictures: dict[tuple[int, int], np.ndarray] = {}  # (slot, step) → thumbnail: only new rows are read
        self._vector = False  # vector observations: nothing to do until the next attach
        self.message = ""

    def reset(self) -> None:
        with self._lock:
            self._key, self.entries, self._images, self._layout, self.message = (), (), None, "", ""
            self._maps.clear()
            self._pictures.clear()
            self._vector = False
            self.widget.thumbnails = b""

    def refresh(self, summary: bytes, inspect: InspectFn | None, steps_of: Callable[[np.ndarray], np.ndarray]) -> bool:
        """Rebuild the images when the top-K (slot, step) set changed; True when it did. Worker thread."""
        if self._vector:
            return False
        slots = top_slots(summary)
        key = tuple(zip(slots.tolist(), np.asarray(steps_of(slots)).astype(np.int64).tolist(), strict=True))
        if key == self._key:
            return False
        self._key = key
        images: list[np.ndarray] = []
        entries: list[tuple[int, int]] = []
        layout = self._layout
        for slot, listed in key if inspect is not None else ():
            step = listed
            pic = self._pictures.get((slot, listed))
            if pic is None:
                assert inspect is not None  # the loop runs only with it
                meta, obs = inspect(slot)
                if obs is None:  # evicted meanwhile: no row to show
                    continue
                layout = str(meta.get("obs_layout", "vector"))
                if layout == "vector":  # vector observations: no thumbnails at all
                    self._vector, images = True, []
                    break
                step = int(meta.get("step", listed))
                pic = thumbnail(obs, layout, self.max_side)
            images.append(pic)
            entries.append((slot, step))
        ok = bool(images) and len({im.shape for im in images}) == 1
        with self._lock:
            self.entries = tuple(entries) if ok else ()
            self._images = np.stack(images) if ok else None
            self._layout = layout
            live = set(self.entries)
            self._pictures = dict(zip(self.entries, images, strict=True)) if ok else {}
            for k in [k for k in self._maps if k not in live]:  # bounded: only the rows shown now
                del self._maps[k]
            self.refreshes += 1
            self.publish()
        service = getattr(self.widget, "_saliency", None)
        if ok and service is not None:
            service.request_thumbnails(self)
        return True

    def missing_maps(self) -> list[tuple[int, int]]:
        """(slot, step) rows shown now without saliency maps yet, in list order."""
        with self._lock:
            return [k for k in self.entries if k not in self._maps]

    def add_maps(self, slot: int, step: int, actor: np.ndarray, critic: np.ndarray) -> None:
        """Saliency maps (full size) for one row; kept only while that (slot, step) is shown."""
        a, c = map_thumbnail(actor, self.max_side), map_thumbnail(critic, self.max_side)
        with self._lock:
            if (slot, step) in self.entries:
                self._maps[(slot, step)] = (a, c)

    def publish(self, message: str | None = None) -> None:
        """Encode the current rows (and whatever maps exist for them) into the ``thumbnails`` trait."""
        with self._lock:
            if message is not None:
                self.message = message
            if self._images is None:
                if self.widget.thumbnails:
                    self.widget.thumbnails = b""
                return
            _n, h, w, c = self._images.shape
            service = getattr(self.widget, "_saliency", None)
            arrays: dict[str, Any] = {
                "slots": np.array([k[0] for k in self.entries], np.uint32),
                "steps": np.array([k[1] for k in self.entries], np.uint32),
                "images": self._images,
            }
            have = np.array([k in self._maps for k in self.entries], np.uint8)
            if have.any():
                blank = np.zeros((h, w), np.uint8)
                arrays["has_saliency"] = have
                arrays["actor"] = np.stack([self._maps[k][0] if k in self._maps else blank for k in self.entries])
                arrays["critic"] = np.stack([self._maps[k][1] if k in self._maps else blank for k in self.entries])
            saliency = "unavailable" if service is None else "on" if service.thumbnails else "off"
            meta = {"kind": "thumbnails", "layout": self._layout, "size": [h, w], "channels": c,
                    "saliency": saliency, "message": self.message}
            self.widget.thumbnails = encode(meta, arrays)
