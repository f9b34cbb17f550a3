"""The anywidget classes and the binary codec they speak."""

from .buffer_widget import BufferWidget
from .history import MapHistory
from .snapshot import MapSnapshot

__all__ = ["BufferWidget", "MapHistory", "MapSnapshot"]
