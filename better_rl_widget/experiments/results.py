"""The results of a run: a tidy DataFrame, mean ± 95% CI summaries, plotly figures, a results folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import manifest as mf
from .stats import confidence_summary

if TYPE_CHECKING:
    import plotly.graph_objects as go


@dataclass
class Results:
    """``df``: one row per (agent, instance, episode) with ``return`` and ``length`` (lifelong runs add ``task``,
    ``task_id`` and ``global_episode``). ``Q``: final (instances, S, A) table per agent. ``visits``: per agent,
    (episodes, S) state-visit counts summed over instances, when the run recorded them. ``performance``: the
    lifelong evaluation frame (agent, instance, global_episode, task_id, performance)."""

    df: pd.DataFrame
    manifest: dict[str, Any]
    Q: dict[str, np.ndarray] = field(default_factory=dict)
    visits: dict[str, np.ndarray] = field(default_factory=dict)
    performance: pd.DataFrame | None = None
    folder: Path | None = None

    @property
    def agents(self) -> list[str]:
        return list(dict.fromkeys(self.df["agent"]))

    def summary(self, cumulative: bool = False) -> pd.DataFrame:
        """Per agent and episode: mean, sem and 95% CI of the episode return (or of the cumulative return)."""
        x = "global_episode" if "global_episode" in self.df else "episode"
        df = self.df.sort_values(["agent", "instance", x])
        if cumulative:
            df = df.assign(**{"return": df.groupby(["agent", "instance"])["return"].cumsum()})
        return confidence_summary(df, "return", ["agent", x])

    def task_boundaries(self) -> list[int]:
        """Global episodes where a new task starts (lifelong runs); empty otherwise."""
        if "task" not in self.df:
            return []
        first = self.df.groupby("task")["global_episode"].min().sort_index()
        return [int(e) for e in first.iloc[1:]]

    def figure(self, cumulative: bool = False, title: str | None = None) -> go.Figure:
        from .figures import learning_curves

        ylabel = "cumulative return" if cumulative else "episode return"
        title = title or f"{ylabel} (mean ± 95% CI over {self.manifest['config']['instances']} instances)"
        return learning_curves(self.summary(cumulative), boundaries=self.task_boundaries(), ylabel=ylabel, title=title)

    def save(self, folder: str | Path) -> Path:
        """Write ``results.csv``, ``manifest.json`` (config, seed, versions) and, if present, ``performance.csv``
        and ``q_tables.npz``."""
        folder = Path(folder)
        mf.write(folder, self.manifest)
        self.df.to_csv(folder / "results.csv", index=False)
        if self.performance is not None:
            self.performance.to_csv(folder / "performance.csv", index=False)
        if self.Q:
            # numpy's stub reads a **dict as possibly naming its allow_pickle flag; these are array names
            np.savez_compressed(folder / "q_tables.npz",
                                **{f"agent{i}": q for i, q in enumerate(self.Q.values())})  # type: ignore[arg-type]
        self.folder = folder
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Results:
        folder = Path(folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        perf = folder / "performance.csv"
        return cls(df=pd.read_csv(folder / "results.csv"), manifest=manifest,
                   performance=pd.read_csv(perf) if perf.exists() else None, folder=folder)
