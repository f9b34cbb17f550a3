"""2-D projections of buffer states: the interface, and PCA (the fallback and small-N default)."""

from .base import Projection, ProjectionFrame
from .pca import PCAProjection

__all__ = ["PCAProjection", "Projection", "ProjectionFrame"]
