"""2-D projections of buffer states: the interface, PCA (the fallback and small-N default), live t-SNE, and the
factory the hook uses to turn ``projection="..."`` into an engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from .base import Projection, ProjectionFrame

if TYPE_CHECKING:
    from .live_tsne import LiveTSNE
    from .pca import PCAProjection

# scikit-learn and openTSNE (and pandas, which scikit-learn imports) load when a projection is made, not with the
# package: `import better_rl_widget` stays light.
_LAZY = {"LiveTSNE": ".live_tsne", "PCAProjection": ".pca"}

PROJECTIONS = ("pca", "tsne", "auto")
AUTO_MIN_POINTS = 500  # "auto": PCA below this many points, then t-SNE started from the PCA picture


def make_projection(spec: str | Projection, capacity: int, seed: int = 0) -> Projection:
    """``spec`` is a name from :data:`PROJECTIONS` or a ready :class:`Projection` object."""
    if not isinstance(spec, str):
        if not isinstance(spec, Projection):
            raise TypeError(f"projection must be one of {PROJECTIONS} or a Projection, got {type(spec).__name__}")
        return spec
    if spec == "pca":
        from .pca import PCAProjection

        return PCAProjection(capacity, seed=seed)
    from .live_tsne import LiveTSNE

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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
