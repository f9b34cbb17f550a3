"""Static plotly figures for the trajectory, influence, calibration and skill analyses (the live panels draw the
same numbers in the widget)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .calibration import Calibration
from .skills import Skills
from .trajectories import episodes

TEMPLATE = "plotly_white"
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#1f77b4", "#d62728")


def _background(table: pd.DataFrame, max_points: int = 20_000) -> go.Scattergl:
    t = table if len(table) <= max_points else table.sample(max_points, random_state=0)
    return go.Scattergl(x=t["x"], y=t["y"], mode="markers", name="buffer", hoverinfo="skip",
                        marker={"size": 3, "color": "#d0d0d0"})


def _map_layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, template=TEMPLATE, xaxis={"visible": False},
                      yaxis={"visible": False, "scaleanchor": "x"}, legend={"itemsizing": "constant"})
    return fig


def trajectories_figure(table: pd.DataFrame, last: int = 5, episode_ids: Iterable[int] | None = None) -> go.Figure:
    """The last ``last`` episodes (or ``episode_ids``) as polylines through the map, coloured by time within the
    episode (dark = start, bright = end)."""
    t = episodes(table) if episode_ids is not None else episodes(table, last)
    if episode_ids is not None:
        t = t[t["episode"].isin(list(episode_ids))]
    fig = go.Figure(_background(table))
    for ep, g in t.groupby("episode", sort=True):
        frac = g["episode_step"] / max(1, g["episode_step"].max())
        fig.add_trace(go.Scatter(x=g["x"], y=g["y"], mode="lines+markers", name=f"episode {ep}",
                                 line={"width": 1, "color": "rgba(80,80,80,0.5)"},
                                 marker={"size": 6, "color": frac, "colorscale": "Viridis", "cmin": 0, "cmax": 1},
                                 customdata=np.c_[g["episode_step"], g["slot"]],
                                 hovertemplate=f"episode {ep}, step %{{customdata[0]}} (slot %{{customdata[1]}})"
                                               "<extra></extra>"))
    return _map_layout(fig, "Episodes through the map (colour: time within the episode)")


def segments_figure(table: pd.DataFrame, segments: pd.DataFrame, top: int = 3) -> go.Figure:
    """The ``top`` most frequent recurring segments highlighted on the map."""
    fig = go.Figure(_background(table))
    pos = table.set_index("slot")[["x", "y"]]
    i: Any  # a row label: recurring_segments numbers them 0, 1, ...
    for i, row in segments.head(top).iterrows():
        p = pos.loc[pos.index.intersection(row["slots"].astype(np.int64))]
        fig.add_trace(go.Scattergl(x=p["x"], y=p["y"], mode="markers", marker={"size": 5, "color": PALETTE[i % 12]},
                                   name=f"{'→'.join(map(str, row['segment']))} ×{row['count']}"))
    return _map_layout(fig, "Recurring segments (region sequences several episodes pass through)")


def calibration_figure(cal: Calibration, max_points: int = 5_000, label: str = "Q(s, a)") -> go.Figure:
    """Predicted against realised return: points, the identity line and binned means; bias in the title."""
    pts = cal.points if len(cal.points) <= max_points else cal.points.sample(max_points, random_state=0)
    fig = go.Figure(go.Scattergl(x=pts["realised"], y=pts["predicted"], mode="markers", name="transitions",
                                 marker={"size": 3, "color": "#4e79a7", "opacity": 0.35}))
    if len(cal.points):
        lo = float(min(cal.points["realised"].min(), cal.points["predicted"].min()))
        hi = float(max(cal.points["realised"].max(), cal.points["predicted"].max()))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="identity",
                                 line={"dash": "dash", "color": "#333"}))
        fig.add_trace(go.Scatter(x=cal.bins["realised"], y=cal.bins["predicted"], mode="lines+markers",
                                 name="binned means", marker={"size": 9, "color": "#e15759"},
                                 customdata=cal.bins["count"], hovertemplate="%{x:.2f} → %{y:.2f} "
                                 "(n=%{customdata})<extra></extra>"))
    word = "over" if cal.bias > 0 else "under"
    fig.update_layout(title=f"{label} against realised return-to-go: bias {cal.bias:+.3f} ({word}-estimates), "
                            f"MAE {cal.mae:.3f}, n={len(cal.points)}",
                      xaxis_title="realised discounted return", yaxis_title=f"predicted {label}", template=TEMPLATE)
    return fig


def value_trace_figure(trace: pd.DataFrame, title: str = "") -> go.Figure:
    """V (and Q of the action taken) along one episode, the realised return-to-go, rewards as bars."""
    fig = go.Figure()
    x = trace["episode_step"]
    fig.add_trace(go.Bar(x=x, y=trace["reward"], name="reward", marker_color="#59a14f", opacity=0.5, yaxis="y2"))
    for col, colour in (("value", "#4e79a7"), ("q", "#f28e2b"), ("return", "#333333")):
        if col in trace and np.isfinite(trace[col].to_numpy(np.float64)).any():
            fig.add_trace(go.Scatter(x=x, y=trace[col], mode="lines", name={"value": "V(s)", "q": "Q(s, a)",
                                                                           "return": "return-to-go"}[col],
                                     line={"color": colour, "dash": "dot" if col == "return" else "solid"}))
    fig.update_layout(title=title or "Value along the episode", xaxis_title="step in episode", yaxis_title="value",
                      yaxis2={"title": "reward", "overlaying": "y", "side": "right", "showgrid": False},
                      template=TEMPLATE)
    return fig


def influence_figure(df: pd.DataFrame) -> go.Figure:
    """Mean |ΔQ| and fraction of greedy actions flipped per group, beside random groups of the same size
    (mean ± standard deviation)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("mean |ΔQ| on the probe", "greedy actions flipped"))
    for col, (val, rnd, sd) in enumerate((("dq", "dq_random", "dq_random_std"),
                                          ("flipped", "flipped_random", "flipped_random_std")), start=1):
        fig.add_trace(go.Bar(x=df["group"], y=df[val], name="group", marker_color="#e15759", showlegend=col == 1),
                      row=1, col=col)
        fig.add_trace(go.Bar(x=df["group"], y=df[rnd], name="random, same size", marker_color="#bab0ac",
                             error_y={"type": "data", "array": df[sd].fillna(0)}, showlegend=col == 1),
                      row=1, col=col)
    steps = df.attrs.get("steps", "?")
    fig.update_layout(title=f"Influence of each group: {steps} TD steps on a copy of the network", barmode="group",
                      template=TEMPLATE)
    return fig


def skills_map_figure(table: pd.DataFrame, skills: Skills) -> go.Figure:
    """The map coloured by skill."""
    fig = go.Figure()
    for k in range(skills.k):
        m = skills.labels == k
        fig.add_trace(go.Scattergl(x=table["x"][m], y=table["y"][m], mode="markers", name=f"skill {k}",
                                   marker={"size": 3, "color": PALETTE[k % 12]}))
    return _map_layout(fig, f"Skills (k={skills.k}): transition entropy {skills.transition_entropy:.2f}, "
                            f"coherence {skills.coherence:.3f}")


def skill_graph_figure(skills: Skills, min_p: float = 0.05) -> go.Figure:
    """Skills as nodes at their mean map position, sized by visits; arrows for transitions with P ≥ ``min_p``."""
    c = skills.centers
    fig = go.Figure()
    for i in range(skills.k):
        for j in range(skills.k):
            p = skills.transitions[i, j]
            if i == j or p < min_p:
                continue
            fig.add_annotation(x=c[j, 0], y=c[j, 1], ax=c[i, 0], ay=c[i, 1], xref="x", yref="y", axref="x",
                               ayref="y", showarrow=True, arrowhead=2, arrowwidth=1 + 5 * p, opacity=0.3 + 0.7 * p,
                               arrowcolor="#555", standoff=12, startstandoff=12)
    size = 15 + 45 * np.sqrt(skills.counts / max(1, skills.counts.max()))
    fig.add_trace(go.Scatter(x=c[:, 0], y=c[:, 1], mode="markers+text", text=[str(i) for i in range(skills.k)],
                             marker={"size": size, "color": [PALETTE[i % 12] for i in range(skills.k)]},
                             customdata=skills.counts, hovertemplate="skill %{text}: %{customdata} states"
                                                                     "<extra></extra>", showlegend=False))
    return _map_layout(fig, f"Skill graph: transition entropy {skills.transition_entropy:.2f} "
                            f"(0 = deterministic hand-overs), coherence {skills.coherence:.3f}")


def skill_timeline_figure(timeline: pd.DataFrame, last: int = 20) -> go.Figure:
    """Per episode (rows), which skill each stretch of steps was in."""
    eps = np.sort(timeline["episode"].unique())[-last:]
    t = timeline[timeline["episode"].isin(eps)]
    fig = go.Figure()
    k: Any  # a skill id (the groupby key; pandas' stubs cannot know the column's dtype)
    for k, g in t.groupby("skill", sort=True):
        fig.add_trace(go.Bar(y=g["episode"].astype(str), x=g["length"], base=g["start"], orientation="h",
                             name=f"skill {k}", marker_color=PALETTE[int(k) % 12]))
    fig.update_layout(title="Skill timeline per episode", xaxis_title="step in episode", yaxis_title="episode",
                      barmode="overlay", template=TEMPLATE)
    return fig


def compare_k_figure(scores: pd.DataFrame) -> go.Figure:
    """Scores of the skill clustering against k."""
    fig = go.Figure()
    for col in ("transition_entropy", "coherence", "explained_variance"):
        fig.add_trace(go.Scatter(x=scores["k"], y=scores[col], mode="lines+markers", name=col))
    fig.update_layout(title="Choosing k: a predictable skill graph (low entropy), coherent skills, explained map",
                      xaxis_title="k", template=TEMPLATE)
    return fig


def plasticity_figure(frame: pd.DataFrame, task_switches: Sequence[int] = ()) -> go.Figure:
    """Dormant fraction and effective rank per layer over training steps, task switches as dotted lines."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=("dormant fraction", "effective rank"))
    for i, (layer, d) in enumerate(frame.groupby("layer", sort=False)):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=d["step"], y=d["dormant_fraction"], name=str(layer), legendgroup=str(layer),
                                 line={"color": color}), row=1, col=1)
        if d["effective_rank"].notna().any():
            fig.add_trace(go.Scatter(x=d["step"], y=d["effective_rank"], name=str(layer), legendgroup=str(layer),
                                     showlegend=False, line={"color": color}), row=2, col=1)
    for b in task_switches:
        fig.add_vline(x=b, line_dash="dot", line_color="gray", opacity=0.7)
    fig.update_layout(template=TEMPLATE, xaxis2_title="training step")
    return fig
