"""The anywidget classes and the binary codec they speak."""

from ..frames.snapshot import MapSnapshot
from .buffer_widget import BufferWidget
from .history import MapHistory

__all__ = ["BufferWidget", "MapHistory", "MapSnapshot"]
