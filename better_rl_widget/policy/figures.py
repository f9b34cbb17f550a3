"""Plotly figures of rollouts across checkpoints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import stats

from .rollouts import Rollouts


def _ci95(values: pd.Series) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))


def _x(episodes: pd.DataFrame) -> tuple[list, str]:
    per = episodes.groupby("checkpoint").first()
    if per["step"].notna().all():
        return per["step"].astype(int).tolist(), "training step"
    return per["label"].tolist(), "checkpoint"


def _summary_figure(r: Rollouts, column: str, title: str, ylabel: str) -> go.Figure:
    g = r.episodes.groupby("checkpoint")[column]
    mean, ci = g.mean(), g.apply(_ci95)
    x, xlabel = _x(r.episodes)
    fig = go.Figure(go.Scatter(x=x, y=mean.values, mode="lines+markers", name=f"mean {ylabel}",
                               error_y={"type": "data", "array": ci.values, "visible": True},
                               customdata=g.count().values,
                               hovertemplate="%{x}: %{y:.2f} ± %{error_y.array:.2f} (n=%{customdata})<extra></extra>"))
    fig.update_layout(title=f"{title} (mean ± 95% CI over episodes)", xaxis_title=xlabel, yaxis_title=ylabel,
                      template="plotly_white")
    return fig


def returns_figure(r: Rollouts) -> go.Figure:
    return _summary_figure(r, "return", "Return per checkpoint", "return")


def lengths_figure(r: Rollouts) -> go.Figure:
    return _summary_figure(r, "length", "Episode length per checkpoint", "length")


def actions_figure(r: Rollouts) -> go.Figure:
    x, xlabel = _x(r.episodes)
    steps = r.steps
    if r.discrete:
        counts = pd.crosstab(steps["checkpoint"], steps["action"], normalize="index")
        fig = go.Figure([go.Bar(x=x, y=counts[a].values, name=f"action {a}") for a in counts.columns])
        fig.update_layout(barmode="stack", yaxis_title="fraction of steps")
    else:
        first = steps["action"].map(lambda a: a[0])
        fig = go.Figure([go.Box(y=first[steps["checkpoint"] == c], name=str(xx)) for c, xx in
                         zip(sorted(steps["checkpoint"].unique()), x)])
        fig.update_layout(yaxis_title="action[0]")
    fig.update_layout(title="Action distribution per checkpoint", xaxis_title=xlabel, template="plotly_white")
    return fig


def values_figure(r: Rollouts) -> go.Figure:
    s = r.steps
    fig = go.Figure()
    if s["value"].isna().all():
        fig.add_annotation(text="this agent exposes no value estimates (see the agent protocol)", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
    else:
        labels = r.episodes.groupby("checkpoint")["label"].first()
        for c, part in s.groupby("checkpoint"):
            fig.add_trace(go.Scattergl(x=part["return_to_go"], y=part["value"], mode="markers", name=labels[c],
                                       marker={"size": 4, "opacity": 0.6}))
        lo = float(np.nanmin([s["return_to_go"].min(), s["value"].min()]))
        hi = float(np.nanmax([s["return_to_go"].max(), s["value"].max()]))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="calibrated",
                                 line={"dash": "dash", "color": "grey"}))
    fig.update_layout(title="Value estimate vs realised discounted return", xaxis_title="realised return-to-go",
                      yaxis_title="predicted value (max Q or V)", template="plotly_white")
    return fig


def tsne_figure(r: Rollouts, coords: np.ndarray, color: str = "checkpoint") -> go.Figure:
    """All checkpoints' state-action pairs in one map (grey), the selected checkpoint on top; a slider/animation
    walks through checkpoints."""
    if color not in ("checkpoint", "action", "return"):
        raise ValueError(f"color must be 'checkpoint', 'action' or 'return', got {color!r}")
    s = r.steps
    labels = r.episodes.groupby("checkpoint")["label"].first()
    if color == "checkpoint":
        c_all = s["checkpoint"].to_numpy()
    elif color == "action":
        c_all = s["action"].to_numpy() if r.discrete else r.actions[:, 0]
    else:
        c_all = s["return_to_go"].to_numpy()
    cmin, cmax = float(np.min(c_all)), float(np.max(c_all))
    marker_common = {"size": 5, "colorscale": "Viridis", "cmin": cmin, "cmax": cmax,
                     "colorbar": {"title": color}}
    background = go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", name="all checkpoints",
                              marker={"size": 3, "color": "lightgrey"}, hoverinfo="skip")

    def layer(c: int | None) -> go.Scattergl:
        m = np.ones(len(s), bool) if c is None else (s["checkpoint"].to_numpy() == c)
        name = "all" if c is None else labels[c]
        return go.Scattergl(x=coords[m, 0], y=coords[m, 1], mode="markers", name=name,
                            marker={**marker_common, "color": c_all[m]},
                            text=[f"{labels[k]} · ep {e} · t {t}" for k, e, t in
                                  zip(s["checkpoint"][m], s["episode"][m], s["t"][m])],
                            hovertemplate="%{text}<extra></extra>")

    ckpts = sorted(s["checkpoint"].unique())
    frames = [go.Frame(data=[background, layer(c)], name=str(labels[c])) for c in ckpts]
    frames.append(go.Frame(data=[background, layer(None)], name="all"))
    fig = go.Figure(data=[background, layer(ckpts[0])], frames=frames)
    fig.update_layout(
        title=f"State-action t-SNE across checkpoints (one aligned map; colour: {color})",
        xaxis={"title": "t-SNE 1", "showticklabels": False}, yaxis={"title": "t-SNE 2", "showticklabels": False},
        template="plotly_white",
        sliders=[{"active": 0, "currentvalue": {"prefix": "checkpoint: "},
                  "steps": [{"label": f.name, "method": "animate",
                             "args": [[f.name], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}]}
                            for f in frames]}],
        updatemenus=[{"type": "buttons", "showactive": False, "x": 0, "y": -0.15, "xanchor": "left",
                      "buttons": [{"label": "▶ play", "method": "animate",
                                   "args": [[f.name for f in frames[:-1]],
                                            {"frame": {"duration": 700, "redraw": True}, "fromcurrent": True}]}]}],
    )
    return fig
