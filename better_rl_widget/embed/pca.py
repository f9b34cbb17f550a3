"""PCA to 2-D, kept stable across frames: the basis is refit only when the buffer has turned over enough.

Between refits new points are projected with the current basis and kept points do not move, so a delta carries
only the new rows. Each refit flips component signs to agree with the previous basis (no mirror jumps).
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from .base import ProjectionFrame
from .extent import view_extent as _extent
from .features import feature_rows


class PCAProjection:
    name = "pca"

    def __init__(self, capacity: int, *, refit_fraction: float = 0.5, fit_sample: int = 4096, seed: int = 0) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self.refit_fraction = float(refit_fraction)
        self.fit_sample = int(fit_sample)
        self.seed = int(seed)
        self._features: np.ndarray | None = None  # float32[capacity, d], allocated on first add
        self._present = np.zeros(self.capacity, bool)
        self._coords = np.zeros((self.capacity, 2), np.float32)
        self._placed = np.zeros(self.capacity, bool)  # has coordinates under the current basis
        self._mean: np.ndarray | None = None
        self._components: np.ndarray | None = None  # float32[2, d]
        self._n_at_fit = 0
        self._changed_since_fit = 0
        self._extent = [-1.0, 1.0, -1.0, 1.0]
        self.refits = 0
        self.nan_rejected = 0

    def add(self, slots: np.ndarray, features: np.ndarray) -> None:
        """Rows with NaN/inf are rejected and counted (``nan_rejected``), as the live t-SNE does: one such row
        would make the mean, the basis and so every coordinate NaN."""
        slots, features = feature_rows(slots, features, self.capacity)
        finite = np.isfinite(features).all(axis=1)
        if not finite.all():
            self.nan_rejected += int((~finite).sum())
            self.remove(slots[~finite])
            slots, features = slots[finite], features[finite]
        if self._features is None:
            self._features = np.zeros((self.capacity, features.shape[1]), np.float32)
        elif features.shape[1] != self._features.shape[1]:
            raise ValueError(f"feature width changed from {self._features.shape[1]} to {features.shape[1]}")
        self._features[slots] = features
        self._present[slots] = True
        self._placed[slots] = False
        self._changed_since_fit += len(slots)

    def remove(self, slots: np.ndarray) -> None:
        slots = np.asarray(slots, np.int64)
        slots = slots[(slots >= 0) & (slots < self.capacity)]  # unknown slots are ignored (Projection.remove)
        self._present[slots] = False
        self._placed[slots] = False

    def _needs_refit(self, n: int) -> bool:
        if self._components is None:
            return True
        if self._n_at_fit < 64 and n != self._n_at_fit:  # tiny buffers: refitting is cheap and matters
            return True
        return self._changed_since_fit >= max(32, self.refit_fraction * self._n_at_fit)

    def _refit(self, slots: np.ndarray) -> None:
        assert self._features is not None
        if len(slots) > self.fit_sample:
            rng = np.random.default_rng(self.seed + self.refits)
            slots = np.sort(rng.choice(slots, self.fit_sample, replace=False))
        X = self._features[slots]
        mean = X.mean(axis=0)
        k = min(2, len(slots), X.shape[1])
        comps = np.zeros((2, X.shape[1]), np.float32)
        if k >= 1 and len(slots) >= 2 and float(X.var(axis=0).sum()) > 1e-12:  # constant data: no axes
            pca = PCA(n_components=k, svd_solver="full" if X.shape[1] <= 64 else "auto", random_state=self.seed)
            pca.fit(X)
            comps[:k] = pca.components_
        if self._components is not None:
            signs = np.sign((comps * self._components).sum(axis=1))
            comps *= np.where(signs == 0, 1.0, signs)[:, None].astype(np.float32)
        self._mean, self._components = mean.astype(np.float32), comps
        self._n_at_fit = int(self._present.sum())
        self._changed_since_fit = 0
        self._placed[:] = False
        self.refits += 1

    def step(self, budget_s: float = 0.2) -> ProjectionFrame:
        slots = np.flatnonzero(self._present)
        info: dict = {"projection": self.name, "refits": self.refits, "nan_rejected": self.nan_rejected}
        if self.nan_rejected:
            info["note"] = f"{self.nan_rejected} non-finite rows rejected"
        if len(slots) == 0:
            return ProjectionFrame(slots.astype(np.uint32), np.zeros((0, 2), np.float32), self._extent, info)
        refit = self._needs_refit(len(slots))
        if refit:
            self._refit(slots)
        todo = slots[~self._placed[slots]]
        if len(todo):
            assert self._features is not None and self._mean is not None and self._components is not None
            self._coords[todo] = (self._features[todo] - self._mean) @ self._components.T
            self._placed[todo] = True
        coords = self._coords[slots]
        if refit:
            self._extent = _extent(coords)
        info["refit"] = refit
        return ProjectionFrame(slots.astype(np.uint32), coords, self._extent, info)
