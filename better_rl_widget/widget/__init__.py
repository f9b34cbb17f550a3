"""The anywidget classes and the binary codec they speak."""

from .buffer_widget import BufferWidget

__all__ = ["BufferWidget"]
