"""The lassoed transitions as arrays (``BufferWidget.selection_dataset()``): to save, inspect or train on.

Read from what the map holds — the worker's mirror of the drawn rows (observations in their own dtype, next
observations when the hook keeps them) and the frame state (TD-error, priority, replays, ...) — never from the
user's buffer, which the training thread may be writing. Nothing here changes training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .buffer_widget import BufferWidget

# Row fields of the mirror, in this order when present.
MIRROR_FIELDS = ("next_obs", "action", "reward", "done", "terminated", "episode", "step", "episode_step")
# Per-row values the map computes or streams; NaN where unknown for a row, absent when unknown for all.
MAP_FIELDS = ("td_error", "priority", "replays", "staleness", "q", "value", "return")


def selection_dataset(widget: BufferWidget, *, as_frame: bool = False) -> Any:
    """The selected transitions: ``slot`` (buffer slot), ``point`` (map point id), ``obs``, ``next_obs`` (when
    held), ``action``, ``reward``, ``done``, ``terminated``, ``episode``, ``step``, ``episode_step``, and
    ``td_error``, ``priority``, ``replays``, ``staleness``, ``q``, ``value``, ``return`` where the map knows them
    (NaN for a row without a value). One row per selected point that still holds a transition, in selection
    order. ``as_frame=True``: a pandas DataFrame (observations as one array per cell).

    Raises ValueError when nothing is selected, RuntimeError without a live map (no TrainingHook attached)."""
    points = np.asarray(widget.selected_points, np.int64)
    if len(points) == 0:
        raise ValueError("nothing is selected: lasso points on the map first (widget.selection is empty)")
    # The worker hands the widget a bound inspect method: of its mirror, or of the worker, which holds the mirror.
    owner = getattr(widget._inspect_fn, "__self__", None)
    mirror = owner if hasattr(owner, "present") else getattr(owner, "mirror", None)
    fs = widget.frame_state
    if fs is None or mirror is None or not hasattr(mirror, "present") or not hasattr(mirror, "rows"):
        raise RuntimeError("selection_dataset reads the live map's rows: attach the widget to a TrainingHook "
                           "(a replayed run keeps no observations; use widget.table() there)")
    with mirror._lock:  # one consistent copy while the worker may be checking in rows
        ok = (points >= 0) & (points < len(mirror.present))
        ok[ok] = mirror.present[points[ok]]
        pts = points[ok]
        out: dict[str, np.ndarray] = {}
        out["slot"] = (np.asarray(mirror.fields["slot"][pts], np.int64) if "slot" in mirror.fields
                       else pts.copy())
        out["point"] = pts.copy()
        out["obs"] = np.array(mirror.obs[pts]) if mirror.obs is not None else np.zeros((0,))
        for name in MIRROR_FIELDS:
            if name in mirror.fields:
                out[name] = np.array(mirror.fields[name][pts])
    for name in MAP_FIELDS:
        v = fs.column(name, pts)
        if np.isfinite(v).any():
            out[name] = v
    if not as_frame:
        return out
    import pandas as pd  # loads on first use, not with the widget

    cols = {k: (list(v) if v.ndim > 1 else v) for k, v in out.items()}
    return pd.DataFrame(cols)
