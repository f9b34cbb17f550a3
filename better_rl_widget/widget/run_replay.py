"""A recorded run back in the widget: ``BufferWidget.from_run(run)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..frames.slot_info import json_scalar, obs_layout
from ..frames.snapshot import MapSnapshot

if TYPE_CHECKING:
    from ..store.reader import Run
    from .buffer_widget import BufferWidget


def widget_from_run(cls: type[BufferWidget], run: Run, **kwargs: Any) -> BufferWidget:
    """``cls.replay(snapshots)`` (the time scrubber) where the widget has it; otherwise the last recorded map."""
    items = run.snapshot_items()
    if not items:
        why = " (every snapshot chunk is damaged)" if run.snapshot_info().shape[0] else ""
        raise ValueError(f"{run.path} holds no readable map snapshots{why} (was it recorded with a hook that drew "
                         "frames?)")
    snaps = [s for _, s in items]
    capacity = recorded_capacity(run)
    replay = getattr(cls, "replay", None)
    if callable(replay):
        kwargs.setdefault("title", str(run.manifest.get("name") or ""))
        widget = replay(snaps, capacity=capacity, **kwargs)
    else:
        widget = cls(**kwargs)
        show_snapshot(widget, snaps[-1], _sample_rows(run, items[-1][0]), capacity=capacity)
        widget.add_note(f"recorded run: the last of {len(snaps)} maps (step {snaps[-1].step}); clicks show the "
                        "recorded sample of buffer rows")
    if run.damaged:
        widget.add_note(damage_note(run))
    return widget


def damage_note(run: Run) -> str:
    """One line naming the damaged files a replay or export skipped."""
    named = [f"{f} ({why})" for f, why in list(run.damaged.items())[:5]]
    more = f" and {len(run.damaged) - 5} more (run.damaged)" if len(run.damaged) > 5 else ""
    return f"recorded run: {len(run.damaged)} damaged file(s) skipped: {', '.join(named)}{more}"


def show_snapshot(widget: BufferWidget, snap: MapSnapshot, rows: dict[str, np.ndarray] | None = None,
                  capacity: int | None = None) -> None:
    """Draw one MapSnapshot in ``widget``; ``rows`` (slot-keyed buffer rows) answer the inspector."""
    cap = max(int(capacity or 0), int(snap.slots.max()) + 1 if len(snap.slots) else 1)
    by_slot = {int(s): i for i, s in enumerate(rows["slot"])} if rows else {}

    def inspect(slot: int) -> tuple[dict, np.ndarray | None]:
        i = by_slot.get(int(slot))
        if i is None or rows is None:
            return {"slot": int(slot), "present": False,
                    "message": "this slot is not in the run's recorded sample of buffer rows"}, None
        obs = np.asarray(rows["obs"][i]) if "obs" in rows else None
        meta: dict[str, Any] = {"slot": int(slot), "present": True, "message": ""}
        if obs is not None:
            meta.update(obs_shape=list(obs.shape), obs_dtype=str(obs.dtype), obs_layout=obs_layout(obs.shape))
        for name, col in rows.items():
            if name not in ("obs", "slot", "snapshot") and np.asarray(col[i]).ndim == 0:
                meta[name] = json_scalar(col[i])
        return meta, obs

    fs = widget.attach(cap, inspect)
    slots = np.asarray(snap.slots, np.int64)
    fs.upsert(slots, snap.fields)
    fs.set_extent(list(snap.extent))
    fs.set_coords(slots, snap.xy)
    widget.publish_keyframe()
    widget.update_status(running=False, hook_step=int(snap.step))
    widget.update_gauge(size=len(slots), capacity=cap)


def recorded_capacity(run: Run) -> int | None:
    """The recorded buffer's size (hook manifests; the reference DQN's config), when the manifest says."""
    cfg = run.manifest.get("config", {})
    cap = cfg.get("capacity") or cfg.get("dqn", {}).get("buffer_size") or run.manifest.get("agent", {}).get(
        "config", {}).get("buffer_size")
    return int(cap) if cap else None


def _sample_rows(run: Run, index: int) -> dict[str, np.ndarray] | None:
    s = run.arrays.get("buffer_sample")
    if not s or "snapshot" not in s:
        return None
    keep = s["snapshot"] == index
    return {k: v[keep] for k, v in s.items()} if keep.any() else None
