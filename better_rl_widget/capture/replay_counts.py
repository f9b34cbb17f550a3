"""How often each stored transition was sampled for training, and how long ago (replay counts and staleness).

A :class:`ReplayCounter` lives beside a buffer: the buffer (or an adapter's wrapper around its sampler) calls
:meth:`ReplayCounter.sampled` with the slot ids of each training batch and :meth:`ReplayCounter.written` when
slots are overwritten. Both run on the training thread and are one vectorised numpy call each (``np.add.at`` on
the batch, a fancy-indexed store), never a loop or a pass over the buffer.

Staleness is counted in *sample calls* (≈ training steps): the number of batches drawn since the slot was last
replayed, or since it was written if it never was.

The hook reads the drawn lanes' counts once per copy (at most ``max_points`` values) and streams them as the map's
``replays`` and ``staleness`` channels; see docs/capture.md ("Replay counts").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..frames.summary import replay_stats, spearman

__all__ = ["ReplayCounter", "check_factor", "check_slots", "replay_stats", "spearman"]


class ReplayCounter:
    """Per-slot replay counts and the sample call of the last replay.

    Memory: 8 bytes a slot of the buffer (uint32 count + uint32 clock) — like the map sample's slot→lane index,
    the only buffer-sized arrays of the live path; counting needs one per stored transition (1M slots: 8 MB)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.counts = np.zeros(self.capacity, np.uint32)
        self._last = np.zeros(self.capacity, np.uint32)  # sample call of the last replay (or of the write)
        self.calls = 0  # sample calls so far: the staleness clock
        self.samples = 0  # transitions sampled so far (with repeats)

    def sampled(self, slots: ArrayLike) -> None:
        """Count one training batch (slot ids, repeats allowed). Training thread: one ``np.add.at``."""
        idx = np.asarray(slots).ravel()
        if idx.dtype.kind not in "iu":
            idx = idx.astype(np.int64)
        idx = idx[(idx >= 0) & (idx < self.capacity)]  # e.g. TorchRL's -1 padding
        np.add.at(self.counts, idx, 1)
        self.calls += 1
        self._last[idx] = self.calls
        self.samples += len(idx)

    def written(self, slots: ArrayLike) -> None:
        """``slots`` now hold new transitions: their counts start again at 0."""
        if isinstance(slots, int):  # one add(): two scalar stores
            self.counts[slots] = 0
            self._last[slots] = self.calls
            return
        idx = np.asarray(slots).ravel()
        self.counts[idx] = 0
        self._last[idx] = self.calls

    def written_range(self, start: int, stop: int) -> None:
        """Slots ``start:stop`` hold new transitions (one SB3 row of all envs): a contiguous store."""
        self.counts[start:stop] = 0
        self._last[start:stop] = self.calls

    def read(self, slots: np.ndarray) -> np.ndarray:
        """Replay counts of ``slots`` (float32, the map's channel dtype)."""
        return self.counts[np.asarray(slots, np.int64)].astype(np.float32)

    def staleness(self, slots: np.ndarray) -> np.ndarray:
        """Sample calls since each slot was last replayed (or written, if never), float32."""
        last = self._last[np.asarray(slots, np.int64)].astype(np.int64)
        return (self.calls - last).astype(np.float32)


def check_factor(factor: float) -> float:
    """A priority factor must be a finite number > 0."""
    try:
        f = float(factor)
    except (TypeError, ValueError):
        raise ValueError(f"factor must be a positive finite number, got {factor!r}") from None
    if isinstance(factor, bool) or not math.isfinite(f) or f <= 0:
        raise ValueError(f"factor must be a positive finite number, got {factor!r} (a priority of 0 would never "
                         "be sampled again; to drop transitions, use a small factor such as 0.01)")
    return f


def check_slots(slots: ArrayLike | Sequence[int], resident: int, capacity: int) -> np.ndarray:
    """Unique int64 slot ids, each in ``[0, resident)``; ValueError naming the problem otherwise."""
    raw = np.asarray(slots)
    if raw.size == 0:
        raise ValueError("no slots given (nothing selected? lasso some points first: widget.selection)")
    if raw.dtype.kind not in "iu":
        raise ValueError(f"slots must be integer buffer slot ids (widget.selection), got dtype {raw.dtype}")
    s = np.unique(raw.astype(np.int64).ravel())
    bad = s[(s < 0) | (s >= resident)]
    if len(bad):
        shown = ", ".join(str(int(x)) for x in bad[:5]) + (", …" if len(bad) > 5 else "")
        raise ValueError(f"slots [{shown}] are out of range: the buffer holds {resident} transitions in slots "
                         f"0..{resident - 1} (capacity {capacity})")
    return s
