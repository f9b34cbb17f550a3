"""better_rl_widget: see what a deep-RL agent gathers and learns while it trains."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .capture import BackgroundRun, LiveOptions, PrioritizedReplayBuffer, ReplayBuffer, TrainingHook
from .widget import BufferWidget

if TYPE_CHECKING:
    from .policy_visualizer import PolicyVisualizer
    from .store import open_run, seed_everything

# The one place the version is written; the build reads it from here (pyproject: [tool.hatch.version]).
__version__ = "0.1.0"

__all__ = ["BackgroundRun", "BufferWidget", "LiveOptions", "PolicyVisualizer", "PrioritizedReplayBuffer",
           "ReplayBuffer", "TrainingHook", "__version__", "open_run", "seed_everything"]


def __getattr__(name: str) -> Any:
    # PolicyVisualizer pulls in gymnasium, plotly and openTSNE: load it only when asked for.
    if name == "PolicyVisualizer":
        from .policy_visualizer import PolicyVisualizer

        return PolicyVisualizer
    if name in ("open_run", "seed_everything"):  # store loads its pyarrow/pandas parts on first use
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module 'better_rl_widget' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # the lazily loaded names too
