"""``GridWorldWidget``: a live panel of a grid world — value heatmap, greedy arrows, state visitation.

Traits carry BRW1 blobs (docs/protocol.md), never JSON lists of numbers:

* ``layout``: meta ``{width, height, action_names}``, array ``kind`` uint8 (height, width): 0 floor, 1 wall,
  2 lava, 3 goal, 4 start (row 0 is the bottom row).
* ``frame``: meta ``{episode, agent, mean_return}``, arrays ``value`` float32 (height, width) (NaN on walls),
  ``policy`` uint8 (height, width) (255 where there is no move: walls, terminal cells), ``visits`` float32
  (height, width): share of visits in the window since the last frame (NaN on walls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..envs.gridworld import GridWorld
from ..frames.codec import encode
from .assets import asset

NO_MOVE = 255


class GridWorldWidget(anywidget.AnyWidget):
    _esm = asset("grid_widget.js")

    layout = traitlets.Bytes(b"").tag(sync=True)
    frame = traitlets.Bytes(b"").tag(sync=True)
    view = traitlets.Unicode("value").tag(sync=True)   # "value" or "visits"
    episode = traitlets.Int(-1).tag(sync=True)

    def __init__(self, env: GridWorld, **kwargs: Any) -> None:
        base = getattr(env, "unwrapped", env)
        if not isinstance(base, GridWorld):
            raise TypeError(f"GridWorldWidget draws a better_rl_widget.envs.GridWorld; got {type(base).__name__}")
        super().__init__(**kwargs)
        self.env = base
        kind = np.zeros((base.height, base.width), dtype=np.uint8)
        for group, code in ((base.walls, 1), (base.lava, 2), (base.goals, 3)):
            for x, y in group:
                kind[y, x] = code
        for s in np.flatnonzero(base.initial > 0):
            if base.initial[s] == 1.0:  # a single start cell; uniform starts are not marked
                x, y = base.state_cell[s]
                kind[y, x] = 4
        self.layout = encode({"width": base.width, "height": base.height,
                              "action_names": list(base.action_names)}, {"kind": kind})
        self._visits_since = np.zeros(base.n_states)

    def show(self, Q: np.ndarray | None = None, V: np.ndarray | None = None, policy: np.ndarray | None = None,
             visits: np.ndarray | None = None, episode: int = -1, agent: str = "",
             mean_return: float | None = None) -> None:
        """Draw values (``V``, or ``max_a Q``), greedy moves (``policy`` or ``argmax_a Q``; Q may be
        (instances, S, A), averaged) and per-state ``visits`` counts."""
        env = self.env
        if Q is not None:
            Q = np.asarray(Q, dtype=float)
            Q = Q.mean(0) if Q.ndim == 3 else Q
            if Q.shape != (env.n_states, env.n_actions):
                raise ValueError(f"Q must be ({env.n_states}, {env.n_actions}) or (instances, ...); got {Q.shape}")
            V = Q.max(-1) if V is None else V
            policy = Q.argmax(-1) if policy is None else policy
        value = env.grid_values(np.zeros(env.n_states) if V is None else V).astype(np.float32)
        moves = np.full(env.n_states, NO_MOVE, dtype=np.int64)
        if policy is not None:
            moves = np.where(env.terminal, NO_MOVE, np.asarray(policy, dtype=np.int64))
        pol = env.grid_values(moves)
        pol = np.where(np.isnan(pol), NO_MOVE, pol).astype(np.uint8)
        share = np.zeros(env.n_states) if visits is None else np.asarray(visits, dtype=float)
        share = share / max(share.sum(), 1.0)
        meta = {"episode": int(episode), "agent": agent,
                "mean_return": None if mean_return is None else float(mean_return)}
        self.frame = encode(meta, {"value": value, "policy": pol,
                                   "visits": env.grid_values(share).astype(np.float32)})
        self.episode = int(episode)

    def watch(self, every: int = 1) -> Callable[[Any, int, dict], None]:
        """A callback for ``run_agents_on_mdp(..., on_episode=...)`` that redraws every ``every`` episodes,
        with the visits gathered since the last redraw (needs ``track_visits=True`` for visitation)."""
        if every < 1:
            raise ValueError(f"every must be >= 1; got {every}")

        def on_episode(agent: Any, episode: int, info: dict) -> None:
            if episode == 0:  # a new agent starts: drop the previous one's partial window
                self._visits_since = np.zeros(self.env.n_states)
            if info.get("visits") is not None:
                self._visits_since += info["visits"]
            if (episode + 1) % every == 0:
                self.show(Q=agent.Q, visits=self._visits_since, episode=episode, agent=agent.name,
                          mean_return=float(np.mean(info["returns"])))
                self._visits_since = np.zeros(self.env.n_states)

        return on_episode
