"""Adapters that let the hook read the buffers of Stable-Baselines3, TorchRL and Tianshou where they are.

Each adapter is a :class:`~better_rl_widget.capture.hook.BufferSource`: ``capacity``, ``total_inserted``,
``read(slots, fields)`` and, where the library writes out of order or re-prioritises, ``take_changes()``.
The library packages are imported only by the adapter that needs them.
"""

from ._episodes import EpisodeTracker

__all__ = ["EpisodeTracker"]
