"""Proportional prioritized experience replay (Schaul et al. 2016) on a vectorised numpy sum-tree.

Priorities are ``p_i = (|δ_i| + ε)^α``; a slot is sampled with probability ``p_i / Σp`` and its importance
weight is ``(N · P(i))^-β / max_j w_j``. The tree is a flat array (leaves at ``[size, 2·size)``), so updating
and sampling a whole batch is a handful of numpy operations per tree level rather than a Python loop per item.

Priorities stay float64 in the buffer (1e300 is not inf). ``update_priorities`` refuses, with a ValueError naming the
slots, what would make sampling wrong: slots outside the buffer or not written yet, NaN/inf TD-errors, and
priorities so large that the sum over the whole buffer could overflow float64 (``p^α > 0.9e308 / capacity``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .replay_buffer import ReplayBuffer
from .replay_counts import check_factor, check_slots


class SumTree:
    """Sums over a fixed number of non-negative leaves; batch ``update`` and batch prefix-sum ``find``."""

    def __init__(self, capacity: int) -> None:
        if int(capacity) <= 0:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.capacity = int(capacity)
        self.size = 1 << max(0, (self.capacity - 1).bit_length())  # leaves, a power of two
        self.tree = np.zeros(2 * self.size, np.float64)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        return self.tree[np.asarray(idx, np.int64) + self.size]

    def update(self, idx: np.ndarray, values: np.ndarray) -> None:
        idx = np.asarray(idx, np.int64).ravel()
        values = np.asarray(values, np.float64).ravel()
        if len(idx) == 0:
            return
        if idx.min() < 0 or idx.max() >= self.capacity:
            out = idx[(idx < 0) | (idx >= self.capacity)]
            raise IndexError(f"sum-tree leaves {_few(out)} out of range [0, {self.capacity})")
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            raise ValueError(f"priorities must be finite and non-negative; got {_few(values[bad])} at "
                             f"leaves {_few(idx[bad])}")
        node = idx + self.size
        self.tree[node] = values  # duplicates: numpy keeps the last write
        node = np.unique(node // 2)
        while node[0] >= 1:
            self.tree[node] = self.tree[2 * node] + self.tree[2 * node + 1]
            if node[0] == 1:
                break
            node = np.unique(node // 2)

    def find(self, mass: np.ndarray) -> np.ndarray:
        """Leaf index whose cumulative range contains each value of ``mass`` (in ``[0, total)``)."""
        mass = np.asarray(mass, np.float64).copy()
        node = np.ones(len(mass), np.int64)
        while node[0] < self.size:  # all queries descend one level per iteration
            left = 2 * node
            go_right = mass >= self.tree[left]
            mass -= np.where(go_right, self.tree[left], 0.0)
            node = left + go_right
        return np.minimum(node - self.size, self.capacity - 1)


class PrioritizedReplayBuffer(ReplayBuffer):
    """``ReplayBuffer`` with proportional prioritized sampling.

    New transitions get the largest priority seen so far (so each is replayed at least once soon).
    ``sample(batch)`` returns the rows plus ``indices`` and importance ``weights``; after the learning step call
    ``update_priorities(indices, td_errors)``. The hook streams ``priority`` (the sampling weight ``p^α``) and
    re-reads only the slots whose priority changed (:meth:`take_changes`).
    """

    optional_fields = ("priority",)

    def __init__(self, capacity: int, *, alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6,
                 seed: int | None = None) -> None:
        super().__init__(capacity, seed=seed)
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
                   for v in (alpha, beta, eps)):  # a NaN alpha would make every priority NaN
            raise ValueError(f"alpha, beta and eps must be finite numbers; got alpha={alpha!r}, beta={beta!r}, "
                             f"eps={eps!r}")
        if alpha < 0 or beta < 0 or eps <= 0:
            raise ValueError(f"need alpha >= 0, beta >= 0, eps > 0; got alpha={alpha}, beta={beta}, eps={eps}")
        self.alpha, self.beta, self.eps = float(alpha), float(beta), float(eps)
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0  # in |δ| + ε units, before the α power
        self._reprioritised: list[np.ndarray] = []
        self._taken = 0

    def add(self, obs: ArrayLike, action: ArrayLike, reward: float, next_obs: ArrayLike, terminated: bool,
            truncated: bool = False) -> int:
        slot = super().add(obs, action, reward, next_obs, terminated, truncated)
        self.tree.tree[slot + self.tree.size] = self.max_priority ** self.alpha
        # Propagate one leaf up: a scalar loop of log2(capacity) steps is cheaper than the batch path here.
        node = (slot + self.tree.size) // 2
        t = self.tree.tree
        while node >= 1:
            t[node] = t[2 * node] + t[2 * node + 1]
            node //= 2
        return slot

    def sample(self, batch_size: int, beta: float | None = None) -> dict[str, np.ndarray]:
        n = len(self)
        if n == 0:
            raise ValueError("cannot sample from an empty buffer")
        total = self.tree.total
        # Stratified: one uniform draw per equal-mass segment (lower variance than i.i.d. draws).
        bounds = np.arange(batch_size, dtype=np.float64) * (total / batch_size)
        mass = bounds + self._rng.random(batch_size) * (total / batch_size)
        idx = self.tree.find(np.minimum(mass, np.nextafter(total, 0)))
        idx = np.minimum(idx, n - 1)
        out = self.read(idx, ("obs", "next_obs", "action", "reward", "terminated"))
        p = self.tree[idx] / total
        b = self.beta if beta is None else float(beta)
        w = (n * p) ** (-b)
        out["indices"] = idx
        out["weights"] = (w / w.max()).astype(np.float32)
        self.replay_counts.sampled(idx)
        return out

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set the priorities of written slots from TD-errors: ``p = |δ| + ε`` (signed δ is fine).
        Raises ValueError, changing nothing, for slots not written yet, non-finite δ or overflowing ``p^α``."""
        raw = np.asarray(indices)
        if raw.size and raw.dtype.kind not in "iu":
            raise ValueError(f"indices must be integer slot ids, got dtype {raw.dtype}: {_few(raw.ravel())}")
        indices = raw.astype(np.int64).ravel()
        td = np.abs(np.asarray(td_errors, np.float64).ravel())
        if indices.shape != td.shape:
            raise ValueError(f"indices {indices.shape} and td_errors {td.shape} must have the same length")
        n = len(self)
        bad = (indices < 0) | (indices >= n)
        if bad.any():
            written = f"slots 0..{n - 1} of {self.capacity} are written" if n else "the buffer is empty"
            raise ValueError(f"slots {_few(indices[bad])} hold no transition ({written}); pass the indices sample() "
                             "returned; priorities left unchanged")
        bad = ~np.isfinite(td)
        if bad.any():
            raise ValueError(f"td_errors contain NaN or inf at slots {_few(indices[bad])}; priorities left unchanged")
        p = td + self.eps
        with np.errstate(over="ignore"):
            w = p ** self.alpha
        # New rows get the largest priority: even a buffer full of it must sum to a finite total (with a margin).
        limit = np.finfo(np.float64).max / (2 * self.capacity)
        bad = ~(w <= limit)
        if bad.any():
            raise ValueError(f"priorities too large at slots {_few(indices[bad])} (|td_error| {_few(td[bad])}): "
                             f"(|δ| + ε)^α must stay <= {limit:.3g} so the sum over all {self.capacity} slots "
                             "stays finite in float64; priorities left unchanged")
        self.max_priority = max(self.max_priority, float(p.max())) if len(p) else self.max_priority
        self.tree.update(indices, w)
        self._reprioritised.append(indices)

    def scale_priorities(self, slots: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
        """Multiply the sampling weights ``p^α`` of written ``slots`` by ``factor`` (so their chance of being
        sampled scales by it); returns (old, new) weights. Not thread-safe against a concurrent ``sample``: use
        ``TrainingHook.reprioritize``, which applies it on the training thread."""
        slots = check_slots(slots, len(self), self.capacity)
        factor = check_factor(factor)
        old = self.tree[slots].copy()
        new = old * factor
        limit = np.finfo(np.float64).max / (2 * self.capacity)
        if not (new <= limit).all():
            raise ValueError(f"factor {factor:g} makes priorities overflow at slots {_few(slots[~(new <= limit)])} "
                             f"(weights must stay <= {limit:.3g}); priorities left unchanged")
        # max_priority (what new rows get) stays the largest TD-error priority: a nudge does not raise new rows.
        self.tree.update(slots, new)
        self._reprioritised.append(slots)
        return old, new

    def priorities(self, slots: np.ndarray) -> np.ndarray:
        """Sampling weights ``p^α`` of ``slots``, float64 (float32 would turn weights above 3.4e38 into inf)."""
        return self.tree[slots].copy()

    def read(self, slots: np.ndarray, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        names = list(fields) if fields is not None else None
        want_p = names is not None and "priority" in names
        if names is not None and want_p:
            names.remove("priority")
        out = super().read(slots, names)
        if want_p and out is not None and self._data:
            out["priority"] = self.priorities(np.asarray(slots, np.int64))
        return out

    def take_changes(self) -> tuple[np.ndarray, np.ndarray]:
        """(new slots in insertion order, re-prioritised slots) since the last call; cost ∝ what changed."""
        total = self.total_inserted
        k = min(total - self._taken, self.capacity)
        written = np.arange(total - k, total, dtype=np.int64) % self.capacity
        self._taken = total
        if self._reprioritised:
            rep = np.unique(np.concatenate(self._reprioritised))
            self._reprioritised = []
        else:
            rep = np.zeros(0, np.int64)
        return written, rep


def _few(values: np.ndarray, k: int = 5) -> str:
    """The first ``k`` values for an error message."""
    v = np.asarray(values).ravel()
    text = ", ".join(f"{x:.6g}" if isinstance(x, float) else str(x) for x in v[:k].tolist())
    return f"[{text}{', …' if len(v) > k else ''}]"
