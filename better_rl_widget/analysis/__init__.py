"""Analyses of what an agent learned: TD-errors and Q/V (``td``), returns (``returns``), saliency (``saliency``),
continual-RL and plasticity metrics (``continual``, ``plasticity``); the interpretability questions of
docs/interpretability.md: episodes through the map (``trajectories``), the influence of groups of states on the
policy (``influence``), value calibration (``calibration``), skills (``skills``), and their plotly ``figures``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .continual import ContinualMetrics, continual_metrics, performance_matrix
    from .plasticity import PlasticityTracker, dormant_fraction, dormant_scores, effective_rank, layer_activations

# Loaded on first use: the capture layer imports analysis.returns, and must not pull in pandas with it.
_LAZY = dict.fromkeys(("ContinualMetrics", "continual_metrics", "performance_matrix"), ".continual") | dict.fromkeys(
    ("PlasticityTracker", "dormant_fraction", "dormant_scores", "effective_rank", "layer_activations"), ".plasticity")

__all__ = ["ContinualMetrics", "PlasticityTracker", "continual_metrics", "dormant_fraction", "dormant_scores",
           "effective_rank", "layer_activations", "performance_matrix"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # the lazily loaded names too
