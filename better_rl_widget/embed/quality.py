"""How faithful and how stable a 2-D map is: kNN-preservation@k, trustworthiness, frame-to-frame displacement."""

from __future__ import annotations

import numpy as np
from sklearn.manifold import trustworthiness as _sk_trustworthiness
from sklearn.neighbors import NearestNeighbors


def knn_preservation(high: np.ndarray, low: np.ndarray) -> float:
    """Mean fraction of each row's high-dimensional neighbour ids (``high``, (n, k)) found among its 2-D ones
    (``low``, (n, k)). 1.0 means every neighbourhood survived the projection; random maps score about k/N."""
    high, low = np.asarray(high), np.asarray(low)
    if high.shape != low.shape or high.ndim != 2:
        raise ValueError(f"neighbour id arrays must have one (n, k) shape, got {high.shape} and {low.shape}")
    if high.size == 0:
        return float("nan")
    hits = (high[:, :, None] == low[:, None, :]).any(axis=2)
    return float(hits.mean())


def knn_ids(X: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Ids of the k exact nearest neighbours (self excluded) of ``rows`` (default: all) within ``X``."""
    rows = np.arange(len(X)) if rows is None else np.asarray(rows)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(X)
    idx = nn.kneighbors(X[rows], return_distance=False)
    # Drop self (duplicates can put self anywhere in the first places, so remove by identity, not position).
    out = np.empty((len(rows), k), np.int64)
    for i, (r, ids) in enumerate(zip(rows, idx)):
        out[i] = ids[ids != r][:k]
    return out


def knn_preservation_of(X_high: np.ndarray, Y: np.ndarray, k: int = 10, sample: int | None = 1000,
                        seed: int = 0) -> float:
    """kNN-preservation@k of the map ``Y`` of ``X_high``, on a deterministic sample of rows (None: all)."""
    n = len(X_high)
    if n <= k:
        raise ValueError(f"need more than k={k} points, got {n}")
    rows = None
    if sample is not None and n > sample:
        rows = np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    return knn_preservation(knn_ids(X_high, k, rows), knn_ids(Y, k, rows))


def trustworthiness(X_high: np.ndarray, Y: np.ndarray, k: int = 10) -> float:
    """scikit-learn's trustworthiness (Venna & Kaski): penalises 2-D neighbours that are far in the data."""
    return float(_sk_trustworthiness(X_high, Y, n_neighbors=k))


def displacement(prev: np.ndarray, cur: np.ndarray, extent: list[float] | None = None) -> float:
    """Mean distance kept points moved between two frames; divided by the view width when ``extent`` is given
    (so 0.01 = 1 % of the screen)."""
    prev, cur = np.asarray(prev, np.float64), np.asarray(cur, np.float64)
    if prev.shape != cur.shape:
        raise ValueError(f"frames must align row for row, got {prev.shape} and {cur.shape}")
    if len(prev) == 0:
        return 0.0
    d = float(np.linalg.norm(cur - prev, axis=1).mean())
    if extent is not None:
        d /= max(extent[1] - extent[0], extent[3] - extent[2], 1e-12)
    return d


def kept_displacement(slots_a: np.ndarray, xy_a: np.ndarray, slots_b: np.ndarray, xy_b: np.ndarray,
                      extent: list[float] | None = None) -> float:
    """:func:`displacement` over the slots present in both frames (a frame's slots may come in any order)."""
    _common, ia, ib = np.intersect1d(slots_a, slots_b, return_indices=True)
    return displacement(xy_a[ia], xy_b[ib], extent)
