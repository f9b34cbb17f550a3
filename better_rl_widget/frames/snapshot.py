"""The map as it was at one moment: the unit the time scrubber, run records, replay and HTML export share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class MapSnapshot:
    """Enough to redraw the map at one training step, without the buffer or the networks."""

    step: int  # the hook's training-step counter when taken
    time_s: float  # seconds since the hook started
    slots: np.ndarray  # uint32[n] buffer slots drawn
    xy: np.ndarray  # float32[n, 2] their coordinates
    extent: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax the view normalises with
    fields: dict[str, np.ndarray] = field(default_factory=dict)  # per-row fields (FrameState names), each [n]

    def __post_init__(self) -> None:
        n = len(self.slots)
        if self.xy.shape != (n, 2):
            raise ValueError(f"MapSnapshot: xy has shape {self.xy.shape}, expected ({n}, 2) for {n} slots")
        for name, values in self.fields.items():
            if len(values) != n:
                raise ValueError(f"MapSnapshot: field {name!r} has {len(values)} rows, expected {n}")
