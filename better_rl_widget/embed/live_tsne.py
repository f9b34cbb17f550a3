"""Live t-SNE of a changing buffer: openTSNE optimisation continued frame after frame on a maintained kNN graph.

Per ``step``:

1. evicted/replaced slots leave the kNN graph (:mod:`.knn_graph` repairs rows that lost too many neighbours);
2. the points already on the map are optimised (step 4), then
3. up to ``max_place_per_step`` pending rows (oldest first) are reduced (:mod:`.reduce`) and inserted into the
   graph; the rest stay pending and are counted in the status line (a burst never blows up a frame);
   each new point starts at the median 2-D position of its already-placed neighbours (what openTSNE's
   ``prepare_partial(initialization="median")`` does, computed from our graph instead of a static index), and
   is then settled by openTSNE's transform step against the fixed map of the placed points (:meth:`_refine`);
4. openTSNE's affinities (its perplexity kernel, perplexity clamped to (N-1)/3) are re-calibrated for the rows
   whose neighbours changed, and ``TSNEEmbedding.optimize`` runs :meth:`LiveTSNE.iters_for` iterations on all
   points jointly, continuing from the previous coordinates with each point's gains and momentum carried over;
5. only points that moved more than :meth:`LiveTSNE.publish_tol` of the view extent are published, so a converged
   map sends small deltas, and the extent only changes when points leave it or shrink well inside it; a map whose
   point set has not changed for ``settle_iter`` iterations rests (no optimisation, no deltas) until it changes
   again.

When training ends, :meth:`LiveTSNE.settle` runs a bounded final pass, round by round: it places what is pending,
cuts a still-running early exaggeration short and optimises until the picture stops changing (or a cap), so the map
a user is left with is a converged one, not a snapshot of the live compromise.

Before ``min_points`` rows have arrived there is nothing t-SNE can do well: the stable :class:`PCAProjection`
draws them, and t-SNE starts from exactly that picture (PCA coordinates rescaled, extent rescaled alike).
Everything is deterministic for a given seed and stream: iteration counts are fixed (not timed), ties in the graph
are broken by slot, openTSNE runs single-threaded (Barnes-Hut below 10k points, FFT above; ``settle`` may use more
threads, then floating-point sums may differ in the last bits; where a settle pass stops does not depend on
its round budget).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from openTSNE import TSNEEmbedding, _tsne
from openTSNE.affinity import PrecomputedAffinities
from openTSNE.tsne import PartialTSNEEmbedding, kl_divergence_bh, kl_divergence_fft
from sklearn.neighbors import NearestNeighbors

from .base import ProjectionFrame
from .features import feature_rows
from .knn_graph import FAR, KNNGraph
from .pca import PCAProjection, _extent
from .quality import knn_preservation
from .reduce import Reducer

EARLY_EXAGGERATION = 12.0
# Buffers this large default to perplexity 15 (45 neighbours per row) instead of openTSNE's 30 (90): on a rolling
# 20k buffer the live map's kNN@10 against openTSNE's perplexity-30 full fit was the same (0.933 vs 0.931 of it),
# and the graph, the calibration, P and the attractive forces cost about half.
LARGE_CAPACITY = 10_000


def _gradient_only(objective: Callable) -> Callable:
    """openTSNE's gradient (``kl_divergence_bh`` / ``_fft``), minus the KL divergence that ``optimize`` evaluates
    once more after its last iteration. That extra evaluation is a whole gradient computation; at a few iterations
    per frame it would be a third of the frame, and the live map never reads the divergence."""
    def gradient(embedding, P, should_eval_error=False, **kw):
        if should_eval_error:  # only the trailing evaluation asks for it (no callbacks, not verbose)
            return float("nan"), None
        ref = kw.get("reference_embedding")
        if ref is not None and getattr(ref, "box_x_lower_bounds", None) is not None:
            _clamp_to_grid(embedding, ref.box_x_lower_bounds)
        return objective(embedding, P, should_eval_error=False, **kw)
    return gradient


def _clamp_to_grid(embedding: np.ndarray, lower_bounds: np.ndarray) -> None:
    """Keep points placed against a fixed reference inside its interpolation grid, in place.

    openTSNE's FFT gradient for new points clamps a box index only from above: a point left of or below the grid
    gets a negative index and reads outside its arrays (garbage or a segfault). The grid is the reference's extent
    plus 25 %, so a clamped point is already far outside the map."""
    n = math.isqrt(len(lower_bounds))
    lo, width = float(lower_bounds[0]), float(lower_bounds[1] - lower_bounds[0])
    hi = lo + n * width
    np.clip(embedding, lo, hi - 1e-6 * width, out=embedding)


_GRADIENT = {"bh": _gradient_only(kl_divergence_bh), "fft": _gradient_only(kl_divergence_fft)}


def _joint_p(cols: np.ndarray, w: np.ndarray) -> sp.csr_matrix:
    """openTSNE's symmetrisation P = (C + C^T) / sum, for C with a fixed k entries per row (``cols``, ``w``:
    (n, k); a negative column is an evicted neighbour, weight 0), without scipy's sort-and-merge of C + C^T.

    Row i of P holds row i of C followed by column i of C (a counting-sort transpose), so a pair that are each
    other's neighbours appears twice instead of once with the sum. openTSNE's gradient is linear in each entry
    and only iterates over a row's entries, so the gradient is the same; the matrix is never used otherwise.
    """
    n, k = cols.shape
    gone = cols < 0
    if gone.any():  # points at itself with weight 0: contributes nothing
        cols = np.where(gone, np.arange(n)[:, None], cols)
        w = np.where(gone, 0.0, w)
    C = sp.csr_matrix((w.ravel(), cols.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    T = C.tocsc()  # column pointers/row ids of C = row pointers/column ids of C^T; O(nnz), no sort
    indptr = np.arange(0, n * k + 1, k) + T.indptr
    per_row = np.diff(T.indptr)
    pos_c = (np.arange(n) * k + T.indptr[:-1])[:, None] + np.arange(k)  # row i's own k entries first
    pos_t = np.arange(len(T.data)) + k * (np.repeat(np.arange(n), per_row) + 1)  # then its column entries
    indices = np.empty(indptr[-1], np.int32)
    data = np.empty(indptr[-1], np.float64)
    indices[pos_c.ravel()] = cols.ravel()
    data[pos_c.ravel()] = w.ravel()
    indices[pos_t] = T.indices
    data[pos_t] = T.data
    data /= data.sum()
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def _spread(xy: np.ndarray) -> bool:
    """The points span some width on both axes (openTSNE's FFT grid divides by it)."""
    return len(xy) > 0 and bool((np.ptp(xy, axis=0) > 1e-9).all())


def _shape_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance points moved from ``a`` to ``b`` (n, 2) once translation and scale are taken out, in units of
    the map's rms radius: how much the picture changed, not how far the view has to re-frame."""
    def norm(y):
        y = y - y.mean(axis=0)
        return y / (np.sqrt((y * y).sum(axis=1).mean()) or 1.0)
    return float(np.linalg.norm(norm(b) - norm(a), axis=1).mean())


class LiveTSNE:
    """The live t-SNE engine behind ``projection="tsne"`` (and ``"auto"``, which waits for more points)."""

    def __init__(self, capacity: int, *, seed: int = 0, perplexity: float | None = None,
                 point_iters_per_step: int = 30_000, min_iter_per_step: int = 2, max_iter_per_step: int = 25,
                 min_points: int = 100, max_dim: int = 50, early_iter: int = 100, max_place_per_step: int = 2000,
                 move_tol: float = 2e-3, settle_iter: int = 400, n_jobs: int = 1,
                 negative_gradient_method: str = "auto", max_points: int = 50_000,
                 quality_every: int = 8, quality_sample: int = 300, max_recalibrate_per_step: int = 2000,
                 refine_iter: int = 30, settle_early_iter: int = 25, settle_max_iter: int = 500,
                 settle_tol: float = 3e-4, name: str = "tsne") -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        if perplexity is None:  # see LARGE_CAPACITY
            perplexity = 15.0 if capacity >= LARGE_CAPACITY else 30.0
        if perplexity <= 0:
            raise ValueError(f"perplexity must be positive, got {perplexity}")
        self.name = name
        self.capacity, self.seed, self.perplexity = int(capacity), int(seed), float(perplexity)
        self.point_iters_per_step, self.max_iter_per_step = int(point_iters_per_step), int(max_iter_per_step)
        self.min_iter_per_step = int(min(min_iter_per_step, max_iter_per_step))
        self.early_iter = int(early_iter)
        self.min_points = max(4, int(min_points))
        self.max_place_per_step, self.move_tol = int(max_place_per_step), float(move_tol)
        self.settle_iter = int(settle_iter)
        # Buffers larger than this get PCA (with a note): the exact graph and the per-frame optimisation of every
        # point do not keep a live frame rate beyond a few tens of thousands of points on a laptop.
        self.max_points = int(max_points)
        self._quiet_iters = 0  # iterations since the point set last changed
        self.n_jobs, self.method = int(n_jobs), negative_gradient_method
        self.quality_every, self.quality_sample = int(quality_every), int(quality_sample)
        self.max_recalibrate_per_step = int(max_recalibrate_per_step)
        self.refine_iter = int(refine_iter)
        # Whether step() refines new points (the settle pass always does). A caller that keeps each frame within a
        # small CPU budget (the live path's cost governor) turns it off: at 1,000 points the refinement is a
        # fixed ~20 ms a frame, as much as ten optimisation iterations, and the joint iterations place new points
        # too, only over more frames.
        self.refine_in_step = True
        # the final settle pass (see settle): at most settle_early_iter more exaggerated iterations, then at most
        # settle_max_iter normal ones, fewer when the picture stops changing (settle_tol)
        self.settle_early_iter, self.settle_max_iter = int(settle_early_iter), int(settle_max_iter)
        self.settle_tol = float(settle_tol)
        self._early_done = False  # a settle pass ended early exaggeration before early_iter iterations
        self._settle: dict | None = None  # the settle pass in progress; a change of the point set starts a new one
        self.k = int(min(3 * perplexity, capacity - 1)) if capacity > 1 else 1
        self.reducer = Reducer(max_dim=max_dim, seed=seed)
        self.graph: KNNGraph | None = None
        self._pre: PCAProjection | None = PCAProjection(capacity, seed=seed)
        # Raw rows live only in the PCA phase (inside PCAProjection); afterwards each row is reduced on arrival
        # and only its <= max_dim reduced vector is kept until it enters the graph (memory: capacity x 50 floats).
        self._width: int | None = None
        self._Z: np.ndarray | None = None
        self.present = np.zeros(capacity, bool)
        self.pending = np.zeros(capacity, bool)  # added, not yet in the graph
        self._drop = np.zeros(capacity, bool)  # in the graph, must leave it (removed or replaced)
        self._arrival = np.zeros(capacity, np.int64)
        self._arrivals = 0
        self.placed = np.zeros(capacity, bool)
        self.coords = np.zeros((capacity, 2), np.float64)
        self.published = np.zeros((capacity, 2), np.float32)
        self._gains = np.ones((capacity, 2), np.float64)
        self._update = np.zeros((capacity, 2), np.float64)
        self._cond = np.zeros((capacity, self.k), np.float64)  # conditional p_j|i per slot (openTSNE's kernel)
        self._P: sp.csr_matrix | None = None
        self._P_slots: np.ndarray | None = None
        self._cnbr = np.zeros((capacity, self.k), np.int32)  # the neighbour list _cond was calibrated for
        self._stale = np.zeros(capacity, bool)  # list changed since calibration (new neighbours merged in)
        self._calibrated = np.zeros(capacity, bool)
        self._cond_perp = -1.0
        self._perp_used = self.perplexity
        self._cursor = 0
        self.extent = [-1.0, 1.0, -1.0, 1.0]
        self.iterations = 0
        self.steps = 0
        self.nan_rejected = 0
        self.knn_estimate: float | None = None
        self.notes: list[str] = []
        # cumulative, for benchmarks
        self.timings = {"graph_s": 0.0, "affinity_s": 0.0, "optimize_s": 0.0, "place_s": 0.0}

    # -- input ---------------------------------------------------------------------------------------------
    def add(self, slots: np.ndarray, features: np.ndarray) -> None:
        slots, X = feature_rows(slots, features, self.capacity)
        if self._width is None:
            self._width = X.shape[1]
        elif X.shape[1] != self._width:
            raise ValueError(f"feature width changed from {self._width} to {X.shape[1]}")
        finite = np.isfinite(X).all(axis=1)
        if not finite.all():  # rejected and counted, never embedded
            self.nan_rejected += int((~finite).sum())
            self.remove(slots[~finite])
            slots, X = slots[finite], X[finite]
        if self.graph is not None:
            self._drop[slots[self.graph.present[slots]]] = True
        if self._Z is not None and len(slots):
            self._Z[slots] = self.reducer.transform(X)
        self._settle = None  # the point set changed: a settled map has to settle again
        self.present[slots] = True
        self.pending[slots] = True
        self.placed[slots] = False
        self._arrival[slots] = self._arrivals + np.arange(len(slots))
        self._arrivals += len(slots)
        if self._pre is not None:
            self._pre.add(slots, X)

    def remove(self, slots: np.ndarray) -> None:
        slots = np.asarray(slots, np.int64)
        slots = slots[(slots >= 0) & (slots < self.capacity)]
        if self.graph is not None:
            self._drop[slots[self.graph.present[slots]]] = True
        if self.present[slots].any():
            self._settle = None
        self.present[slots] = False
        self.pending[slots] = False
        self.placed[slots] = False
        if self._pre is not None:
            self._pre.remove(slots)

    # -- the frame -----------------------------------------------------------------------------------------
    def step(self, budget_s: float = 0.2) -> ProjectionFrame:
        """Advance by :meth:`iters_for` iterations (``budget_s`` is advisory: fixed counts keep runs reproducible)."""
        self.steps += 1
        self.notes = []
        if self._pre is not None:
            frame = self._pca_frame(budget_s)
            if frame is not None:
                return frame
            self._start()
        assert self.graph is not None
        # Order matters for latency: evictions leave first, the map already placed is optimised, and only then
        # are new rows inserted and placed, so they reach the screen this frame (at their neighbours' median)
        # instead of waiting for the optimisation; they join the joint optimisation next frame.
        t0 = time.perf_counter()
        self._drop_removed()
        self.timings["graph_s"] += time.perf_counter() - t0
        active = np.flatnonzero(self.graph.present & self.placed)
        # A map whose points have not changed for settle_iter iterations rests (no CPU, no deltas) until they do.
        if len(active) >= 4 and (self._quiet_iters < self.settle_iter or self._early()):
            self._optimize(active)
        t0 = time.perf_counter()
        self._insert_pending()
        self.timings["graph_s"] += time.perf_counter() - t0
        active = np.flatnonzero(self.graph.present)
        t0 = time.perf_counter()
        self._place(active, refine=self.refine_in_step)
        self.timings["place_s"] += time.perf_counter() - t0
        n = len(active)
        if n < 4:
            self.notes.append(f"{n} points: too few for t-SNE")
        if self.quality_every > 0 and (self.steps % self.quality_every == 0 or self.knn_estimate is None) and n > 11:
            self.knn_estimate = self._estimate_quality(active)
        return self._frame(active)

    def _pca_frame(self, budget_s: float) -> ProjectionFrame | None:
        """The PCA picture while t-SNE cannot start (too few points, or a capacity beyond ``max_points``)."""
        assert self._pre is not None
        too_big = self.capacity > self.max_points
        if self.present.sum() >= self.min_points and not too_big:
            return None
        frame = self._pre.step(budget_s)
        frame.info.update(self._info(phase="pca", n=len(frame.slots)))
        frame.info["projection"] = self.name
        phase = (f"t-SNE off: capacity {self.capacity} > {self.max_points} points, showing PCA"
                 if too_big else f"PCA until {self.min_points} points")
        frame.info["note"] = "; ".join([phase, *self.notes])  # keeps "N non-finite rows rejected"
        return frame

    # -- the final settle pass (training has ended) --------------------------------------------------------
    def settle(self, budget_s: float = 0.5, n_jobs: int = 1) -> ProjectionFrame:
        """One bounded round (about ``budget_s`` of wall time) of a final settle pass; returns the frame like
        :meth:`step`. Call it until ``frame.info["settled"]`` or the caller's own bound (e.g. 10 s) runs out::

            end = time.monotonic() + 10.0
            while not (frame := tsne.settle(min(0.5, end - time.monotonic()))).info["settled"] \
                    and time.monotonic() < end: ...

        ``frame.info`` adds ``"settle_progress"`` (0..1, never decreasing within a pass, 1.0 once settled),
        ``"settled"`` and ``"settle_iterations"`` (iterations run by this pass). A pass: every pending row is placed
        first (like a drained :meth:`step`); a map still in
        early exaggeration gets at most ``settle_early_iter`` more exaggerated iterations (openTSNE's schedule,
        cut short) and then leaves it; normal iterations (openTSNE's ``optimize``, gains and momentum carried
        over, every changed row's affinities re-calibrated) run until converged, resting or not.

        Converged: the picture stopped changing, i.e. the mean displacement per iteration of the points, after
        removing translation and scale (the view re-frames those), fell below ``settle_tol`` of the map's rms
        radius (3e-4; a settled view is about 3.3 rms radii wide, so about 0.05 pixel an iteration on a 600-pixel
        view), or ``settle_max_iter`` normal iterations (500, openTSNE's default optimisation phase) were run in
        this pass, whichever comes first. On rolling CartPole buffers stopped after ~40 iterations, 3e-4 is
        reached after ~100-200 normal iterations with kNN@10 at 0.97-0.99 of a full openTSNE fit (2e-4 gains
        at most ~0.01 for ~1.5x the iterations, and iterations get dearer as the map expands).
        The check runs every :meth:`settle_block` iterations (a function of N only), so where a pass stops does
        not depend on the clock: ``budget_s`` only sets how many blocks a round runs (from the measured time of the
        first block). A settled map rests (:meth:`step` optimises nothing) until its point set changes; then the
        next call starts a new pass. Before ``min_points`` rows (the PCA phase) it returns the PCA frame, settled.

        A round overruns ``budget_s`` by at most one placement chunk (``max_place_per_step`` rows, ~1 s at 20k
        points on 2 cores) or one block of iterations, so a caller bound is best kept with
        ``settle(min(0.5, end - now))``.

        ``n_jobs``: openTSNE threads for this pass only (training is over); the live steps keep ``self.n_jobs``.
        openTSNE threads Barnes-Hut (below 10k points) fully and only the attractive half of FFT: on 2 idle cores
        an iteration took 18.5 -> 10.5 ms (BH, 5k points) and 44.5 -> 39.9 ms (FFT, 20k); with the other core busy
        2 threads were slower than 1.
        """
        t0 = time.perf_counter()
        if n_jobs < 0:  # scikit-learn's convention, as openTSNE's: -1 all cores
            n_jobs = max(1, (os.cpu_count() or 1) + 1 + n_jobs)
        self.steps += 1
        self.notes = []
        if self._pre is not None:
            frame = self._pca_frame(budget_s)
            if frame is not None:
                frame.info.update(settle_progress=1.0, settled=True)
                return frame
            self._start()
        assert self.graph is not None
        if self._settle is None:
            self._settle = {"early_plan": None, "early": 0, "normal": 0, "progress": 0.0, "settled": False,
                            "blocks": None, "first_disp": None, "disp": None}
        st = self._settle
        if not st["settled"]:
            self._settle_round(st, t0, float(budget_s), int(n_jobs))
        active = np.flatnonzero(self.graph.present)
        if st["settled"] and len(active) > 11 and self.quality_every > 0:
            self.knn_estimate = self._estimate_quality(active)
        frame = self._frame(active)
        frame.info.update(settle_progress=float(st["progress"]), settled=bool(st["settled"]),
                          settle_iterations=st["early"] + st["normal"])
        return frame

    def embedded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(slots, the reduced rows the optimisation sees, their drawn coordinates) of the placed points; None in
        the PCA phase."""
        if self.graph is None or self._Z is None:
            return None
        slots = np.flatnonzero(self.graph.present & self.placed)
        return slots, np.array(self._Z[slots], np.float32), np.array(self.published[slots], np.float32)

    def settle_block(self, n: int) -> int:
        """Iterations between two convergence checks of :meth:`settle` (about 100k point-iterations, 2..10): a
        function of N only, never of the clock."""
        return int(np.clip(round(100_000 / max(n, 1)), 2, 10))

    def _settle_round(self, st: dict, t0: float, budget_s: float, n_jobs: int) -> None:
        assert self.graph is not None
        self._drop_removed()
        placed = bool(self.pending.any())
        while self.pending.any():  # everything pending is placed first, max_place_per_step rows at a time
            self._insert_pending()
            self._place(np.flatnonzero(self.graph.present))
            if time.perf_counter() - t0 >= budget_s:
                break
        if self.pending.any():
            self.notes.append("settling: placing pending rows")
            return
        if placed and time.perf_counter() - t0 >= budget_s:
            return  # the placement used this round; the next one optimises (it has nothing left to place)
        active = np.flatnonzero(self.graph.present)
        if len(active) < 4:  # nothing to optimise (step says why)
            st["settled"], st["progress"] = True, 1.0
            return
        if st["early_plan"] is None:
            st["early_plan"] = min(self.early_iter - self.iterations, self.settle_early_iter) if self._early() else 0
        block = self.settle_block(len(active))
        total = st["early_plan"] + self.settle_max_iter
        done_blocks = 0
        while True:
            early = st["early"] < st["early_plan"]
            if not early:
                self._early_done = self._early_done or self._early()  # the capped exaggeration phase is over
            n_iter = min(block, (st["early_plan"] - st["early"]) if early else (self.settle_max_iter - st["normal"]))
            if n_iter > 0:
                before = self.coords[active].copy()
                t_aff, tb = self.timings["affinity_s"], time.perf_counter()
                ok = self._optimize(active, n_iter, n_jobs=n_jobs, recalibrate_all=True)
                # the iterations' time (the first block's one-off re-calibration left out)
                t_block = max(time.perf_counter() - tb - (self.timings["affinity_s"] - t_aff), 1e-6)
                if early:
                    st["early"] += n_iter
                else:
                    st["normal"] += n_iter
                    disp = _shape_change(before, self.coords[active]) / n_iter if ok else float("inf")
                    st["disp"] = disp
                    if st["first_disp"] is None and np.isfinite(disp):
                        st["first_disp"] = disp
                    if disp < self.settle_tol:
                        st["settled"] = True
            if not early and st["normal"] >= self.settle_max_iter:
                st["settled"] = True
            # progress: the share of the bounded work done, or how far the displacement has come down towards
            # the tolerance (log scale), whichever is further; never backwards
            prog = (st["early"] + st["normal"]) / max(total, 1)
            d0, d = st["first_disp"], st["disp"]
            if d0 is not None and d is not None and np.isfinite(d) and d0 > self.settle_tol > 0:
                towards = np.log(d0 / max(d, 1e-300)) / np.log(d0 / self.settle_tol)
                prog = max(prog, (st["early_plan"] + self.settle_max_iter * float(np.clip(towards, 0, 1))) / total)
            st["progress"] = 1.0 if st["settled"] else min(max(st["progress"], prog), 0.99)
            if st["settled"]:
                self._quiet_iters = max(self._quiet_iters, self.settle_iter)  # rest until the points change
                return
            done_blocks += 1
            if st["blocks"] is None:  # this round's first block sets every later round's size
                st["blocks"] = max(1, int(budget_s / (t_block * block / n_iter)))
            if done_blocks >= st["blocks"] or time.perf_counter() - t0 + t_block > budget_s:
                return

    def _start(self) -> None:
        """Leave the PCA phase: fit the reducer, build the graph, start from the PCA picture."""
        assert self._pre is not None and self._pre._features is not None
        frame = self._pre.step(0.0)
        slots = np.flatnonzero(self.present)
        X = self._pre._features[slots]
        self.reducer.fit(X)
        self._Z = np.zeros((self.capacity, self.reducer.dim), np.float32)
        self._Z[slots] = self.reducer.transform(X)
        self.graph = KNNGraph(self.capacity, self.reducer.dim, self.k)
        self.graph.Z = self._Z  # one shared copy of the reduced rows
        self.graph.rebuild(slots, self._Z[slots])
        self.pending[slots] = False
        # Same picture, new scale: PCA coordinates scaled to unit std (a sound t-SNE init), the extent alike.
        pc = frame.coords.astype(np.float64)
        scale = float(pc[:, 0].std()) or 1.0
        self.coords[frame.slots] = (pc - pc.mean(axis=0)) / scale
        self.placed[frame.slots] = True
        ext = np.asarray(frame.extent, np.float64)
        self.extent = [float((ext[0] - pc[:, 0].mean()) / scale), float((ext[1] - pc[:, 0].mean()) / scale),
                       float((ext[2] - pc[:, 1].mean()) / scale), float((ext[3] - pc[:, 1].mean()) / scale)]
        self.published[frame.slots] = self.coords[frame.slots]
        self._pre = None  # frees its feature copy

    def _drop_removed(self) -> None:
        assert self.graph is not None
        drop = np.flatnonzero(self._drop)
        if len(drop):
            self.graph.remove(drop)
            self._drop[:] = False
            self._quiet_iters = 0

    def _insert_pending(self) -> None:
        assert self.graph is not None and self._Z is not None
        todo = np.flatnonzero(self.pending)
        if len(todo) > self.max_place_per_step:  # a burst: oldest first, the rest next frame
            todo = np.sort(todo[np.argsort(self._arrival[todo], kind="stable")[:self.max_place_per_step]])
            self.notes.append("burst: placing over several frames")
        if len(todo):
            self.graph.insert(todo, self._Z[todo])
            self.pending[todo] = False
            self._quiet_iters = 0

    def _place(self, active: np.ndarray, refine: bool = True) -> None:
        """New points start at the median of their placed neighbours (openTSNE's 'median' initialisation)."""
        assert self.graph is not None
        new = active[~self.placed[active]]
        if len(new) == 0:
            return
        nb = self.graph.nbr[new]
        ok = self.placed[nb] & (self.graph.dist[new] < FAR)
        xy = np.where(ok[..., None], self.coords[nb], np.nan)
        # Rows with no placed neighbour give an all-NaN median (numpy warns); they fall back to the centre below.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(xy, axis=1) if ok.any() else np.full((len(new), 2), np.nan)
        placed = self.coords[active[self.placed[active]]]
        centre = np.median(placed, axis=0) if len(placed) else np.zeros(2)
        med = np.where(np.isfinite(med), med, centre)
        # A small deterministic jitter so duplicates (common in replay buffers) do not sit on one exact spot.
        rng = np.random.default_rng([self.seed, self.steps])
        span = max(self.extent[1] - self.extent[0], self.extent[3] - self.extent[2])
        self.coords[new] = med + rng.normal(scale=1e-4 * span, size=med.shape)
        ref = active[self.placed[active]]
        self.placed[new] = True
        self._gains[new] = 1.0
        self._update[new] = 0.0
        if refine and self.refine_iter > 0 and len(ref) >= max(self.min_points, 4 * self.k):
            self._refine(new, ref, len(active))

    def _refine(self, new: np.ndarray, ref: np.ndarray, n: int) -> None:
        """Settle new points into the map before they are first shown: openTSNE's own transform step
        (``PartialTSNEEmbedding.optimize``: each new point against the fixed map of the placed ones, the
        interpolation grid of that map computed once) for ``refine_iter`` iterations.

        The median start is only as good as the median of ~90 neighbours spread over the map (kNN@10 of a new point
        about half of a converged one's at 20k points); the joint optimisation moves a point a few pixels per frame,
        so without this a point would need seconds (of a 40 s life in a rolling 20k buffer) to find its place.
        The settings are openTSNE's ``transform`` defaults except for fewer, larger steps (learning rate 0.5, 30
        iterations instead of 0.1 and 250) and a coarser grid (``ints_in_interval=3``: the grid costs a fraction of
        one joint gradient), measured on 20k CartPole states: kNN@10 of the new points 0.30 -> 0.49.
        Their affinities (openTSNE's perplexity kernel on the graph's lists) are calibrated now and kept for the
        joint optimisation.
        """
        assert self.graph is not None
        g = self.graph
        perp = min(self.perplexity, (n - 1) / 3.0)
        if perp != self._cond_perp:
            return  # every row is re-calibrated at the next frame's perplexity anyway; the median start suffices
        if not _spread(self.coords[ref]):
            return  # a map of identical rows on one spot: openTSNE's FFT grid has zero width there (a segfault)
        cond = np.asarray(_tsne.compute_gaussian_perplexity(
            g.dist[new].astype(np.float64), np.array([perp], np.float64), num_threads=self.n_jobs))
        self._cond[new] = cond
        self._cnbr[new] = g.nbr[new]
        self._calibrated[new] = True
        self._stale[new] = False
        g.changed[new] = False
        inv = np.full(self.capacity, -1, np.int64)
        inv[ref] = np.arange(len(ref))
        cols = inv[g.nbr[new]]
        w = np.where(cols >= 0, cond, 0.0)  # other new points are not in the reference map yet
        mass = w.sum(axis=1)
        ok = mass > 0
        if not ok.any():
            return
        new, cols, w = new[ok], np.where(cols[ok] >= 0, cols[ok], 0), w[ok] / mass[ok, None]
        k = cols.shape[1]
        P = sp.csr_matrix((w.ravel(), cols.ravel(), np.arange(0, len(new) * k + 1, k)), shape=(len(new), len(ref)))
        reference = TSNEEmbedding(self.coords[ref], PrecomputedAffinities(sp.csr_matrix((len(ref), len(ref))),
                                                                          normalize=False),
                                  negative_gradient_method="fft", ints_in_interval=3, n_jobs=self.n_jobs)
        # The grid recentres the reference in place (an openTSNE fact): measure the shift and undo it.
        before = np.array(reference[0])
        reference.prepare_interpolation_grid()
        shift = np.asarray(reference[0]) - before
        part = PartialTSNEEmbedding(self.coords[new] + shift, reference, P, negative_gradient_method=_GRADIENT["fft"],
                                    n_jobs=self.n_jobs)
        part.optimize(self.refine_iter, inplace=True, learning_rate=0.5, exaggeration=1.5, momentum=0.8,
                      max_grad_norm=0.25, max_step_norm=None)
        out = np.asarray(part) - shift
        good = np.isfinite(out).all(axis=1)
        self.coords[new[good]] = out[good]

    def _affinities(self, active: np.ndarray, *, recalibrate_all: bool = False,
                    n_jobs: int | None = None) -> sp.csr_matrix:
        """openTSNE's joint P (same kernel and symmetrisation as ``openTSNE.affinity.joint_probabilities_nn``)
        from our graph, with a bounded amount of calibration per frame.

        New rows are calibrated now; rows whose list changed (a closer neighbour arrived, a neighbour was evicted)
        are re-calibrated round-robin, at most ``max_recalibrate_per_step`` a frame; until then they keep their
        previous neighbours and weights, evicted ones at weight 0 (with 500 evictions/s nearly every row loses a
        neighbour every second: recalibrating all of them each frame would cost more than the optimisation).
        openTSNE's per-row perplexity search
        (``_tsne.compute_gaussian_perplexity``) is called directly so unchanged rows are not redone.
        ``recalibrate_all`` (the settle pass) lifts the per-frame cap: every changed row is re-calibrated now.
        """
        assert self.graph is not None
        g = self.graph
        n = len(active)
        perp = min(self.perplexity, (n - 1) / 3.0)
        self._stale |= g.changed
        g.changed[:] = False
        inv = np.full(self.capacity, -1, np.int64)
        inv[active] = np.arange(n)
        if perp != self._cond_perp:
            redo = active
        else:
            must = active[~self._calibrated[active]]
            stale = active[self._stale[active] & self._calibrated[active]]
            if len(stale) > self.max_recalibrate_per_step and not recalibrate_all:  # round-robin, deterministic
                start = np.searchsorted(stale, self._cursor)
                stale = np.roll(stale, -start)[:self.max_recalibrate_per_step]
                self._cursor = int(stale[-1]) + 1
            redo = np.union1d(must, stale)
        if len(redo):
            self._cond[redo] = np.asarray(_tsne.compute_gaussian_perplexity(
                g.dist[redo].astype(np.float64), np.array([perp], np.float64),
                num_threads=self.n_jobs if n_jobs is None else n_jobs))
            self._cnbr[redo] = g.nbr[redo]
            self._calibrated[redo] = True
            self._stale[redo] = False
        self._cond_perp = self._perp_used = perp
        if len(redo) == 0 and self._P is not None and self._P_slots is not None \
                and np.array_equal(self._P_slots, active):
            return self._P  # nothing changed: a converging map costs no affinity work
        P = _joint_p(inv[self._cnbr[active]], self._cond[active])
        self._P, self._P_slots = P, active.copy()
        return P

    def publish_tol(self, n: int) -> float:
        """How far (fraction of the view width) a point may drift before it is re-published: ``move_tol`` (about a
        pixel), and never more than a tenth of the typical spacing between neighbours (width / sqrt(n)): at 20k points
        neighbours sit about 2 pixels apart, and a 1-pixel lag would scramble the neighbourhoods on screen."""
        return min(self.move_tol, 0.1 / np.sqrt(max(n, 1)))

    def iters_for(self, n: int) -> int:
        """Iterations per step: a fixed amount of work (point-iterations), so small maps converge fast and large
        ones keep the frame rate, but at least ``min_iter_per_step`` (2): a frame's fixed costs (graph, affinities,
        placement) do not shrink with fewer iterations, and a rolling 20k buffer turns over every 40 s (simulated at
        2 frames/s: 2 iterations a frame keep kNN@10 at 0.93 of a full fit, 3 at 0.94).
        A function of N only, never of the clock: runs stay reproducible."""
        per_point = round(self.point_iters_per_step / max(n, 1))
        return int(np.clip(per_point, self.min_iter_per_step, self.max_iter_per_step))

    def _early(self) -> bool:
        """Still in early exaggeration (the first ``early_iter`` iterations, unless a settle pass ended it)."""
        return self.iterations < self.early_iter and not self._early_done

    def _optimize(self, active: np.ndarray, n_iter: int | None = None, *, n_jobs: int | None = None,
                  recalibrate_all: bool = False) -> bool:
        """``n_iter`` (default :meth:`iters_for`) iterations of all ``active`` points; False if they diverged."""
        t0 = time.perf_counter()
        n_jobs = self.n_jobs if n_jobs is None else int(n_jobs)
        P = self._affinities(active, recalibrate_all=recalibrate_all, n_jobs=n_jobs)
        t1 = time.perf_counter()
        self.timings["affinity_s"] += t1 - t0
        n = len(active)
        early = self._early()
        exaggeration = EARLY_EXAGGERATION if early else 1.0
        if early:
            P = P.copy()  # optimize() scales P in place during exaggeration; keep the cached one exact
        method = self.method
        if method == "auto":  # Barnes-Hut wins below ~10k points on few cores, FFT above
            method = "bh" if n < 10_000 else "fft"
        if method == "fft" and not _spread(self.coords[active]):
            method = "bh"  # FFT's interpolation grid has zero width when every point sits on one spot: a segfault
        n_iter = self.iters_for(n) if n_iter is None else int(n_iter)
        emb = TSNEEmbedding(self.coords[active], PrecomputedAffinities(P, normalize=False),
                            negative_gradient_method=_GRADIENT[method], n_jobs=n_jobs, random_state=self.seed)
        emb.optimizer.gains = self._gains[active].copy()
        emb.optimizer.update = self._update[active].copy()
        emb.optimize(n_iter, inplace=True, exaggeration=exaggeration,
                     momentum=0.5 if early else 0.8, learning_rate=max(n / exaggeration, 50.0))
        out = np.asarray(emb)
        if not np.isfinite(out).all():  # never publish a blow-up; restart these points' momentum instead
            self.notes.append("optimisation diverged; step discarded")
            self._update[active] = 0.0
            return False
        self.coords[active] = out
        self._gains[active] = emb.optimizer.gains
        self._update[active] = emb.optimizer.update
        self.iterations += n_iter
        self._quiet_iters += n_iter
        self.timings["optimize_s"] += time.perf_counter() - t1
        return True

    def _estimate_quality(self, active: np.ndarray) -> float:
        assert self.graph is not None
        rng = np.random.default_rng(self.seed)
        sample = active if len(active) <= self.quality_sample else \
            np.sort(rng.choice(active, self.quality_sample, replace=False))
        k = min(10, len(active) - 1)
        high = self.graph.nbr[sample, :k]
        nn = NearestNeighbors(n_neighbors=k + 1).fit(self.coords[active])
        low = active[nn.kneighbors(self.coords[sample], return_distance=False)[:, 1:]]
        return knn_preservation(high, low)

    def _frame(self, active: np.ndarray) -> ProjectionFrame:
        xy = self.coords[active]
        if len(active):
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            e = self.extent
            span = np.array([e[1] - e[0], e[3] - e[2]])
            outside = lo[0] < e[0] or hi[0] > e[1] or lo[1] < e[2] or hi[1] > e[3]
            shrunk = ((hi - lo) < 0.35 * span).all()
            if outside or shrunk:  # re-frame with headroom so expansion does not re-frame every step
                ext = _extent(xy.astype(np.float32))
                c = [(ext[0] + ext[1]) / 2, (ext[2] + ext[3]) / 2]
                h = [(ext[1] - ext[0]) * 0.6, (ext[3] - ext[2]) * 0.6]
                side = max(h)  # square view: t-SNE has no preferred axis
                self.extent = [c[0] - side, c[0] + side, c[1] - side, c[1] + side]
            tol = self.publish_tol(len(active)) * (self.extent[1] - self.extent[0])
            moved = np.abs(xy - self.published[active]).max(axis=1) > tol
            self.published[active[moved]] = xy[moved]
        phase = "exaggeration" if self._early() else \
            "resting" if self._quiet_iters >= self.settle_iter else "tsne"
        info = self._info(phase=phase, n=len(active))
        return ProjectionFrame(active.astype(np.uint32), self.published[active].copy(), list(self.extent), info)

    def _info(self, phase: str, n: int) -> dict:
        info: dict = {"projection": self.name, "phase": phase, "points": n, "iterations": self.iterations,
                      "pending": int(self.pending.sum()), "nan_rejected": self.nan_rejected}
        if self.knn_estimate is not None:
            info["knn_preservation"] = round(self.knn_estimate, 3)
        if self.graph is not None:
            info["perplexity"] = round(self._perp_used, 2)
            if self._perp_used < self.perplexity:
                self.notes.append("perplexity clamped to (N-1)/3")
        if self.nan_rejected:
            self.notes.append(f"{self.nan_rejected} non-finite rows rejected")
        if self.notes:
            info["note"] = "; ".join(self.notes)
        return info
