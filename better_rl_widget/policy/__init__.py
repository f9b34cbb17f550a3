"""Offline analysis of checkpoints (the parts behind ``PolicyVisualizer``)."""

from .checkpoints import Checkpoint, find_checkpoints

__all__ = ["Checkpoint", "find_checkpoints"]
