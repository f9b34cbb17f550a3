"""``ContinualWidget``: live plasticity curves (dormant fraction, effective rank per layer) with task switches.

One trait, ``series`` (BRW1): meta ``{layers: [names], tau}``, arrays ``step`` float64 (n,), ``dormant``
float32 (n, layers), ``erank`` float32 (n, layers) (NaN where a layer has none), ``switches`` float64 (k,).
Feed it from :class:`better_rl_widget.analysis.PlasticityTracker` (``on_record=widget.push``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..frames.codec import encode
from .assets import asset


class ContinualWidget(anywidget.AnyWidget):
    _esm = asset("continual_widget.js")

    series = traitlets.Bytes(b"").tag(sync=True)

    def __init__(self, tau: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tau = tau
        self._layers: list[str] = []
        self._steps: list[float] = []
        self._dormant: dict[tuple[float, str], float] = {}
        self._erank: dict[tuple[float, str], float] = {}
        self._switches: list[float] = []
        self._publish()

    def push(self, rows: Iterable[dict]) -> None:
        """Add rows ``{step, layer, dormant_fraction, effective_rank}`` (what ``PlasticityTracker`` records)."""
        for r in rows:
            step, layer = float(r["step"]), str(r["layer"])
            if layer not in self._layers:
                self._layers.append(layer)
            if not self._steps or self._steps[-1] != step:
                if self._steps and step < self._steps[-1]:
                    raise ValueError(f"steps must not go back: {step} after {self._steps[-1]}")
                self._steps.append(step)
            self._dormant[step, layer] = float(r["dormant_fraction"])
            self._erank[step, layer] = float(r.get("effective_rank", np.nan))
        self._publish()

    def task_switch(self, step: float) -> None:
        self._switches.append(float(step))
        self._publish()

    def _publish(self) -> None:
        n, L = len(self._steps), len(self._layers)
        dormant = np.full((n, L), np.nan, dtype=np.float32)
        erank = np.full((n, L), np.nan, dtype=np.float32)
        for i, s in enumerate(self._steps):
            for j, layer in enumerate(self._layers):
                dormant[i, j] = self._dormant.get((s, layer), np.nan)
                erank[i, j] = self._erank.get((s, layer), np.nan)
        self.series = encode({"layers": self._layers, "tau": self.tau},
                             {"step": np.asarray(self._steps, dtype=np.float64), "dormant": dormant,
                              "erank": erank, "switches": np.asarray(self._switches, dtype=np.float64)})
