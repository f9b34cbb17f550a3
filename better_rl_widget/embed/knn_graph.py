"""An exact k-nearest-neighbour graph over buffer slots, kept up to date as slots come and go.

openTSNE's kNN indexes (Annoy, pynndescent) are static: they cannot take insertions or deletions. A replay buffer
changes every moment, so this graph is maintained incrementally instead:

* insert m rows: one (m x N) distance block (BLAS matmul, chunked) gives the new rows' neighbour lists, and every
  existing row whose k-th distance is beaten by a new row merges it in;
* remove slots: their entries are struck from every list; lists left with fewer than ``repair_below`` live
  neighbours are re-queried exactly (brute force on just those rows). Lists between that and ``k`` keep working
  with fewer neighbours (openTSNE's perplexity calibration only needs a few).

Padding is an own-index entry with :data:`FAR` distance, so every row has exactly ``k`` columns (what openTSNE's
``joint_probabilities_nn`` needs); its Gaussian weight underflows to exactly 0.
"""

from __future__ import annotations

import numpy as np

FAR = np.float32(1e6)
_CHUNK = 2048  # rows per distance block: bounds temporary memory at CHUNK x N floats


def sq_dists(A: np.ndarray, B: np.ndarray, b_sq: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances (a, b) via ||a||^2 + ||b||^2 - 2ab, clipped at 0 (rounding)."""
    if b_sq is None:
        b_sq = np.einsum("ij,ij->i", B, B)
    d = np.einsum("ij,ij->i", A, A)[:, None] + b_sq[None, :] - 2.0 * (A @ B.T)
    np.maximum(d, 0.0, out=d)
    return d


class KNNGraph:
    """k nearest neighbours (by slot) of every present slot, in a fixed low-dimensional feature space."""

    def __init__(self, capacity: int, dim: int, k: int, *, repair_fraction: float = 0.5) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.capacity, self.dim, self.k = int(capacity), int(dim), int(k)
        self.repair_below = max(1, round(self.k * float(repair_fraction)))
        self.Z = np.zeros((capacity, dim), np.float32)
        self.present = np.zeros(capacity, bool)
        self.nbr = np.repeat(np.arange(capacity, dtype=np.int32)[:, None], k, axis=1)  # int32: half the memory
        self.dist = np.full((capacity, k), FAR, np.float32)
        self.changed = np.zeros(capacity, bool)  # rows whose list changed since the caller last cleared this
        self.repaired = 0  # rows re-queried after evictions (for the status line and the benchmark)

    # -- queries -------------------------------------------------------------------------------------------
    def live_count(self, slots: np.ndarray) -> np.ndarray:
        return (self.dist[slots] < FAR).sum(axis=1)

    def _query(self, rows: np.ndarray, Zq: np.ndarray, exclude_self: bool,
               beat: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, tuple | None]:
        """Exact k nearest present slots of each query row (brute force, chunked).

        With ``beat`` (a squared-distance threshold per present slot, in slot order), the same distance blocks also
        yield the (present slot, query row) pairs closer than that threshold: the reverse-neighbour candidates an
        insert needs, at no second pass over the data.
        """
        cand = np.flatnonzero(self.present)
        Zc = self.Z[cand]
        c_sq = np.einsum("ij,ij->i", Zc, Zc)
        k = self.k
        nbr = np.repeat(rows[:, None], k, axis=1).astype(np.int64)
        dist = np.full((len(rows), k), FAR, np.float32)
        pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        chunk = max(64, _CHUNK * 2048 // max(len(cand), 1))  # bound the block at ~4M floats
        for s in range(0, len(rows), chunk):
            d = sq_dists(Zq[s:s + chunk], Zc, c_sq)
            if exclude_self:
                d[cand[None, :] == rows[s:s + chunk, None]] = np.inf
            if beat is not None:
                q, c = np.nonzero(d < beat[None, :])
                pairs.append((cand[c], q + s, d[q, c]))
            kk = min(k, len(cand))
            if kk == 0:
                continue
            part = np.argpartition(d, kk - 1, axis=1)[:, :kk] if kk < len(cand) else \
                np.broadcast_to(np.arange(len(cand)), (len(d), len(cand)))
            pd = np.take_along_axis(d, part, axis=1)
            order = _stable_order(pd, cand[part])
            part, pd = np.take_along_axis(part, order, axis=1), np.take_along_axis(pd, order, axis=1)
            ok = np.isfinite(pd)
            nbr[s:s + chunk, :kk] = np.where(ok, cand[part], rows[s:s + chunk, None])
            dist[s:s + chunk, :kk] = np.where(ok, np.sqrt(pd), FAR)
        found = None
        if beat is not None:
            found = tuple(np.concatenate([p[i] for p in pairs]) for i in range(3)) if pairs else None
        return nbr, dist, found

    # -- updates -------------------------------------------------------------------------------------------
    def rebuild(self, slots: np.ndarray, Z: np.ndarray) -> None:
        """Forget everything and build the exact graph of ``slots`` (the rebuild-and-swap strategy's step)."""
        self.present[:] = False
        self.nbr[:] = np.arange(self.capacity)[:, None]
        self.dist[:] = FAR
        self.Z[slots] = Z
        self.present[slots] = True
        self.nbr[slots], self.dist[slots], _ = self._query(slots, Z, exclude_self=True)
        self.changed[:] = False
        self.changed[slots] = True

    def insert(self, slots: np.ndarray, Z: np.ndarray) -> None:
        """Add new rows (slots must not be present; remove replaced slots first)."""
        if len(slots) == 0:
            return
        # Existing rows that gain a new neighbour come out of the same distance block as the new rows' own lists:
        # (old row, new row) pairs that beat the old row's farthest *live* neighbour. Rows thinned by evictions do
        # not take every far newcomer (that would make each insert cost rows x m); remove() refills them exactly.
        live = (self.dist < FAR).sum(axis=1)
        far = self.dist[np.arange(self.capacity), np.maximum(live - 1, 0)].astype(np.float64)
        beat_all = np.where(self.present & (live > 0), far, np.where(self.present, np.inf, -1.0)) ** 2
        self.Z[slots] = Z
        self.present[slots] = True
        beat_all[slots] = -1.0  # new rows are not candidates for each other's merge (their query covers that)
        beat = beat_all[np.flatnonzero(self.present)]
        self.nbr[slots], self.dist[slots], found = self._query(slots, Z, exclude_self=True, beat=beat)
        self.changed[slots] = True
        if found is None or len(found[0]) == 0:
            return
        rows_all, cols_all = found[0], found[1]
        d_all = np.sqrt(found[2]).astype(np.float32)
        order = np.lexsort((cols_all, d_all, rows_all))  # by row, then distance, then new-slot order
        rows_all, cols_all, d_all = rows_all[order], cols_all[order], d_all[order]
        urows, start, counts = np.unique(rows_all, return_index=True, return_counts=True)
        rank = np.arange(len(rows_all)) - np.repeat(start, counts)
        keep = rank < self.k  # only a row's best k candidates can enter it
        cm = int(min(counts.max(), self.k))
        ui = np.repeat(np.arange(len(urows)), counts)[keep]
        Md = np.full((len(urows), cm), FAR, np.float32)
        Mn = np.repeat(urows[:, None], cm, axis=1)
        Md[ui, rank[keep]] = d_all[keep]
        Mn[ui, rank[keep]] = slots[cols_all[keep]]
        cd = np.concatenate([self.dist[urows], Md], axis=1)
        cn = np.concatenate([self.nbr[urows], Mn], axis=1)
        # Old entries first, candidates in a fixed order: a stable sort by distance alone is deterministic.
        o = np.argsort(cd, axis=1, kind="stable")[:, :self.k]
        self.dist[urows] = np.take_along_axis(cd, o, axis=1)
        self.nbr[urows] = np.take_along_axis(cn, o, axis=1)
        self.changed[urows] = True

    def remove(self, slots: np.ndarray) -> None:
        """Strike ``slots`` from the graph; repair the rows that lost too many neighbours."""
        slots = slots[self.present[slots]]
        if len(slots) == 0:
            return
        self.present[slots] = False
        self.nbr[slots] = slots[:, None]
        self.dist[slots] = FAR
        live = np.flatnonzero(self.present)
        if len(live) == 0:
            return
        gone = np.zeros(self.capacity, bool)
        gone[slots] = True
        lost = gone[self.nbr[live]] & (self.dist[live] < FAR)
        rows = live[lost.any(axis=1)]
        if len(rows) == 0:
            return
        d = np.where(gone[self.nbr[rows]], FAR, self.dist[rows])
        n = np.where(gone[self.nbr[rows]], rows[:, None], self.nbr[rows])
        order = np.argsort(d, axis=1, kind="stable")  # struck entries (FAR) move to the end, the rest keep order
        self.changed[rows] = True
        self.nbr[rows] = np.take_along_axis(n, order, axis=1)
        self.dist[rows] = np.take_along_axis(d, order, axis=1)
        # Rows with too few live neighbours left (and more available) are re-queried exactly.
        want = min(self.repair_below, len(live) - 1)
        bad = rows[self.live_count(rows) < want]
        if len(bad):
            self.nbr[bad], self.dist[bad], _ = self._query(bad, self.Z[bad], exclude_self=True)
            self.repaired += len(bad)


def _stable_order(d: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per-row order by distance, ties broken by slot id: the same input always gives the same graph."""
    # Sort by slot id first, then stable-sort by distance: equal distances stay in slot order.
    o1 = np.argsort(ids, axis=1, kind="stable")
    o2 = np.argsort(np.take_along_axis(d, o1, axis=1), axis=1, kind="stable")
    return np.take_along_axis(o1, o2, axis=1)
