"""2-D projections of buffer states: the interface, PCA (the fallback and small-N default), and the factory
the hook uses to turn ``projection="..."`` into an engine."""

from .base import Projection, ProjectionFrame
from .pca import PCAProjection

PROJECTIONS = ("pca",)


def make_projection(spec: str | Projection, capacity: int, seed: int = 0) -> Projection:
    """``spec`` is a name from :data:`PROJECTIONS` or a ready :class:`Projection` object."""
    if not isinstance(spec, str):
        if not isinstance(spec, Projection):
            raise TypeError(f"projection must be one of {PROJECTIONS} or a Projection, got {type(spec).__name__}")
        return spec
    if spec == "pca":
        return PCAProjection(capacity, seed=seed)
    raise ValueError(f"unknown projection {spec!r}; available: {', '.join(PROJECTIONS)} or a Projection object")


__all__ = ["PROJECTIONS", "PCAProjection", "Projection", "ProjectionFrame", "make_projection"]
