"""Keyframes and deltas on the wire (docs/protocol.md, "Frames"): what a decoded frame must hold, and the seq rules
a view follows. Mirrors the checks and ``applyDelta`` of ``js/src/state.ts``; malformed frames raise CodecError."""

from __future__ import annotations

from typing import Any

import numpy as np

from .codec import CodecError, decode

KINDS = ("keyframe", "delta")
# Row columns a keyframe must carry (js/src/state.ts REQUIRED_COLUMNS); when present they have one value per slot.
REQUIRED = ("x", "y", "step", "episode", "action", "reward", "done")
MAX_SEQ = 2**53 - 1  # the JS side holds seq in a double


def _count(meta: dict[str, Any], key: str) -> int | None:
    v = meta.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_SEQ:
        raise CodecError(f"frame meta {key!r} is {v!r}, not an integer in [0, 2**53)")
    return v


def check_frame(meta: dict[str, Any], arrays: dict[str, np.ndarray], kind: str | None = None) -> int:
    """The frame's seq, or CodecError naming what makes ``(meta, arrays)`` not a keyframe/delta (of ``kind``)."""
    got = meta.get("kind")
    if got not in KINDS or (kind is not None and got != kind):
        raise CodecError(f"expected a {kind or ' or '.join(KINDS)} frame, got kind {got!r}")
    seq = _count(meta, "seq")
    if seq is None:
        raise CodecError(f"{got} has no seq")
    _count(meta, "capacity")
    slots = arrays.get("slots")
    if slots is None or slots.dtype != np.uint32 or slots.ndim != 1:
        raise CodecError(f"{got} needs a 1-D uint32 'slots' array")
    n = len(slots)
    for name in REQUIRED:
        a = arrays.get(name)
        if a is None and got == "keyframe":
            raise CodecError(f"keyframe has no {name!r} array")
        if a is not None and a.shape != (n,):
            raise CodecError(f"{got} array {name!r} has shape {list(a.shape)}, expected [{n}]")
    removed = arrays.get("removed")
    if removed is not None and (removed.dtype != np.uint32 or removed.ndim != 1):
        raise CodecError(f"{got} 'removed' must be a 1-D uint32 array")
    return seq


def decode_frame(blob: bytes | bytearray | memoryview, kind: str | None = None
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """:func:`decode` plus :func:`check_frame`."""
    meta, arrays = decode(blob)
    check_frame(meta, arrays, kind)
    return meta, arrays


class FrameSequence:
    """Which frames a view applies. A keyframe always (and ends a gap once its seq reaches it); a delta only when
    its seq is the next one. An older delta is stale; a newer one is a gap: ask for a keyframe once, then ignore
    deltas until that keyframe arrives. Before the first keyframe every delta is a gap."""

    def __init__(self) -> None:
        self.seq = -1
        self.gap: int | None = None

    def keyframe(self, seq: int) -> None:
        self.seq = seq
        if self.gap is not None and seq >= self.gap:
            self.gap = None

    def delta(self, seq: int) -> str:
        """``applied``, ``stale``, ``gap`` (the caller asks for a keyframe) or ``ignored``."""
        if self.gap is not None:
            return "ignored"
        if self.seq >= 0 and seq <= self.seq:
            return "stale"
        if self.seq < 0 or seq != self.seq + 1:
            self.gap = seq
            return "gap"
        self.seq = seq
        return "applied"
