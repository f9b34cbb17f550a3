"""Turn raw observations into the float32 vectors a projection embeds."""

from __future__ import annotations

import numpy as np

MAX_DIM = 1024


def flatten_features(obs: np.ndarray, max_dim: int = MAX_DIM) -> np.ndarray:
    """Flatten each observation to float32; large ones (images) are subsampled on a fixed, even grid.

    A fixed index grid (not random) keeps the features of one observation identical across frames and runs.
    """
    x = np.asarray(obs).reshape(len(obs), -1)
    d = x.shape[1]
    if d > max_dim:
        idx = np.linspace(0, d - 1, max_dim).round().astype(np.int64)
        x = x[:, idx]
    return x.astype(np.float32, copy=False)


def feature_rows(slots: np.ndarray, features: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """``slots`` as int64 and ``features`` as float32 (n, d), checked the same way by every projection's ``add``:
    numbers only, one row per slot, slots in ``[0, capacity)`` (numpy would wrap a negative slot silently)."""
    slots = np.asarray(slots, np.int64)
    try:
        X = np.asarray(features)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"features must be a numeric (n, d) array; got rows of different lengths ({exc})") from exc
    if X.dtype.kind not in "biuf":
        raise ValueError(f"features must be numbers (n, d), got dtype {X.dtype}")
    if X.ndim != 2 or len(X) != len(slots):
        raise ValueError(f"features must be (n, d) for n={len(slots)} slots, got {X.shape}")
    if len(slots) and (slots.min() < 0 or slots.max() >= capacity):
        raise ValueError(f"slots must lie in [0, {capacity}), got {slots.min()}..{slots.max()}")
    return slots, X.astype(np.float32, copy=False)
