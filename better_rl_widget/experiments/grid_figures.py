"""plotly views of a grid world: value heatmap, greedy-policy arrows, state visitation over time."""

from __future__ import annotations

import itertools

import numpy as np
import plotly.graph_objects as go

from ..envs.gridworld import GridWorld

ARROWS = np.array(["↑", "↓", "←", "→"])


def _cell_text(env: GridWorld) -> np.ndarray:
    text = np.full((env.height, env.width), "", dtype=object)
    for group, mark in ((env.walls, "wall"), (env.lava, "lava"), (env.goals, "goal")):
        for x, y in group:
            text[y, x] = mark
    return text


def value_heatmap(env: GridWorld, values: np.ndarray, title: str = "state value", policy: np.ndarray | None = None
                  ) -> go.Figure:
    """Heatmap of per-state ``values`` on the grid; with ``policy`` (per-state actions) an arrow in each cell."""
    values = np.asarray(values, dtype=float)
    if values.shape != (env.n_states,):
        raise ValueError(f"values must have one entry per state ({env.n_states}); got shape {values.shape}")
    z = env.grid_values(values)
    text = _cell_text(env)
    if policy is not None:
        policy = np.asarray(policy)
        moving = ~env.terminal
        for s in np.flatnonzero(moving):
            x, y = env.state_cell[s]
            text[y, x] = (text[y, x] + " " + ARROWS[policy[s]]).strip()
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", textfont={"size": 18},
                               colorscale="Viridis", hovertemplate="x=%{x} y=%{y}<br>value=%{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, template="plotly_white", yaxis={"scaleanchor": "x", "dtick": 1},
                      xaxis={"dtick": 1})
    return fig


def policy_arrows(env: GridWorld, Q: np.ndarray, title: str = "greedy policy on max Q") -> go.Figure:
    """Greedy arrows over the heatmap of ``max_a Q``; ``Q`` is (S, A) or (instances, S, A) (averaged)."""
    Q = np.asarray(Q, dtype=float)
    if Q.ndim == 3:
        Q = Q.mean(0)
    return value_heatmap(env, Q.max(-1), title=title, policy=Q.argmax(-1))


def visitation_figure(env: GridWorld, visits: np.ndarray, windows: int = 10, title: str = "state visitation"
                      ) -> go.Figure:
    """Share of visits per cell, one animation frame (slider step) per window of episodes. ``visits``:
    (episodes, S) counts, as ``run_agents_on_mdp(..., track_visits=True)`` records them."""
    visits = np.asarray(visits, dtype=float)
    if visits.ndim != 2 or visits.shape[1] != env.n_states:
        raise ValueError(f"visits must be (episodes, {env.n_states}); got {visits.shape}")
    edges = np.linspace(0, len(visits), min(windows, len(visits)) + 1).astype(int)
    grids, labels = [], []
    for a, b in itertools.pairwise(edges):
        v = visits[a:b].sum(0)
        grids.append(env.grid_values(v / max(v.sum(), 1)))
        labels.append(f"episodes {a}–{b - 1}")
    zmax = float(np.nanmax([np.nanmax(g) for g in grids])) or 1.0
    text = _cell_text(env)

    def heat(g):
        return go.Heatmap(z=g, zmin=0, zmax=zmax, colorscale="Magma", text=text, texttemplate="%{text}",
                          hovertemplate="x=%{x} y=%{y}<br>share=%{z:.3f}<extra></extra>")

    fig = go.Figure(heat(grids[0]), frames=[go.Frame(data=[heat(g)], name=lab) for g, lab in zip(grids, labels)])
    fig.update_layout(
        title=title, template="plotly_white", yaxis={"scaleanchor": "x", "dtick": 1}, xaxis={"dtick": 1},
        sliders=[{"steps": [{"label": lab, "method": "animate",
                             "args": [[lab], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}]}
                            for lab in labels], "currentvalue": {"prefix": ""}}])
    return fig
