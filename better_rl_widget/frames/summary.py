"""Data for the priority histogram and the "influential states" list, as small binary arrays (protocol.md).

Built by ``BufferWidget.publish_summary()`` from its own frame state (the worker only asks for it)."""

from __future__ import annotations

import numpy as np

from .codec import encode
from .frame_state import FrameState

BINS = 32
TOP_K = 20
# Ranked by magnitude: a large negative TD-error is as influential as a large positive one.
SUMMARY_FIELDS = ("priority", "td_error")


def build_summary(fs: FrameState, bins: int = BINS, top_k: int = TOP_K) -> bytes | None:
    """BRW1 blob with, per available field F: ``hist_F_edges`` float32[bins+1], ``hist_F_counts`` uint32[bins],
    ``top_F_slots`` uint32[k], ``top_F_values`` float32[k] (largest |F| first). None when no field has values."""
    present = np.flatnonzero(fs.present_mask())
    arrays: dict[str, np.ndarray] = {}
    fields: list[str] = []
    for name in SUMMARY_FIELDS:
        v = fs.column(name, present)
        ok = np.isfinite(v)
        if not ok.any():
            continue
        fields.append(name)
        slots, vals = present[ok], v[ok]
        mag = np.abs(vals)
        hi = float(mag.max())
        counts, edges = np.histogram(mag, bins=bins, range=(0.0, hi if hi > 0 else 1.0))
        arrays[f"hist_{name}_edges"] = edges.astype(np.float32)
        arrays[f"hist_{name}_counts"] = counts.astype(np.uint32)
        k = min(top_k, len(mag))
        top = np.argpartition(-mag, k - 1)[:k]
        top = top[np.argsort(-mag[top], kind="stable")]
        arrays[f"top_{name}_slots"] = slots[top].astype(np.uint32)
        arrays[f"top_{name}_values"] = vals[top].astype(np.float32)
    if not fields:
        return None
    return encode({"kind": "summary", "fields": fields, "seq": fs.seq}, arrays)
