"""Analyses of what an agent learned: TD-errors and Q/V (``td``), returns (``returns``), saliency (``saliency``),
continual-RL and plasticity metrics (``continual``, ``plasticity``); the interpretability questions of
docs/interpretability.md: episodes through the map (``trajectories``), the influence of groups of states on the
policy (``influence``), value calibration (``calibration``), skills (``skills``), and their plotly ``figures``."""

from .continual import ContinualMetrics, continual_metrics, performance_matrix
from .plasticity import PlasticityTracker, dormant_fraction, dormant_scores, effective_rank, layer_activations

__all__ = ["ContinualMetrics", "PlasticityTracker", "continual_metrics", "dormant_fraction", "dormant_scores",
           "effective_rank", "layer_activations", "performance_matrix"]
