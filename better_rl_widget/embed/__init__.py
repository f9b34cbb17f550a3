"""2-D projections of buffer states: the interface, PCA (the fallback and small-N default), live t-SNE, and the
factory the hook uses to turn ``projection="..."`` into an engine."""

from .base import Projection, ProjectionFrame
from .live_tsne import LiveTSNE
from .pca import PCAProjection

PROJECTIONS = ("pca", "tsne", "auto")
AUTO_MIN_POINTS = 500  # "auto": PCA below this many points, then t-SNE started from the PCA picture


def make_projection(spec: str | Projection, capacity: int, seed: int = 0) -> Projection:
    """``spec`` is a name from :data:`PROJECTIONS` or a ready :class:`Projection` object."""
    if not isinstance(spec, str):
        if not isinstance(spec, Projection):
            raise TypeError(f"projection must be one of {PROJECTIONS} or a Projection, got {type(spec).__name__}")
        return spec
    if spec == "pca":
        return PCAProjection(capacity, seed=seed)
    # Re-calibrate at most a tenth of the map's rows a frame (2,000 at 20k, the setting P1 was measured with):
    # on a small sampled map nearly every row's list changes each frame, and all of them would cost more than
    # the frame's iterations; the settle pass re-calibrates every row.
    recal = max(200, capacity // 10)
    if spec == "tsne":  # t-SNE as soon as the perplexity need not be clamped
        return LiveTSNE(capacity, seed=seed, min_points=100, name="tsne", max_recalibrate_per_step=recal)
    if spec == "auto":
        return LiveTSNE(capacity, seed=seed, min_points=AUTO_MIN_POINTS, name="auto", max_recalibrate_per_step=recal)
    raise ValueError(f"unknown projection {spec!r}; available: {', '.join(PROJECTIONS)} or a Projection object")


__all__ = ["PROJECTIONS", "LiveTSNE", "PCAProjection", "Projection", "ProjectionFrame", "make_projection"]
