"""Episodes as ordered paths through the map, and segments of map regions that recur across episodes.

The unit is a *buffer table*: one row per drawn slot with its map coordinates and the buffer's fields
(``slot, x, y, step, episode, episode_step, action, reward, done`` and, where the hook computes them,
``td_error, q, value, priority, return``). :func:`buffer_table` builds it from a live ``TrainingHook``;
any DataFrame with those columns works with the functions here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

import numpy as np
import pandas as pd

TABLE_FIELDS = ("step", "episode", "episode_step", "action", "reward", "done", "terminated", "td_error", "q",
                "value", "priority", "return")


def buffer_table(hook: Any) -> pd.DataFrame:
    """One row per slot on the map of ``hook`` (a :class:`~better_rl_widget.TrainingHook`), ordered by slot.

    Reads the worker's copy of the buffer and the map's coordinates, never the training thread's buffer. Call
    ``hook.flush()`` first when every stored row must be included.
    """
    fs = hook.widget.frame_state
    mirror = hook.worker.mirror
    if fs is None:
        raise ValueError("the widget has no map yet: attach it with TrainingHook(widget, buffer) first")
    slots = fs.present_slots().astype(np.int64)
    slots = slots[mirror.present[slots]]
    xy = fs.coords(slots)
    data: dict[str, np.ndarray] = {"slot": slots, "x": xy[:, 0], "y": xy[:, 1]}
    names = tuple(n for n in TABLE_FIELDS if n in mirror.fields)
    if names:
        rows = mirror.rows(slots, names)
        for n in names:
            v = rows[n]
            data[n] = v.reshape(len(v), -1)[:, 0] if v.ndim > 1 else v
    for n in ("td_error", "q", "value", "priority", "return"):
        if n not in data:
            col = fs.column(n, slots)
            if np.isfinite(col).any():
                data[n] = col
    table = pd.DataFrame(data)
    if "episode_step" not in table and "step" in table:
        # Buffers without a per-episode counter: order within an episode by insertion.
        table["episode_step"] = table.groupby("episode")["step"].rank(method="first").astype(np.int64) - 1
    return table


def _check(table: pd.DataFrame, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks column(s) {', '.join(missing)}; have {', '.join(map(str, table.columns))}")


def episodes(table: pd.DataFrame, last: int | None = None, *, finished_only: bool = False,
             min_length: int = 1) -> pd.DataFrame:
    """Rows sorted by ``(episode, episode_step)``; ``last``: only the ``last`` newest episodes;
    ``finished_only``: only episodes whose final (``done``) step is in the table."""
    _check(table, ("episode", "episode_step"))
    t = table.sort_values(["episode", "episode_step"], kind="stable")
    if finished_only:
        _check(table, ("done",))
        fin = t.groupby("episode")["done"].any()
        t = t[t["episode"].isin(fin.index[fin.to_numpy(bool)])]
    if min_length > 1:
        size = t.groupby("episode")["episode"].transform("size")
        t = t[size >= min_length]
    if last is not None:
        if last < 1:
            raise ValueError(f"last must be a positive number of episodes, got {last}")
        keep = np.sort(t["episode"].unique())[-last:]
        t = t[t["episode"].isin(keep)]
    return t.reset_index(drop=True)


def episode_paths(table: pd.DataFrame, last: int | None = None, **kw: Any) -> dict[int, np.ndarray]:
    """``{episode: slots in step order}`` (what the map draws as polylines)."""
    t = episodes(table, last, **kw)
    # the groupby keys are episode ids (pandas' stubs cannot know the column's dtype)
    return {int(cast(int, e)): g["slot"].to_numpy(np.int64) for e, g in t.groupby("episode", sort=True)}


def map_regions(xy: np.ndarray, n_regions: int = 12, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Discretise the map into ``n_regions`` k-means regions: ``(labels int64[n], centers float[n_regions, 2])``."""
    from sklearn.cluster import KMeans

    xy = np.asarray(xy, np.float64)
    if len(xy) < n_regions:
        raise ValueError(f"{len(xy)} points cannot form {n_regions} regions")
    km = KMeans(n_clusters=n_regions, n_init=4, random_state=seed).fit(xy)
    return km.labels_.astype(np.int64), km.cluster_centers_


def region_sequences(table: pd.DataFrame, regions: np.ndarray, *,
                     min_dwell: int = 1) -> dict[int, tuple[np.ndarray, list[np.ndarray]]]:
    """Per episode, its run-length-collapsed region sequence and, per run, the slots in it.

    ``regions`` is aligned with ``table``'s rows. A run that leaves a region and comes back counts twice.
    ``min_dwell``: runs shorter than this many steps (a brush past a region's border) are dropped before
    collapsing, so ``A A B A A`` with ``min_dwell=2`` is one visit to ``A``.
    """
    _check(table, ("episode", "episode_step", "slot"))
    t = table.assign(_region=np.asarray(regions, np.int64)).sort_values(["episode", "episode_step"], kind="stable")
    out: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}
    ep: Any  # an episode id (the groupby key; pandas' stubs cannot know the column's dtype)
    for ep, g in t.groupby("episode", sort=True):
        r = g["_region"].to_numpy()
        s = g["slot"].to_numpy(np.int64)
        starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        runs = np.split(s, starts[1:])
        keep = [i for i, run in enumerate(runs) if len(run) >= min_dwell]
        seq, kept = r[starts][keep], [runs[i] for i in keep]
        if len(seq) > 1:  # neighbours that became equal after dropping merge into one visit
            brk = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
            kept = [np.concatenate(kept[a:b]) for a, b in zip(brk, np.r_[brk[1:], len(seq)], strict=True)]
            seq = seq[brk]
        out[int(ep)] = (seq, kept)
    return out


def recurring_segments(table: pd.DataFrame, regions: np.ndarray, *, length: int = 3, min_count: int = 2,
                       min_dwell: int = 2, top: int | None = 20) -> pd.DataFrame:
    """Sequences of ``length`` map regions that several episodes pass through, most frequent first.

    Each episode's region sequence is run-length collapsed (staying in a region is one symbol; stays shorter
    than ``min_dwell`` steps are ignored, see :func:`region_sequences`), then every ``length``-gram is counted
    once per occurrence. Columns: ``segment`` (tuple of regions), ``count``
    (occurrences), ``n_episodes``, ``episodes`` (ids), ``slots`` (uint32 slots of every occurrence, for
    highlighting).
    """
    if length < 2:
        raise ValueError(f"a segment needs at least 2 regions, got length={length}")
    counts: dict[tuple[int, ...], int] = defaultdict(int)
    eps: dict[tuple[int, ...], set[int]] = defaultdict(set)
    slots: dict[tuple[int, ...], list[np.ndarray]] = defaultdict(list)
    for ep, (seq, runs) in region_sequences(table, regions, min_dwell=min_dwell).items():
        for i in range(len(seq) - length + 1):
            key = tuple(int(v) for v in seq[i:i + length])
            counts[key] += 1
            eps[key].add(ep)
            slots[key].extend(runs[i:i + length])
    rows = [{"segment": k, "count": c, "n_episodes": len(eps[k]), "episodes": sorted(eps[k]),
             "slots": np.unique(np.concatenate(slots[k])).astype(np.uint32)}
            for k, c in counts.items() if c >= min_count]
    df = pd.DataFrame(rows, columns=["segment", "count", "n_episodes", "episodes", "slots"])
    df = df.sort_values(["count", "n_episodes"], ascending=False, kind="stable").reset_index(drop=True)
    return df if top is None else df.head(top)


def labels_for(table: pd.DataFrame, labels: np.ndarray, slots: np.ndarray,
               step: np.ndarray | None = None) -> np.ndarray:
    """Labels fitted on ``table`` (e.g. skills) for other rows given by ``slots`` (and their insertion ``step``):
    -1 where a slot is not in the table, or holds a newer transition than the table saw."""
    labels = np.asarray(labels)
    pos = pd.Index(table["slot"].to_numpy(np.int64)).get_indexer(pd.Index(np.asarray(slots, np.int64)))
    out = np.full(len(pos), -1, np.int64)
    ok = pos >= 0
    if step is not None and "step" in table:
        ok[ok] &= table["step"].to_numpy()[pos[ok]] == np.asarray(step)[ok]
    out[ok] = labels[pos[ok]]
    return out
