"""better_rl_widget: see what a deep-RL agent gathers and learns while it trains."""

from .capture import BackgroundRun, LiveOptions, PrioritizedReplayBuffer, ReplayBuffer, TrainingHook
from .widget import BufferWidget


def __getattr__(name: str):
    # PolicyVisualizer pulls in gymnasium, plotly and openTSNE: load it only when asked for.
    if name == "PolicyVisualizer":
        from .policy_visualizer import PolicyVisualizer

        return PolicyVisualizer
    if name in ("open_run", "seed_everything"):  # the store needs pyarrow: imported when first used
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module 'better_rl_widget' has no attribute {name!r}")

__version__ = "0.1.0"
__all__ = ["BackgroundRun", "BufferWidget", "LiveOptions", "PolicyVisualizer", "PrioritizedReplayBuffer",
           "ReplayBuffer", "TrainingHook", "__version__", "open_run", "seed_everything"]
