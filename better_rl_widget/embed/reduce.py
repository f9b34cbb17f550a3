"""Standardise features and reduce them to at most ``max_dim`` dimensions before neighbour search.

Fitted once on a deterministic sample and then frozen: every later row maps into the same space, so the kNN graph
stays valid as the buffer turns over. Constant features get unit scale (they contribute 0, not NaN).
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler


class Reducer:
    def __init__(self, max_dim: int = 50, fit_sample: int = 5000, seed: int = 0) -> None:
        self.max_dim, self.fit_sample, self.seed = int(max_dim), int(fit_sample), int(seed)
        self.scaler: StandardScaler | None = None
        self.pca: PCA | None = None
        self.dim = 0

    @property
    def fitted(self) -> bool:
        return self.scaler is not None

    def fit(self, X: np.ndarray) -> Reducer:
        if len(X) > self.fit_sample:
            rng = np.random.default_rng(self.seed)
            X = X[np.sort(rng.choice(len(X), self.fit_sample, replace=False))]
        self.scaler = StandardScaler().fit(X)  # zero-variance columns get scale 1 (sklearn's rule)
        Xs = self.scaler.transform(X)
        if X.shape[1] > self.max_dim:
            # Full SVD on <= fit_sample rows is deterministic and quick; randomized would need its own seed.
            self.pca = PCA(n_components=min(self.max_dim, len(X)), svd_solver="full").fit(Xs)
            self.dim = int(self.pca.n_components_)
        else:
            self.pca, self.dim = None, X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        assert self.scaler is not None, "fit first"
        Z = self.scaler.transform(X)
        if self.pca is not None:
            Z = self.pca.transform(Z)
        return np.ascontiguousarray(Z, dtype=np.float32)
