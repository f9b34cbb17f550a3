"""The map as a pandas DataFrame: one row per drawn point, for analysis in the notebook (``BufferWidget.table()``).

Reads a copy of the frame state (or, for a replayed run, its newest snapshot), never the wire format, so it needs
no decoding and stays right when the codec changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from ..frames.frame_state import BASE_FIELDS, FrameState
from ..frames.snapshot import MapSnapshot


def map_table(snapshot: MapSnapshot | None, slot_of: Callable[[np.ndarray], np.ndarray] | None = None) -> pd.DataFrame:
    """``point`` (the map's point id, which ``clicked`` and the inspector use), ``slot`` (the buffer slot it shows;
    -1 if none), ``x``, ``y``, then every per-row field the map holds (step, episode, action, reward, done, and
    td_error, priority, q, value, return, skill once the hook provides them), sorted by point.
    ``snapshot=None``: an empty frame with the base columns."""
    if snapshot is None:
        columns: dict[str, np.ndarray] = {"point": np.zeros(0, np.int64), "slot": np.zeros(0, np.int64),
                                          "x": np.zeros(0, np.float32), "y": np.zeros(0, np.float32)}
        columns.update({k: np.zeros(0, v) for k, v in BASE_FIELDS.items()})
        return pd.DataFrame(columns)
    order = np.argsort(snapshot.slots, kind="stable")
    points = np.asarray(snapshot.slots, np.int64)[order]
    # A sampled map draws lanes of a larger buffer; without slot_of a point id is its buffer slot.
    slots = points.copy() if slot_of is None else np.asarray(slot_of(points), np.int64)
    columns = {"point": points, "slot": slots, "x": snapshot.xy[order, 0], "y": snapshot.xy[order, 1]}
    columns.update({k: np.asarray(v)[order] for k, v in snapshot.fields.items()})
    return pd.DataFrame(columns)


def widget_table(frame_state: FrameState | None, history: Iterable[MapSnapshot],
                 slot_of: Callable[[np.ndarray], np.ndarray] | None = None) -> pd.DataFrame:
    """The live map's rows when there is a frame state, else the newest snapshot of ``history`` (a replayed run)."""
    if frame_state is not None:
        return map_table(frame_state.snapshot(step=0, time_s=0.0), slot_of)
    kept = list(history)  # one copy: the history may change while we read it
    return map_table(kept[-1] if kept else None)
