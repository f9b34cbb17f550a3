"""What the capture layer needs from whatever shows the map: ``MapSink`` (the widget side) and ``MapState`` (the
per-point state it hands back from ``attach``).

capture/ sits below widget/ and never imports it; :class:`~better_rl_widget.BufferWidget` implements both
protocols (its ``FrameState`` is the ``MapState``), and a test or another front end can pass its own sink.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

# inspect_fn(lane) -> (row metadata, observation or None): what a click on a point shows.
InspectFn = Callable[[int], tuple[dict, np.ndarray | None]]


@runtime_checkable
class MapState(Protocol):
    """Per-point rows and coordinates by lane; the sink publishes them (the worker thread writes them)."""

    seq: int  # bumped with every published change: the views' gap detection

    @property
    def size(self) -> int:
        """Points drawn (rows that have coordinates)."""

    def upsert(self, slots: np.ndarray, fields: Mapping[str, np.ndarray]) -> None:
        """Set per-row fields (not coordinates) of ``slots``."""

    def set_coords(self, slots: np.ndarray, xy: np.ndarray) -> None:
        """Place ``slots`` at map coordinates ``xy`` (float32[n, 2])."""

    def remove(self, slots: np.ndarray) -> None:
        """Take ``slots`` off the map."""

    def set_extent(self, extent: list[float]) -> None:
        """[xmin, xmax, ymin, ymax] the views normalise with."""

    def column(self, name: str, slots: np.ndarray | None = None) -> np.ndarray:
        """A copy of one field (all lanes, or ``slots``); NaN where it does not exist yet."""

    def snapshot(self, step: int, time_s: float) -> Any:
        """A copy of every drawn row as the map looks now (the run recorder keeps these)."""

    def present_mask(self) -> np.ndarray:
        """bool[lanes]: which lanes are on the map."""


@runtime_checkable
class MapSink(Protocol):
    """The calls the hook and the worker make on the widget. Optional: ``enable_saliency(q_network)`` (called when
    present, for a hook given a q_network)."""

    gauge: dict[str, Any]  # read back: the insertion rate is smoothed across frames

    def attach(self, capacity: int, inspect_fn: InspectFn, *,
               slot_of: Callable[[np.ndarray], np.ndarray] | None = None) -> MapState:
        """Start a fresh map of ``capacity`` lanes; ``slot_of`` maps lanes to buffer slots (None: the same)."""

    def publish_delta(self) -> bool:
        """Send what changed since the last delta; True when something was sent."""

    def publish_keyframe(self) -> None:
        """Refresh the full state (re-display, second views and resyncs read it)."""

    def publish_summary(self) -> None:
        """Rebuild the priority/TD-error summary from the map's state, when it changed."""

    def record_history(self, step: int | None = None, *, force: bool = False) -> None:
        """Keep a snapshot of the map when one is due (always with ``force``)."""

    def update_status(self, **fields: Any) -> None:
        """Merge ``fields`` into the status line's state."""

    def update_gauge(self, **fields: Any) -> None:
        """Merge ``fields`` into the fill gauge's state."""

    def add_note(self, message: str) -> None:
        """A visible remark that is not an error, shown once."""

    def report_error(self, message: str) -> None:
        """Show a problem; never raises."""


def protocol_members(protocol: type) -> tuple[str, ...]:
    """The public attributes and methods a protocol asks for."""
    return tuple(sorted(n for n in {*vars(protocol), *getattr(protocol, "__annotations__", {})}
                        if not n.startswith("_")))


def missing_members(obj: object, protocol: type) -> list[str]:
    """What ``obj`` lacks of ``protocol`` (empty: it satisfies the runtime check)."""
    return [n for n in protocol_members(protocol) if not hasattr(obj, n)]


__all__ = ["InspectFn", "MapSink", "MapState", "missing_members", "protocol_members"]
