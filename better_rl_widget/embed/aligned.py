"""One t-SNE for many groups (e.g. checkpoints): fit on a pooled, stratified sample, place the rest into it.

Positions are then comparable across groups: every group is placed into the same reference map. openTSNE does
both steps (``TSNE.fit`` and ``TSNEEmbedding.transform``); ``transform`` recentres the reference embedding in
place, so the reference coordinates are read after it.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

MAX_DIM = 50
log = logging.getLogger("better_rl_widget")


def prepare_features(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """Standardise columns (constant ones become 0) and reduce to at most 50 dimensions with PCA."""
    X = np.asarray(X, np.float64)
    Z = StandardScaler().fit_transform(X)
    Z = np.nan_to_num(Z)
    if Z.shape[1] > MAX_DIM and Z.shape[0] > MAX_DIM:
        Z = PCA(n_components=MAX_DIM, random_state=seed).fit_transform(Z)
    return Z


def stratified_sample(groups: np.ndarray, per_group: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        picks.append(idx if len(idx) <= per_group else rng.choice(idx, per_group, replace=False))
    return np.sort(np.concatenate(picks))


def aligned_tsne(X: np.ndarray, groups: np.ndarray, *, per_group: int = 300, perplexity: float = 30.0,
                 seed: int = 0, n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates for every row of ``X`` and the boolean mask of rows in the fitted sample.

    Rows with NaN/inf are not placed: their coordinates are NaN (a warning says how many). Placing them would
    need a value for the missing numbers, and any choice puts a broken state among real ones."""
    try:
        X = np.asarray(X, np.float64)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"aligned_tsne needs a numeric (n, d) array; got rows of different lengths ({exc})") from exc
    if X.ndim != 2:
        raise ValueError(f"aligned_tsne needs a numeric (n, d) array, got shape {X.shape}")
    groups = np.asarray(groups)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        log.warning("aligned_tsne: %d of %d rows have NaN/inf values and are not placed (their coordinates are NaN)",
                    int((~finite).sum()), len(X))
        coords = np.full((len(X), 2), np.nan, np.float32)
        in_sample = np.zeros(len(X), bool)
        coords[finite], in_sample[finite] = _aligned(X[finite], groups[finite], per_group, perplexity, seed, n_jobs)
        return coords, in_sample
    return _aligned(X, groups, per_group, perplexity, seed, n_jobs)


def _aligned(X: np.ndarray, groups: np.ndarray, per_group: int, perplexity: float, seed: int,
             n_jobs: int) -> tuple[np.ndarray, np.ndarray]:
    from openTSNE import TSNE

    n = len(X)
    coords = np.zeros((n, 2), np.float32)
    in_sample = np.zeros(n, bool)
    if n == 0:  # before prepare_features: the scaler refuses zero rows
        return coords, in_sample
    Z = prepare_features(X, seed)
    sample = stratified_sample(groups, per_group, seed)
    in_sample[sample] = True
    # Too few points for t-SNE to mean anything, or a sample of identical rows (openTSNE's PCA initialisation
    # divides by their spread, 0, and every coordinate would be NaN): PCA keeps distinct rows apart.
    if len(sample) < 4 or not np.ptp(Z[sample], axis=0).any():
        k = min(2, Z.shape[1], n)
        if n >= 2 and k >= 1 and np.ptp(Z, axis=0).any():
            coords[:, :k] = PCA(n_components=k, random_state=seed).fit_transform(Z)
        return coords, in_sample
    # perplexity above (N-1)/3 is clamped by openTSNE with a warning; clamp here instead
    perp = float(min(perplexity, max(1.0, (len(sample) - 1) / 3)))
    emb = TSNE(perplexity=perp, n_jobs=n_jobs, random_state=seed, initialization="pca",
               neighbors="exact" if len(sample) < 1000 else "annoy", verbose=False).fit(Z[sample])
    rest = np.flatnonzero(~in_sample)
    if len(rest):
        placed = emb.transform(Z[rest])
        coords[rest] = np.asarray(placed)
    coords[sample] = np.asarray(emb)  # after transform: it recentred the reference in place
    return coords, in_sample
