"""The inspector's per-slot fields, shared by the live mirror (capture) and replayed runs (store)."""

from __future__ import annotations

import math

import numpy as np


def obs_layout(shape: tuple[int, ...]) -> str:
    """How the inspector should draw an observation: a vector table or image(s)."""
    if len(shape) == 2 and min(shape) > 1:
        return "HW"
    if len(shape) == 3:
        if shape[0] <= 16 and shape[1] > 4 and shape[2] > 4 and shape[-1] > 16:
            return "CHW"  # frame stacks (4, 84, 84)
        if shape[0] > 4 and shape[1] > 4:
            return "HWC"  # RGB frames, MinAtar (10, 10, k)
    return "vector"


def json_scalar(v: np.generic | np.ndarray) -> float | int | bool | None:
    """A numpy scalar as a JSON value; NaN and infinities become null (JSON has no spelling for them)."""
    x = np.asarray(v).item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
