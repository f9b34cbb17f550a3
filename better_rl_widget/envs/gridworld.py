"""Grid worlds: walls, lava, goals, slip, step cost; built from arguments or from a text layout.

Cells are ``(x, y)``, 0-indexed, ``y`` counted from the bottom row (simple_rl's cells are the same, 1-indexed).
Actions follow simple_rl's order: 0 up, 1 down, 2 left, 3 right.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .tabular import TabularEnv

MOVES = np.array([[0, 1], [0, -1], [-1, 0], [1, 0]])  # up, down, left, right as (dx, dy)
# A slip turns the move by 90 degrees, either way with equal chance (as simple_rl does).
PERPENDICULAR = np.array([[2, 3], [2, 3], [0, 1], [0, 1]])

FOUR_ROOMS = """\
#############
#.....#.....#
#.....#.....#
#...........#
#.....#.....#
#.....#.....#
##.####.....#
#.....###.###
#.....#.....#
#.....#.....#
#...........#
#S....#....G#
#############"""


def _cells(cells: Iterable[Sequence[int]] | None) -> set[tuple[int, int]]:
    return {(int(c[0]), int(c[1])) for c in (cells or []) if len(c) == 2}


class GridWorld(TabularEnv):
    """``width`` × ``height`` grid. Entering a goal pays ``goal_reward - step_cost`` (and ends the episode when
    ``goal_terminal``), entering lava pays ``-lava_cost`` (ends it when ``lava_terminal``), any other move
    ``-step_cost``. With probability ``slip`` the move goes to one of the two perpendicular directions."""

    action_names = ("up", "down", "left", "right")

    def __init__(self, width: int = 4, height: int = 3, walls: Iterable[Sequence[int]] = (),
                 lava: Iterable[Sequence[int]] = (), goals: Iterable[Sequence[int]] = ((3, 2),),
                 start: Sequence[int] | None = (0, 0), slip: float = 0.0, step_cost: float = 0.0,
                 goal_reward: float = 1.0, lava_cost: float = 1.0, goal_terminal: bool = True,
                 lava_terminal: bool = False, render_mode: str | None = None) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"grid must be at least 1×1; got {width}×{height}")
        if not 0.0 <= slip <= 1.0:
            raise ValueError(f"slip must be a probability; got {slip}")
        self.width, self.height = int(width), int(height)
        self.walls, self.lava, self.goals = _cells(walls), _cells(lava), _cells(goals)
        for name, group in (("wall", self.walls), ("lava", self.lava), ("goal", self.goals)):
            bad = [c for c in group if not (0 <= c[0] < width and 0 <= c[1] < height)]
            if bad:
                raise ValueError(f"{name} cells {bad} lie outside the {width}×{height} grid")
        self.render_mode = render_mode
        # state index of each cell, -1 for walls; cells listed row by row from the bottom
        self.cell_state = -np.ones((self.height, self.width), dtype=np.int64)
        cells = [(x, y) for y in range(self.height) for x in range(self.width) if (x, y) not in self.walls]
        self.state_cell = np.array(cells, dtype=np.int64).reshape(-1, 2)
        for i, (x, y) in enumerate(cells):
            self.cell_state[y, x] = i
        S, A = len(cells), 4
        if start is not None and tuple(start) not in set(cells):
            raise ValueError(f"start {tuple(start)} is a wall or outside the grid")

        # Deterministic successor of each (state, move), then mix in the slips.
        succ = np.empty((S, A), dtype=np.int64)
        for s, (x, y) in enumerate(cells):
            for a, (dx, dy) in enumerate(MOVES):
                nx, ny = x + dx, y + dy
                ok = 0 <= nx < self.width and 0 <= ny < self.height and self.cell_state[ny, nx] >= 0
                succ[s, a] = self.cell_state[ny, nx] if ok else s
        P = np.zeros((S, A, S))
        rows = np.arange(S)
        for a in range(A):  # each (state, a) once per assignment: plain fancy-index adds are exact
            P[rows, a, succ[:, a]] += 1.0 - slip
            for b in PERPENDICULAR[a]:
                P[rows, a, succ[:, b]] += slip / 2

        is_goal = np.array([c in self.goals for c in cells])
        is_lava = np.array([c in self.lava for c in cells])
        entry = np.full(S, 0.0 - step_cost)
        entry[is_goal] = goal_reward - step_cost
        entry[is_lava] = -float(lava_cost)
        terminal = (is_goal & goal_terminal) | (is_lava & lava_terminal)
        if start is None:  # uniform over non-terminal cells
            initial = (~terminal).astype(float)
        else:
            initial = np.zeros(S)
            initial[self.cell_state[start[1], start[0]]] = 1.0
        self._set_model(P, np.broadcast_to(entry, (S, A, S)), terminal, initial / initial.sum())

    @classmethod
    def from_layout(cls, layout: str, **kwargs: Any) -> GridWorld:
        """Build from text, top row first: ``#`` wall, ``L`` lava, ``G`` goal, ``S`` start, ``.`` floor."""
        lines = [ln for ln in layout.strip("\n").splitlines() if ln.strip()]
        height, width = len(lines), max(len(ln) for ln in lines)
        found: dict[str, list[tuple[int, int]]] = {"#": [], "L": [], "G": [], "S": []}
        for row, line in enumerate(lines):
            y = height - 1 - row
            for x, ch in enumerate(line.ljust(width, "#")):
                if ch in found:
                    found[ch].append((x, y))
                elif ch != ".":
                    raise ValueError(f"layout character {ch!r} at row {row}, column {x} is not one of #LGS.")
        if len(found["S"]) > 1:
            raise ValueError("layout has more than one start cell S")
        kwargs.setdefault("start", found["S"][0] if found["S"] else None)
        return cls(width=width, height=height, walls=found["#"], lava=found["L"], goals=found["G"], **kwargs)

    def grid_values(self, values: np.ndarray) -> np.ndarray:
        """Per-state values → (height, width) array, NaN on walls (row 0 is the bottom row)."""
        out = np.full((self.height, self.width), np.nan)
        mask = self.cell_state >= 0
        out[mask] = np.asarray(values, dtype=float)[self.cell_state[mask]]
        return out

    def render(self) -> str:
        x0, y0 = self.state_cell[self._state]
        rows = []
        for y in range(self.height - 1, -1, -1):
            row = ""
            for x in range(self.width):
                c = (x, y)
                row += ("A" if c == (x0, y0) else "#" if c in self.walls else "G" if c in self.goals
                        else "L" if c in self.lava else ".")
            rows.append(row)
        return "\n".join(rows)


def four_rooms(**kwargs: Any) -> GridWorld:
    """Sutton, Precup & Singh (1999)'s four-room layout, start bottom-left, goal bottom-right."""
    return GridWorld.from_layout(FOUR_ROOMS, **kwargs)
