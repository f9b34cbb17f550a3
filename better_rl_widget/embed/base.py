"""The interface every 2-D projection of the buffer implements: PCA (``pca.py``) and the live t-SNE
(``live_tsne.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class ProjectionFrame:
    """Coordinates of every embedded slot after a step."""

    slots: np.ndarray  # uint32[n]
    coords: np.ndarray  # float32[n, 2]
    extent: list[float]  # [xmin, xmax, ymin, ymax] the view normalises with
    info: dict = field(default_factory=dict)  # engine state for the status line


@runtime_checkable
class Projection(Protocol):
    """Holds 2-D coordinates per buffer slot; fed by ``add``/``remove``, advanced by ``step``."""

    name: str

    def add(self, slots: np.ndarray, features: np.ndarray) -> None:
        """Insert or replace the feature rows (float32[n, d]) of ``slots``."""

    def remove(self, slots: np.ndarray) -> None:
        """Forget ``slots``; unknown slots are ignored."""

    def step(self, budget_s: float) -> ProjectionFrame:
        """Advance within about ``budget_s`` seconds and return the current coordinates."""
