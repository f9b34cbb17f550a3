"""Capture: the training-thread side (hooks, reference buffer) and the background worker it feeds."""

from .hook import BackgroundRun, BufferSource, TrainingHook
from .prioritized import PrioritizedReplayBuffer, SumTree
from .replay_buffer import ReplayBuffer

__all__ = ["BackgroundRun", "BufferSource", "PrioritizedReplayBuffer", "ReplayBuffer", "SumTree", "TrainingHook"]
