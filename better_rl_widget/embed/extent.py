"""The view box around a map's points (numpy only: the capture worker uses it without loading scikit-learn)."""

from __future__ import annotations

import numpy as np


def view_extent(coords: np.ndarray) -> list[float]:
    """A view box around the points with a margin; degenerate axes get a unit box."""
    lo = coords.min(axis=0).astype(np.float64)
    hi = coords.max(axis=0).astype(np.float64)
    span = hi - lo
    centre = (hi + lo) / 2
    half = np.where(span > 1e-9, span * 0.55, 1.0)
    return [float(centre[0] - half[0]), float(centre[0] + half[0]),
            float(centre[1] - half[1]), float(centre[1] + half[1])]
