"""Capture: the training-thread side (hooks, reference buffer) and the background worker it feeds. It sits below
widget/ and never imports it: the widget is reached through the :class:`~.sink.MapSink` protocol."""

from .hook import BackgroundRun, BufferSource, TrainingHook
from .options import LiveOptions
from .prioritized import PrioritizedReplayBuffer, SumTree
from .replay_buffer import ReplayBuffer
from .sink import MapSink, MapState

__all__ = ["BackgroundRun", "BufferSource", "LiveOptions", "MapSink", "MapState", "PrioritizedReplayBuffer",
           "ReplayBuffer", "SumTree", "TrainingHook"]
