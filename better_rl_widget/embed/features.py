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
