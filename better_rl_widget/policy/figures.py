"""Plotly figures of rollouts across checkpoints.

Every figure shares one layout: the title sits above the plot area (its bottom at paper y = 1, padded), the
legend or colour bar to the right of it (paper x >= 1.02, never both), sliders and buttons below it; so no two of them
overlap whatever the text lengths (``tests/test_policy_visualizer.py`` checks the boxes). Checkpoints get discrete
colours sampled in step order from Viridis, one legend entry each ("step 10,000").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.colors as pc
import plotly.graph_objects as go
from scipy import stats

from .rollouts import Rollouts

COLOR_BY = ("checkpoint", "action", "return_to_go", "value")
ACTION_COLORS = pc.qualitative.Safe  # colour-blind safe, 11 colours, no grey (grey is the background)
_BELOW = -0.12  # paper y of sliders/buttons: below the x-axis title


def ci95_half_width(n: int) -> float:
    """Half-width of the 95 % Student-t interval for a mean of ``n`` episodes, in units of their standard
    deviation: t(0.975, n-1)/sqrt(n). 1.24 at n=5, 0.72 at n=10, 0.37 at n=30."""
    return float(stats.t.ppf(0.975, n - 1) / np.sqrt(n)) if n >= 2 else float("inf")


def _ci95(values: pd.Series) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    return float(ci95_half_width(n) * values.std(ddof=1))


def checkpoint_colors(n: int) -> list[str]:
    """``n`` distinct colours in step order: Viridis sampled from dark to light, stopping short of its pale yellow end
    (hard to see on white)."""
    if n <= 0:
        return []
    return list(pc.sample_colorscale("Viridis", list(np.linspace(0.0, 0.85, n)) if n > 1 else [0.0]))


def _labels(r: Rollouts) -> pd.Series:
    return r.episodes.groupby("checkpoint")["label"].first()


def _x(episodes: pd.DataFrame) -> tuple[list, str]:
    per = episodes.groupby("checkpoint").first()
    if per["step"].notna().all():
        return per["step"].astype(int).tolist(), "training step"
    return per["label"].tolist(), "checkpoint"


def _title(text: str, sub: str | None = None) -> dict[str, Any]:
    full = text if sub is None else f"{text}<br><sup>{sub}</sup>"
    return {"text": full, "x": 0.0, "xanchor": "left", "xref": "paper", "y": 1.0, "yanchor": "bottom", "yref": "paper",
            "pad": {"b": 12}}


LEGEND: dict[str, Any] = {"orientation": "v", "x": 1.02, "xanchor": "left", "xref": "paper", "y": 1.0,
                          "yanchor": "top", "yref": "paper"}
COLORBAR: dict[str, Any] = {"x": 1.02, "xanchor": "left", "xref": "paper", "y": 0.5, "yanchor": "middle",
                            "yref": "paper", "len": 1.0, "lenmode": "fraction"}


def _layout(fig: go.Figure, title: str, sub: str | None = None, *, legend_title: str | None = None,
            bottom: int = 60, **kw: Any) -> go.Figure:
    fig.update_layout(title=_title(title, sub), legend={**LEGEND, "title": {"text": legend_title or ""}},
                      template="plotly_white", margin={"t": 90 if sub else 70, "b": bottom}, **kw)
    return fig


def _n_text(r: Rollouts) -> str:
    n = r.episodes.groupby("checkpoint").size()
    return f"n = {int(n.min())}" if n.min() == n.max() else f"n = {int(n.min())}–{int(n.max())}"


def _summary_figure(r: Rollouts, column: str, title: str, ylabel: str) -> go.Figure:
    g = r.episodes.groupby("checkpoint")[column]
    mean, ci = g.mean(), g.apply(_ci95)
    x, xlabel = _x(r.episodes)
    x_of = dict(zip(mean.index, x))
    fig = go.Figure(go.Scatter(x=x, y=mean.values, mode="lines+markers", name="mean ± 95% CI",
                               error_y={"type": "data", "array": ci.values, "visible": True},
                               customdata=g.count().values,
                               hovertemplate="%{x}: %{y:.2f} ± %{error_y.array:.2f} (n=%{customdata})<extra></extra>"))
    eps = r.episodes
    fig.add_trace(go.Scatter(x=[x_of[c] for c in eps["checkpoint"]], y=eps[column], mode="markers", name="episodes",
                             marker={"size": 4, "color": "rgba(120,120,120,0.45)"},
                             hovertemplate="%{x}: %{y:.2f}<extra>one episode</extra>"))
    return _layout(fig, title, f"mean ± 95% Student-t interval over {_n_text(r)} seeded episodes per checkpoint",
                   xaxis_title=xlabel, yaxis_title=ylabel)


def returns_figure(r: Rollouts) -> go.Figure:
    return _summary_figure(r, "return", "Return per checkpoint", "return")


def lengths_figure(r: Rollouts) -> go.Figure:
    return _summary_figure(r, "length", "Episode length per checkpoint", "length")


def actions_figure(r: Rollouts) -> go.Figure:
    x, xlabel = _x(r.episodes)
    steps = r.steps
    if r.discrete:
        counts = pd.crosstab(steps["checkpoint"], steps["action"], normalize="index")
        fig = go.Figure([go.Bar(x=x, y=counts[a].values, name=f"action {a}",
                                marker_color=ACTION_COLORS[i % len(ACTION_COLORS)])
                         for i, a in enumerate(counts.columns)])
        fig.update_layout(barmode="stack", yaxis_title="fraction of steps")
        legend_title = "action"
    else:
        first = steps["action"].map(lambda a: a[0])
        ckpts = sorted(steps["checkpoint"].unique())
        fig = go.Figure([go.Box(y=first[steps["checkpoint"] == c], name=str(xx), marker_color=col)
                         for c, xx, col in zip(ckpts, x, checkpoint_colors(len(ckpts)))])
        fig.update_layout(yaxis_title="action[0]", showlegend=False)
        legend_title = None
    return _layout(fig, "Action distribution per checkpoint", legend_title=legend_title, xaxis_title=xlabel)


def values_figure(r: Rollouts) -> go.Figure:
    s = r.steps
    fig = go.Figure()
    if s["value"].isna().all():
        fig.add_annotation(text="this agent exposes no value estimates (see the agent protocol)", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
    else:
        labels = _labels(r)
        groups = list(s.groupby("checkpoint"))
        for (c, part), col in zip(groups, checkpoint_colors(len(groups))):
            fig.add_trace(go.Scattergl(x=part["return_to_go"], y=part["value"], mode="markers", name=labels[c],
                                       marker={"size": 4, "opacity": 0.6, "color": col}))
        lo = float(np.nanmin([s["return_to_go"].min(), s["value"].min()]))
        hi = float(np.nanmax([s["return_to_go"].max(), s["value"].max()]))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="calibrated (y = x)",
                                 line={"dash": "dash", "color": "grey"}))
    return _layout(fig, "Value estimate vs realised discounted return", _gamma_text(r), legend_title="checkpoint",
                   xaxis_title="realised return-to-go", yaxis_title="predicted value (max Q or V)")


def _gamma_text(r: Rollouts) -> str | None:
    if "gamma" not in r.episodes:
        return None
    g = sorted(r.episodes["gamma"].unique())
    return "return-to-go discounted with γ = " + ", ".join(f"{v:g}" for v in g) + " (the agent's own)"


def _continuous(r: Rollouts, color_by: str) -> tuple[np.ndarray, str]:
    s = r.steps
    if color_by == "return_to_go":
        g = sorted(r.episodes["gamma"].unique()) if "gamma" in r.episodes else []
        return s["return_to_go"].to_numpy(float), "return-to-go" + (f" (γ={g[0]:g})" if len(g) == 1 else "")
    if color_by == "value":
        v = s["value"].to_numpy(float)
        if np.isnan(v).all():
            raise ValueError("color_by='value': this agent exposes no value estimates (give its class q_values(obs) "
                             "or value(obs); see the agent protocol)")
        return v, "value (max Q or V)"
    return r.actions[:, 0].astype(float), "action[0]"  # continuous actions


def tsne_figure(r: Rollouts, coords: np.ndarray, color_by: str = "checkpoint") -> go.Figure:
    """All checkpoints' state-action pairs in one aligned map: every pair in grey underneath, coloured on top by
    ``color_by``: ``"checkpoint"`` (one colour and legend entry per checkpoint, in step order), ``"action"``
    (discrete: one colour per action; continuous: action[0] on a colour bar), ``"return_to_go"`` (the realised
    discounted return from that step on) or ``"value"`` (the network's max Q or V), the last two on a titled colour
    bar. A slider (and ▶) shows one checkpoint at a time; each point's ``customdata`` is its row in the steps table."""
    if color_by == "return":  # the name before color_by existed
        color_by = "return_to_go"
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {', '.join(repr(c) for c in COLOR_BY)}, got {color_by!r}")
    s = r.steps
    labels = _labels(r)
    ck = s["checkpoint"].to_numpy()
    ckpts = sorted(np.unique(ck).tolist())
    text = np.array([f"{labels[k]} · ep {e} · t {t}" for k, e, t in zip(ck, s["episode"], s["t"])], dtype=object)
    rows = np.arange(len(s))
    # Categorical colourings: (legend name, rows, colour) per category; continuous: values and a colour bar title.
    cats: list[tuple[str, np.ndarray, str]] | None = None
    values, has, bar_title, vmin, vmax = np.empty(0), np.empty(0, bool), "", 0.0, 1.0
    legend_title = color_by
    if color_by == "checkpoint":
        cats = [(str(labels[c]), ck == c, col) for c, col in zip(ckpts, checkpoint_colors(len(ckpts)))]
    elif color_by == "action" and r.discrete:
        a = r.actions[:, 0].astype(int)
        cats = [(f"action {v}", a == v, ACTION_COLORS[i % len(ACTION_COLORS)]) for i, v in enumerate(np.unique(a))]
    else:
        values, bar_title = _continuous(r, color_by)
        has = np.isfinite(values)
        vmin, vmax = (float(np.min(values[has])), float(np.max(values[has]))) if has.any() else (0.0, 1.0)

    background = go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", name="all checkpoints",
                              marker={"size": 3, "color": "lightgrey"}, hoverinfo="skip", showlegend=False)

    def points(m: np.ndarray, name: str, marker: dict, showlegend: bool) -> go.Scattergl:
        # an empty trace would drop out of the legend: [None] keeps its entry while another checkpoint is shown
        x, y = (coords[m, 0], coords[m, 1]) if m.any() else ([None], [None])
        return go.Scattergl(x=x, y=y, mode="markers", name=name, marker=marker, showlegend=showlegend,
                            customdata=rows[m], text=text[m], hovertemplate="%{text}<extra>%{fullData.name}</extra>")

    def layer(c: int | None) -> list[go.Scattergl]:
        shown = np.ones(len(s), bool) if c is None else (ck == c)
        if cats is not None:
            return [points(m & shown, name, {"size": 5, "color": col}, True) for name, m, col in cats]
        m = shown & has
        return [points(m, bar_title, {"size": 5, "color": values[m], "colorscale": "Viridis", "cmin": vmin,
                                      "cmax": vmax, "showscale": True,
                                      "colorbar": {**COLORBAR, "title": {"text": bar_title, "side": "right"}}},
                       False)]

    names = ["all", *(str(labels[c]) for c in ckpts)]
    frames = [go.Frame(data=[background, *layer(None)], name="all")]
    frames += [go.Frame(data=[background, *layer(c)], name=str(labels[c])) for c in ckpts]
    fig = go.Figure(data=frames[0].data, frames=frames)
    sub = "grey: every checkpoint's pairs; slider: one checkpoint at a time"
    if color_by == "return_to_go":
        sub = (_gamma_text(r) or "discounted return from each step on") + "; " + sub
    _layout(fig, "State-action t-SNE across checkpoints (one aligned map)", sub,
            legend_title=legend_title if cats is not None else None, bottom=130, showlegend=cats is not None,
            height=650,  # room for the map, with the slider below its axis title
            xaxis={"title": "t-SNE 1", "showticklabels": False}, yaxis={"title": "t-SNE 2", "showticklabels": False},
            sliders=[{"active": 0, "x": 0.1, "xanchor": "left", "len": 0.9, "y": _BELOW, "yanchor": "top",
                      "pad": {"t": 0}, "currentvalue": {"prefix": "checkpoint: "},
                      "steps": [{"label": n, "method": "animate",
                                 "args": [[n], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}]}
                                for n in names]}],
            updatemenus=[{"type": "buttons", "showactive": False, "x": 0.08, "xanchor": "right", "y": _BELOW,
                          "yanchor": "top", "pad": {"t": 0},
                          "buttons": [{"label": "▶", "method": "animate",
                                       "args": [names[1:], {"frame": {"duration": 700, "redraw": True},
                                                            "fromcurrent": True}]}]}])
    return fig
