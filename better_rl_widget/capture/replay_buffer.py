"""A reference numpy ring replay buffer for vector and image observations.

Besides the transition it records, per slot, the insertion index (``step``), the episode id and the step
within the episode, which is what the live map colours by. Storage is allocated on the first ``add`` from the
observation's shape and dtype (uint8 frames stay uint8).

``add`` never changes a value silently: a row that cannot be stored exactly in that dtype (NaN or a fraction into
integer observations, a value out of the dtype's range, a non-finite reward) raises ``ValueError`` naming the
field, the value and the dtype, and nothing of the row is written. Float rounding (float64 into float32) is not
a loss in that sense; NaN/inf observations in a float buffer are stored as given (the live map skips and counts
them).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .replay_counts import ReplayCounter

NUMERIC = "biuf"  # bool, int, uint, float: what the storage arrays hold
FIELDS = ("obs", "next_obs", "action", "reward", "terminated", "truncated", "step", "episode", "episode_step")


class ReplayBuffer:
    """Uniform ring buffer. Insertion ``i`` goes to slot ``i % capacity``; ``total_inserted`` counts all.

    ``replay_counts`` counts how often ``sample`` returned each slot (reset when the slot is overwritten); the
    live map shows it as the ``replays`` and ``staleness`` channels."""

    def __init__(self, capacity: int, *, seed: int | None = None) -> None:
        # Not int(capacity) alone: it turns 2.5 into 2 without a word and NaN into an error that names no argument.
        if isinstance(capacity, bool) or not isinstance(capacity, numbers.Real) or not math.isfinite(capacity) \
                or capacity != int(capacity) or capacity <= 0:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.capacity: int = int(capacity)
        self.total_inserted: int = 0
        self._rng: np.random.Generator = np.random.default_rng(seed)
        self._data: dict[str, np.ndarray] = {}
        self._episode: int = 0
        self._episode_step: int = 0
        self.replay_counts: ReplayCounter = ReplayCounter(self.capacity)

    def __len__(self) -> int:
        return min(self.total_inserted, self.capacity)

    @property
    def obs_shape(self) -> tuple[int, ...] | None:
        return self._data["obs"].shape[1:] if self._data else None

    @property
    def evictions(self) -> int:
        return max(0, self.total_inserted - self.capacity)

    def _allocate(self, obs: np.ndarray, action: np.ndarray) -> None:
        c = self.capacity
        self._data = {
            "obs": np.zeros((c, *obs.shape), obs.dtype),
            "next_obs": np.zeros((c, *obs.shape), obs.dtype),
            "action": np.zeros((c, *action.shape), action.dtype if action.dtype.kind in "iuf" else np.float32),
            "reward": np.zeros(c, np.float32),
            "terminated": np.zeros(c, bool),
            "truncated": np.zeros(c, bool),
            "step": np.zeros(c, np.int64),
            "episode": np.zeros(c, np.int64),
            "episode_step": np.zeros(c, np.int64),
        }

    def add(self, obs: ArrayLike, action: ArrayLike, reward: float, next_obs: ArrayLike, terminated: bool,
            truncated: bool = False) -> int:
        """Store one transition; returns its slot. Episode ids advance after a terminated/truncated step.

        Raises ValueError (and stores nothing) for a row that cannot be stored exactly: see the module doc."""
        obs = _array("obs", obs)
        next_obs = _array("next_obs", next_obs)
        action = _array("action", action)
        for name, value in (("obs", obs), ("next_obs", next_obs), ("action", action)):
            if value.dtype.kind not in NUMERIC:
                raise ValueError(f"{name} has dtype {value.dtype} ({_preview(value)}): the buffer stores numbers "
                                 f"(bool, int or float arrays); convert it, e.g. np.asarray({name}, np.float32)")
        if self._data:
            obs_spec = (self._data["obs"].shape[1:], self._data["obs"].dtype)
            act_spec = (self._data["action"].shape[1:], self._data["action"].dtype)
        else:
            obs_spec = (obs.shape, obs.dtype)
            act_spec = (action.shape, action.dtype if action.dtype.kind in "iuf" else np.dtype(np.float32))
        for name, value in (("obs", obs), ("next_obs", next_obs)):
            if value.shape != obs_spec[0]:
                raise ValueError(f"{name} has shape {value.shape}, but this buffer stores observations of shape "
                                 f"{obs_spec[0]} (set by the first transition)")
            check_storable(name, value, obs_spec[1])
        if action.shape != act_spec[0]:
            if action.size != math.prod(act_spec[0]):
                raise ValueError(f"action has shape {action.shape}, but this buffer stores actions of shape "
                                 f"{act_spec[0]} (set by the first transition)")
            action = action.reshape(act_spec[0])  # same values, another nesting: (1,) for ()
        check_storable("action", action, act_spec[1])
        r = checked_reward(reward)
        if not self._data:
            self._allocate(obs, action)
        slot = self.total_inserted % self.capacity
        d = self._data
        d["obs"][slot] = obs
        d["next_obs"][slot] = next_obs
        d["action"][slot] = action
        d["reward"][slot] = r
        d["terminated"][slot] = terminated
        d["truncated"][slot] = truncated
        d["step"][slot] = self.total_inserted
        d["episode"][slot] = self._episode
        d["episode_step"][slot] = self._episode_step
        self.replay_counts.written(slot)
        self.total_inserted += 1
        if terminated or truncated:
            self._episode += 1
            self._episode_step = 0
        else:
            self._episode_step += 1
        return slot

    def read(self, slots: np.ndarray, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Copies of the given slots' fields (fancy indexing copies, so the caller owns the result)."""
        if not self._data:
            return {}
        slots = np.asarray(slots, np.int64)
        names = fields if fields is not None else FIELDS
        return {k: self._data[k][slots] for k in names}

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        n = len(self)
        if n == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = self._rng.integers(0, n, size=batch_size)
        out = self.read(idx, ("obs", "next_obs", "action", "reward", "terminated"))
        out["indices"] = idx
        self.replay_counts.sampled(idx)
        return out


def check_storable(name: str, value: np.ndarray, dtype: np.dtype) -> None:
    """Raise ValueError unless ``value`` survives a cast to ``dtype``: exactly for integer/bool storage, without
    overflow for float storage (rounding to the float's precision is expected)."""
    dtype = np.dtype(dtype)
    if value.dtype == dtype:
        return
    with np.errstate(invalid="ignore", over="ignore"):
        cast = value.astype(dtype)
        bad = (np.isinf(cast) & np.isfinite(value)) if dtype.kind == "f" else (cast != value)
    if not bad.any():
        return
    i = int(np.flatnonzero(bad.ravel())[0])
    v = value.ravel()[i].item()
    where = f"{name}[{', '.join(str(int(j)) for j in np.unravel_index(i, value.shape))}]" if value.ndim else name
    what = "actions" if name == "action" else "observations"
    if dtype.kind == "f":
        why = f"beyond {dtype}'s range ±{np.finfo(dtype).max:.3g}: it would become inf"
        fix = "store float64 from the first transition, or rescale"
    else:
        if isinstance(v, float) and not math.isfinite(v):
            why = "not finite: an integer array cannot hold NaN or inf"
        elif isinstance(v, float) and not v.is_integer():
            why = "it has a fractional part"
        elif dtype.kind == "b":
            why = "a bool array holds only 0 and 1"
        else:
            info = np.iinfo(dtype)
            why = f"outside {dtype}'s range [{info.min}, {info.max}]"
        fix = f"pass {what} as float from the first transition (e.g. np.asarray({name}, np.float32))"
    raise ValueError(f"{where} = {v!r} cannot be stored in this buffer's {dtype} {what} ({why}; the dtype was "
                     f"set by the first transition); nothing of this row was stored. Fix: {fix}")


def checked_reward(reward: ArrayLike) -> float:
    """The reward as a float that float32 storage keeps finite; ValueError otherwise."""
    r = np.asarray(reward)
    if r.size != 1 or r.dtype.kind not in NUMERIC:
        raise ValueError(f"reward must be one number, got {_preview(r)}")
    x = float(r.reshape(()))
    with np.errstate(over="ignore"):
        stored = np.float32(x)
    if not math.isfinite(x) or not np.isfinite(stored):
        raise ValueError(f"reward = {x!r} cannot be stored: rewards are float32 and must be finite with |reward| "
                         f"<= {np.finfo(np.float32).max:.3g} (a NaN or inf reward usually comes from a diverged "
                         "environment or reward wrapper); nothing of this row was stored")
    return x


def _array(name: str, value: ArrayLike) -> np.ndarray:
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nesting: numpy's message does not say which argument
        raise ValueError(f"{name} is not an array of one shape (ragged nesting?): {exc}; the buffer stores numeric "
                         f"arrays, e.g. np.asarray({name}, np.float32); nothing of this row was stored") from exc


def _preview(value: np.ndarray) -> str:
    text = np.array2string(np.asarray(value).ravel()[:4], threshold=4)
    return text if len(text) <= 80 else text[:77] + "..."
