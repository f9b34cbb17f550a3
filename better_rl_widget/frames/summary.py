"""Data for the priority / replay-count histograms and the "influential states" list, as small binary arrays
(protocol.md), plus replay statistics of the drawn rows in the header (``replays``: never-replayed fraction,
median, and with priorities the Spearman rank correlation of priority and replay count).

Built by ``BufferWidget.publish_summary()`` from its own frame state (the worker only asks for it)."""

from __future__ import annotations

import math

import numpy as np

from .codec import encode
from .frame_state import FrameState

BINS = 32
TOP_K = 20
# Ranked by magnitude: a large negative TD-error is as influential as a large positive one.
SUMMARY_FIELDS = ("priority", "td_error")


def build_summary(fs: FrameState, bins: int = BINS, top_k: int = TOP_K) -> bytes | None:
    """BRW1 blob with, per available field F: ``hist_F_edges`` float32[bins+1], ``hist_F_counts`` uint32[bins],
    ``top_F_slots`` uint32[k], ``top_F_values`` float32[k] (largest |F| first); with replay counts also
    ``hist_replays_edges``/``hist_replays_counts`` and the header's ``replays`` statistics (not a ranked field:
    the influential list stays priority/TD-error). None when there is nothing to show."""
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
    replays = fs.column("replays", present)
    replays = replays[np.isfinite(replays)]
    if not fields and not len(replays):
        return None
    meta: dict = {"kind": "summary", "fields": fields, "seq": fs.seq}
    if len(replays):
        hi = float(replays.max())
        if hi < bins:  # integer counts: one bin per count, centred on it
            counts, edges = np.histogram(replays, bins=np.arange(int(hi) + 2) - 0.5)
        else:
            counts, edges = np.histogram(replays, bins=bins, range=(0.0, hi))
        arrays["hist_replays_edges"] = edges.astype(np.float32)
        arrays["hist_replays_counts"] = counts.astype(np.uint32)
        meta["replays"] = _replay_meta(fs, present)
    return encode(meta, arrays)


def _replay_meta(fs: FrameState, present: np.ndarray) -> dict:
    """Over the drawn rows (``of: "drawn"``: an even sample of the buffer by age, at most max_points rows): a
    whole-buffer median would cost a pass over the buffer each frame."""
    counts = fs.column("replays", present)
    out: dict = {"of": "drawn", **replay_stats(counts)}
    prio = fs.column("priority", present)
    if np.isfinite(prio).any():
        rho = spearman(prio, counts)
        out["spearman_priority"] = None if math.isnan(rho) else rho
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def replay_stats(counts: np.ndarray) -> dict[str, float]:
    """``never`` (fraction with 0 replays), ``median`` and ``mean`` replays, ``n`` transitions."""
    c = np.asarray(counts, np.float64)
    c = c[np.isfinite(c)]
    if len(c) == 0:
        return {"n": 0, "never": math.nan, "median": math.nan, "mean": math.nan}
    return {"n": len(c), "never": float(np.mean(c == 0)), "median": float(np.median(c)), "mean": float(c.mean())}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (ties averaged); NaN when fewer than 3 pairs or either side is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    from scipy.stats import spearmanr  # loaded on first use: the summary needs it only with priorities

    return float(spearmanr(a, b).statistic)
