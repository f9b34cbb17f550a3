"""better_rl_widget: see what a deep-RL agent gathers and learns while it trains."""

from .capture import BackgroundRun, PrioritizedReplayBuffer, ReplayBuffer, TrainingHook
from .widget import BufferWidget

__version__ = "0.1.0"
__all__ = ["BackgroundRun", "BufferWidget", "PrioritizedReplayBuffer", "ReplayBuffer", "TrainingHook", "__version__"]
