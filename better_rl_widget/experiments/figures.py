"""plotly figures for experiment results: learning curves with 95% CI bands and task-boundary markers."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from .stats import confidence_summary

PALETTE = qualitative.Plotly


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _boundaries(fig: go.Figure, boundaries: Sequence[int]) -> None:
    for b in boundaries:
        fig.add_vline(x=b - 0.5, line_dash="dot", line_color="gray", opacity=0.7)


def learning_curves(summary: pd.DataFrame, boundaries: Sequence[int] = (), ylabel: str = "episode return",
                    title: str = "", x: str | None = None) -> go.Figure:
    """One line per agent with its 95% CI band (columns agent, mean, ci_low, ci_high, and an x column:
    ``global_episode`` or ``episode``); dotted lines where a new task starts."""
    x = x or ("global_episode" if "global_episode" in summary else "episode")
    fig = go.Figure()
    for i, (agent, d) in enumerate(summary.groupby("agent", sort=False)):
        color = PALETTE[i % len(PALETTE)]
        xs = d[x].tolist()
        fig.add_trace(go.Scatter(x=xs + xs[::-1], y=d["ci_high"].tolist() + d["ci_low"].tolist()[::-1],
                                 fill="toself", fillcolor=_rgba(color, 0.2), line={"width": 0}, hoverinfo="skip",
                                 showlegend=False, legendgroup=str(agent)))
        fig.add_trace(go.Scatter(x=xs, y=d["mean"], name=str(agent), line={"color": color}, legendgroup=str(agent)))
    _boundaries(fig, boundaries)
    fig.update_layout(title=title, xaxis_title=x.replace("_", " "), yaxis_title=ylabel, template="plotly_white")
    return fig


def performance_figure(performance: pd.DataFrame, agent: str, boundaries: Sequence[int] | None = None,
                       task_names: Sequence[str] | None = None) -> go.Figure:
    """Per-task normalised performance of one agent over a lifelong run (mean ± 95% CI over instances), with
    the task switches (taken from the frame unless given) as dotted lines."""
    p = performance[performance["agent"] == agent]
    if boundaries is None:
        first = p.groupby("task")["global_episode"].min().sort_index()
        boundaries = [int(e) for e in first.iloc[1:]]
    s = confidence_summary(p, "performance", ["eval_task_id", "global_episode"])
    s["agent"] = [task_names[t] if task_names else f"task {t}" for t in s["eval_task_id"]]
    return learning_curves(s, boundaries, ylabel="normalised performance", title=f"{agent}: performance per task")
