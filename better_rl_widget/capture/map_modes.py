"""What one point of the live map embeds: a state, a (state, action) pair, or a window of k consecutive pairs.

``map_mode``:

- ``"states"``: the state's features (the network's penultimate layer, or the flattened observation).
- ``"state-actions"``: ``[s, c · a]``, the state joined with its action: a one-hot vector for discrete actions,
  standardised values for continuous ones, scaled by ``c`` (the median norm of the state rows) so that the action
  weighs about as much as the state (as ``analysis.state_action``'s ``"append"``).
- ``"windows"``: ``[s₁, c·a₁, …, s_k, c·a_k]``, the k consecutive (state, action) pairs of one episode that end at
  the drawn transition: recurring behaviour (the same actions in a row) forms clusters.

The k-1 earlier pairs of a drawn transition are read from the buffer when it is copied (:func:`read_context`,
training thread, newly drawn rows only, windows mode only: k-1 extra rows per drawn row). The earlier pair ``j``
of slot ``s`` is looked for in slot ``(s − j·n_envs) mod capacity`` (insertion ``i`` lives in slot
``i mod capacity``; vectorised buffers interleave ``n_envs`` environments) and kept only when it is still in the
buffer, of the same episode and exactly ``j`` episode steps earlier. Where it is not (the episode started less
than k-1 steps before, or its rows were overwritten), the window is padded by repeating its earliest pair that is
there, and ``ctx_valid`` says which entries are padding.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..embed.features import MAX_DIM, flatten_features

MAP_MODES = ("states", "state-actions", "windows")
MAX_WINDOW_K = 32
# Per drawn row, oldest pair first, k-1 entries each: what the engine embeds and the inspector lists.
CONTEXT_FIELDS = ("ctx_obs", "ctx_action", "ctx_reward", "ctx_step", "ctx_episode_step", "ctx_valid")
CONTEXT_READ = ("obs", "action", "reward", "step", "episode", "episode_step")


def check_map_mode(mode: object, k: object) -> tuple[str, int]:
    """``(mode, k)`` checked: a ValueError/TypeError names what is wrong."""
    if mode not in MAP_MODES:
        raise ValueError(f"map_mode must be one of {', '.join(map(repr, MAP_MODES))}, got {mode!r}")
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not float(k).is_integer():
        raise TypeError(f"window_k must be an integer, got {k!r}")
    n = int(float(k))
    if not 1 <= n <= MAX_WINDOW_K:
        raise ValueError(f"window_k must be in 1..{MAX_WINDOW_K} (pairs per window), got {k!r}")
    return str(mode), n


def describe(mode: str, k: int) -> str:
    """A short label for the status line."""
    if mode == "windows":
        return f"windows of {k} (state, action) pairs"
    return "(state, action) pairs" if mode == "state-actions" else "states"


# -- training thread: the earlier pairs of newly drawn rows ------------------------------------------------------
def context_slots(slots: np.ndarray, k: int, capacity: int, stride: int = 1) -> np.ndarray:
    """int64[n, k-1]: where the earlier pairs of ``slots`` would be, oldest first (column ``k-2`` is one step
    back)."""
    back = np.arange(k - 1, 0, -1, dtype=np.int64) * int(stride)
    return np.mod(np.asarray(slots, np.int64)[:, None] - back[None, :], int(capacity))


def read_context(read: Callable[[np.ndarray, tuple[str, ...]], dict[str, np.ndarray]], rows: dict[str, np.ndarray],
                 slots: np.ndarray, k: int, capacity: int, resident: int, stride: int = 1) -> dict[str, np.ndarray]:
    """The ``CONTEXT_FIELDS`` of the drawn rows ``rows`` (read from ``slots``): one buffer read of the k-1 earlier
    pairs of each (see the module doc). ``read(slots, fields)`` is the buffer's ``read``."""
    n = len(slots)
    if k <= 1 or n == 0:
        return {}
    cand = context_slots(slots, k, capacity, stride)
    inside = cand < resident  # a slot not written yet holds nothing
    want = np.unique(cand[inside])
    got = {name: np.asarray(v) for name, v in read(want, CONTEXT_READ).items()} if len(want) else {}
    pos = np.searchsorted(want, np.where(inside, cand, 0)) if len(want) else np.zeros_like(cand)
    pos = np.minimum(pos, max(len(want) - 1, 0))
    valid = inside.copy()
    if len(want):
        ep = got["episode"].reshape(len(want), -1)[:, 0][pos]
        est = got["episode_step"].reshape(len(want), -1)[:, 0][pos]
        own_ep = np.asarray(rows["episode"]).reshape(n, -1)[:, 0][:, None]
        own_st = np.asarray(rows["episode_step"]).reshape(n, -1)[:, 0][:, None]
        back = np.arange(k - 1, 0, -1, dtype=np.int64)[None, :]
        valid &= (ep == own_ep) & (est == own_st - back)
    # A window is contiguous: an entry counts only if every later one (closer to the row) does too.
    valid = np.flip(np.logical_and.accumulate(np.flip(valid, axis=1), axis=1), axis=1)
    # Padding repeats the earliest pair that is there: the first valid entry, or the drawn row itself.
    first = np.where(valid.any(axis=1), np.argmax(valid, axis=1), k - 1)
    cols = np.arange(k - 1)[None, :]
    src = np.where(valid, cols, first[:, None])  # column to copy from (k-1: the row itself)
    out: dict[str, np.ndarray] = {}
    own = {"obs": rows["obs"], "action": rows["action"], "reward": rows["reward"], "step": rows["step"],
           "episode_step": rows["episode_step"]}
    for name, field in (("obs", "ctx_obs"), ("action", "ctx_action"), ("reward", "ctx_reward"),
                        ("step", "ctx_step"), ("episode_step", "ctx_episode_step")):
        mine = np.asarray(own[name])
        if len(want):
            theirs = np.asarray(got[name])[pos]  # (n, k-1, ...)
            theirs = theirs.astype(np.result_type(theirs.dtype, mine.dtype), copy=False)
        else:
            theirs = np.zeros((n, k - 1, *mine.shape[1:]), mine.dtype)
        both = np.concatenate([theirs, mine[:, None]], axis=1)  # (n, k, ...): the row itself last
        out[field] = np.take_along_axis(both, src.reshape(n, k - 1, *([1] * (both.ndim - 2))), axis=1)
    out["ctx_valid"] = valid.astype(np.uint8)
    return out


# -- kernel thread: what a click on a window shows --------------------------------------------------------------
def window_info(mirror: Any, frame_state: Any, lane: int, k: int) -> dict:
    """The inspector's view of the window ending at ``lane``: its k pairs, oldest first (step, episode step, action,
    reward, padded), and ``points``, the drawn points of the same episode within its steps (what the view
    highlights). JSON-safe."""
    names = ("step", "episode", "episode_step", "action", "reward")
    f = mirror.fields
    if not all(n in f for n in names):
        return {"k": k, "points": [int(lane)], "steps": [], "message": "no episode bookkeeping in this buffer"}
    own = mirror.rows(np.array([lane]), names)
    km1 = k - 1
    have = km1 > 0 and "ctx_valid" in f and f["ctx_valid"].shape[1:] == (km1,)
    if have:
        ctx = mirror.rows(np.array([lane]), ("ctx_step", "ctx_episode_step", "ctx_action", "ctx_reward", "ctx_valid"))
        steps = [*ctx["ctx_step"][0].tolist(), own["step"][0].item()]
        ep_steps = [*ctx["ctx_episode_step"][0].tolist(), own["episode_step"][0].item()]
        actions = [*ctx["ctx_action"][0].tolist(), own["action"][0].tolist()]
        rewards = [*ctx["ctx_reward"][0].tolist(), own["reward"][0].item()]
        padded = [*(ctx["ctx_valid"][0] == 0).tolist(), False]
    else:  # no context read for this row (yet): the row alone, the rest padding
        steps = [own["step"][0].item()] * k
        ep_steps = [own["episode_step"][0].item()] * k
        actions = [own["action"][0].tolist()] * k
        rewards = [own["reward"][0].item()] * k
        padded = [True] * km1 + [False]
    episode = int(np.asarray(own["episode"]).reshape(-1)[0])
    real = [s for s, p in zip(steps, padded) if not p]
    lo, hi = min(real), max(real)
    ep_col, step_col = frame_state.column("episode"), frame_state.column("step")
    drawn = frame_state.present_mask() & (ep_col == episode) & (step_col >= lo) & (step_col <= hi)
    points = np.flatnonzero(drawn)
    if not drawn[lane]:
        points = np.union1d(points, [lane])
    return {"k": k, "episode": episode, "steps": [int(s) for s in steps], "episode_steps": [int(s) for s in ep_steps],
            "actions": [_json(a) for a in actions], "rewards": [float(r) for r in rewards], "padded": padded,
            "points": [int(p) for p in points]}


def _json(v: Any) -> Any:
    if isinstance(v, list):
        return [_json(x) for x in v[:16]]
    return v if isinstance(v, (int, bool)) else float(v)


# -- worker: the rows the projection embeds ----------------------------------------------------------------------
@dataclass
class ActionCode:
    """How actions become numbers next to a state, fixed when the projection is (re)built so that every row has
    the same width: ``width`` one-hot columns (discrete) or standardised values (continuous)."""

    discrete: bool
    width: int
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    clipped: int = 0  # discrete actions beyond ``width`` (put in the last column; the engine says so)

    @classmethod
    def fit(cls, actions: np.ndarray, n_actions: int | None = None) -> ActionCode:
        a = np.asarray(actions)
        flat = a.reshape(len(a), -1)
        one_col = flat.shape[1] == 1
        integral = a.dtype.kind in "biu" or (
            a.dtype.kind == "f" and one_col and len(a) > 0 and np.isfinite(flat).all()
            and bool((flat == np.round(flat)).all()) and flat.min() >= 0 and flat.max() < 4096)
        if one_col and integral:
            seen = int(flat.max()) + 1 if len(a) else 1
            width = int(n_actions) if n_actions else max(8, 1 << max(seen - 1, 1).bit_length())
            return cls(True, max(width, 1))
        x = flat.astype(np.float64) if len(a) else np.zeros((0, flat.shape[1]))
        mean = np.nanmean(x, axis=0) if len(x) else np.zeros(flat.shape[1])
        std = np.nanstd(x, axis=0) if len(x) else np.ones(flat.shape[1])
        return cls(False, flat.shape[1], np.nan_to_num(mean), np.where(np.nan_to_num(std) > 1e-8, std, 1.0))

    def encode(self, actions: np.ndarray) -> np.ndarray:
        """float32[n, width]: each row has norm ~1 (one-hot, or standardised / sqrt(width))."""
        flat = np.asarray(actions).reshape(len(actions), -1)
        if self.discrete:
            a = np.nan_to_num(flat[:, 0].astype(np.float64)).astype(np.int64)
            over = (a >= self.width) | (a < 0)
            self.clipped += int(over.sum())
            a = np.clip(a, 0, self.width - 1)
            out = np.zeros((len(a), self.width), np.float32)
            out[np.arange(len(a)), a] = 1.0
            return out
        assert self.mean is not None and self.std is not None
        if flat.shape[1] != self.width:
            raise ValueError(f"actions have {flat.shape[1]} values, the map's action code {self.width}")
        z = (flat.astype(np.float64) - self.mean) / self.std / np.sqrt(self.width)
        return np.nan_to_num(z).astype(np.float32)


def state_scale(state_rows: np.ndarray) -> float:
    """The median norm of state rows: what one (one-hot) action is scaled to."""
    if len(state_rows) == 0:
        return 1.0
    norms = np.linalg.norm(np.nan_to_num(np.asarray(state_rows, np.float64)), axis=1)
    c = float(np.median(norms))
    return c if c > 1e-8 else 1.0


def obs_dim(mode: str, k: int) -> int:
    """Values per flattened observation: a window of k keeps its rows about as wide as one state's."""
    return max(16, MAX_DIM // k) if mode == "windows" else MAX_DIM


def flat_states(obs: np.ndarray, mode: str, k: int) -> np.ndarray:
    return flatten_features(obs, obs_dim(mode, k))


def pair_rows(states: np.ndarray, actions: np.ndarray, code: ActionCode, scale: float) -> np.ndarray:
    """``[s, c · a]`` for each row."""
    return np.hstack([np.asarray(states, np.float32), scale * code.encode(actions)]).astype(np.float32)


def window_rows(states: np.ndarray, actions: np.ndarray, ctx_states: np.ndarray, ctx_actions: np.ndarray,
                code: ActionCode, scale: float) -> np.ndarray:
    """``[s₁, c·a₁, …, s_k, c·a_k]``: ``ctx_states`` (n, k-1, d) and ``ctx_actions`` (n, k-1, ...) the earlier
    pairs, oldest first; the row's own pair last."""
    n, km1 = ctx_states.shape[:2]
    parts = [pair_rows(ctx_states[:, j], np.asarray(ctx_actions)[:, j], code, scale) for j in range(km1)]
    parts.append(pair_rows(states, actions, code, scale))
    return np.hstack(parts).reshape(n, -1).astype(np.float32)


__all__ = ["CONTEXT_FIELDS", "MAP_MODES", "MAX_WINDOW_K", "ActionCode", "check_map_mode", "context_slots",
           "describe", "flat_states", "obs_dim", "pair_rows", "read_context", "state_scale", "window_info",
           "window_rows"]
