"""The map's data, shared by every layer above it: the frame state the view draws, map snapshots, the summary
panel's numbers, the inspector's per-slot fields and the BRW1 binary codec. Plain numpy; no anywidget, no torch."""

from .frame_state import FrameState
from .snapshot import MapSnapshot

__all__ = ["FrameState", "MapSnapshot"]
