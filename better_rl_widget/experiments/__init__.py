"""Experiment runners in the spirit of simple_rl: seeded, batched over instances, tidy results, plotly figures."""

from ..analysis.figures import plasticity_figure
from .figures import learning_curves, performance_figure
from .grid_figures import policy_arrows, value_heatmap, visitation_figure
from .lifelong import MDPDistribution, normalized_performance, run_agents_lifelong
from .rerun import reproduce
from .results import Results
from .runner import run_agents_on_mdp
from .seeds import run_seeds, seeds_frame
from .stats import confidence_summary

__all__ = ["MDPDistribution", "Results", "confidence_summary", "learning_curves", "normalized_performance",
           "performance_figure", "plasticity_figure", "policy_arrows", "reproduce", "run_agents_lifelong",
           "run_agents_on_mdp", "run_seeds", "seeds_frame", "value_heatmap", "visitation_figure"]
