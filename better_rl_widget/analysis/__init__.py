"""Analyses of what an agent learned: TD-errors and Q/V (``td``), returns (``returns``), saliency (``saliency``),
continual-RL and plasticity metrics (``continual``, ``plasticity``); the interpretability questions of
docs/interpretability.md: episodes through the map (``trajectories``), the influence of groups of states on the
policy (``influence``), value calibration (``calibration``), skills (``skills``), and their plotly ``figures``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .continual import ContinualMetrics, continual_metrics, performance_matrix
    from .plasticity import PlasticityTracker, dormant_fraction, dormant_scores, effective_rank, layer_activations

# Loaded on first use: the capture layer imports analysis.returns, and must not pull in pandas with it.
_LAZY = dict.fromkeys(("ContinualMetrics", "continual_metrics", "performance_matrix"), ".continual") | dict.fromkeys(
    ("PlasticityTracker", "dormant_fraction", "dormant_scores", "effective_rank", "layer_activations"), ".plasticity")

__all__ = ["ContinualMetrics", "PlasticityTracker", "continual_metrics", "dormant_fraction", "dormant_scores",
           "effective_rank", "layer_activations", "performance_matrix"]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
