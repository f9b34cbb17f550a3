"""Which buffer slots the map draws: at most ``max_points`` of a buffer of any capacity.

The map holds *lanes* (0 … max_points-1); each lane shows one buffer slot at a time. Everything after the hook
(the mirror, the engine, the projection, the frame state) works in lanes, so its memory and CPU are bounded by
what is drawn. When the buffer has no more slots than ``max_points`` a lane *is* its slot (nothing is sampled).

Membership by insertion age. Insertion ``n`` gets the key ``frac(n·φ + offset)`` (φ the golden ratio: a Weyl
sequence) and is drawn while its key is below ``θ = (max_points − margin) / rows in the buffer``. The keys of any
run of consecutive insertions are spread almost perfectly evenly over [0, 1) (three-gap theorem), so the drawn
rows are an evenly spaced sample of the buffer by age — early and recent experience alike — and the count stays
within a few rows of ``θ·rows``. Once the buffer is full θ is fixed: a drawn row stays until the buffer overwrites
its slot (no flicker), and the sample turns over with the buffer. While the buffer fills past ``max_points``, θ
falls; lanes whose key is now above it are released a fiftieth at a time (``thin``), which keeps the sample
even instead of freezing the oldest rows on the map.

``by="priority"``: a row's threshold is scaled by its priority relative to the mean priority seen
(``θ·p/p̄``, capped at 1), re-tested when its priority changes; rows whose priority rises enter the map, rows
whose priority falls leave it. The lanes stay bounded; a row that would need a lane while none is free is
counted (``overflow``) and not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PHI = (np.sqrt(5.0) - 1.0) / 2.0
SAMPLE_BY = ("age", "priority")


def weyl_keys(n: np.ndarray, offset: float) -> np.ndarray:
    """Keys in [0, 1) of insertion numbers ``n``: evenly spread over any run of consecutive ``n``."""
    n = np.asarray(n, np.float64)
    return np.mod(n * PHI + offset, 1.0)


@dataclass
class Admitted:
    """What one batch of writes did to the map's lanes."""

    slots: np.ndarray  # buffer slots whose new rows are drawn (read them)
    lanes: np.ndarray  # their lanes, aligned with ``slots``
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # lanes no longer drawn


class MapSample:
    """The map's lanes for a buffer of ``capacity`` slots (see the module doc). Used on the training thread only;
    ``slot_of`` is safe to read from other threads (a lane's slot is replaced in one store)."""

    def __init__(self, capacity: int, max_points: int, *, by: str = "age", seed: int = 0) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        if int(max_points) < 1:
            raise ValueError(f"max_points must be >= 1, got {max_points}")
        if by not in SAMPLE_BY:
            raise ValueError(f"sample must be one of {SAMPLE_BY}, got {by!r}")
        self.capacity = int(capacity)
        self.lanes = min(int(max_points), self.capacity)
        self.identity = self.capacity <= int(max_points)
        self.by = by
        self.offset = float(np.random.default_rng(seed).random())
        self.lane_slot = np.arange(self.lanes, dtype=np.int64) if self.identity else np.full(self.lanes, -1, np.int64)
        # 4 bytes per buffer slot: the one array sized by the buffer (a 1M-slot buffer: 4 MB).
        self._slot_lane = None if self.identity else np.full(self.capacity, -1, np.int32)
        self._lane_key = np.ones(self.lanes, np.float64)  # the key a lane's row was admitted with
        self._lane_weight = np.ones(self.lanes, np.float64)  # its priority weight (1 when by="age")
        self._free = list(range(self.lanes - 1, -1, -1)) if not self.identity else []
        self.written = 0  # writes seen (the insertion number of the next write)
        self.margin = 0 if self.identity else max(8, int(0.03 * self.lanes))
        self.theta = 1.0
        self._thinned_at = 1.0
        self.overflow = 0  # rows that should have been drawn but found no free lane
        self._p_sum = 0.0
        self._p_n = 0

    # -- queries ---------------------------------------------------------------------------------------------
    @property
    def drawn(self) -> int:
        return self.lanes - len(self._free) if not self.identity else self.lanes

    def slot_of(self, lanes: np.ndarray) -> np.ndarray:
        """Buffer slots of ``lanes`` (-1 for a lane that holds nothing)."""
        lanes = np.asarray(lanes, np.int64)
        ok = (lanes >= 0) & (lanes < self.lanes)
        out = np.full(len(lanes), -1, np.int64)
        out[ok] = self.lane_slot[lanes[ok]]
        return out

    def lane_of(self, slots: np.ndarray) -> np.ndarray:
        """Lanes of buffer ``slots`` (-1 for a slot that is not drawn)."""
        slots = np.asarray(slots, np.int64)
        ok = (slots >= 0) & (slots < self.capacity)
        out = np.full(len(slots), -1, np.int64)
        if self.identity:
            out[ok] = slots[ok]
        else:
            assert self._slot_lane is not None
            out[ok] = self._slot_lane[slots[ok]]
        return out

    def describe(self, resident: int) -> dict:
        return {"points": int(self.drawn), "max_points": int(self.lanes), "capacity": int(self.capacity),
                "resident": int(resident), "sampled_by": "all" if self.identity else self.by,
                "overflow": int(self.overflow)}

    # -- writes (training thread) ----------------------------------------------------------------------------
    def admit(self, slots: np.ndarray, resident: int, priority: np.ndarray | None = None) -> Admitted:
        """``slots`` were (over)written, oldest first; ``resident``: rows in the buffer after them.
        ``priority``: their priorities (``by="priority"``)."""
        slots = np.asarray(slots, np.int64)
        k = len(slots)
        n = self.written + np.arange(k)
        self.written += k
        if self.identity:
            return Admitted(slots, slots.copy())
        assert self._slot_lane is not None
        # Everything while it fits; then a share that leaves a small margin for the keys' uneven counts.
        self.theta = 1.0 if resident <= self.lanes else (self.lanes - self.margin) / int(resident)
        keys = weyl_keys(n, self.offset)
        weight = self._weights(priority, k)
        member = keys < self.theta * weight
        # A slot written twice in one batch: its last write decides.
        if k > 1:
            _, first_rev = np.unique(slots[::-1], return_index=True)
            last = np.zeros(k, bool)
            last[k - 1 - first_rev] = True
        else:
            last = np.ones(k, bool)
        removed: list[int] = self._thin()  # first: the lanes it frees can take this batch's rows
        out_slots: list[int] = []
        out_lanes: list[int] = []
        old = self._slot_lane[slots]
        for i in np.flatnonzero(last & (member | (old >= 0))):  # only rows that touch a lane cost Python time
            s, lane = int(slots[i]), int(old[i])
            if member[i]:
                if lane < 0:
                    lane = self._take_lane(s)
                    if lane < 0:
                        continue
                self._lane_key[lane] = keys[i]
                self._lane_weight[lane] = weight[i]
                out_slots.append(s)
                out_lanes.append(lane)
            elif lane >= 0:
                self._release(lane)
                removed.append(lane)
        return Admitted(np.asarray(out_slots, np.int64), np.asarray(out_lanes, np.int64),
                        _unique_not_in(np.asarray(removed, np.int64), np.asarray(out_lanes, np.int64)))

    def reconsider(self, slots: np.ndarray, priority: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``by="priority"``: the priorities of resident ``slots`` changed. Returns (slots that now enter the map
        — read their rows and pass them to :meth:`enter` — , lanes that leave it)."""
        if self.identity or self.by != "priority":
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        assert self._slot_lane is not None
        slots = np.asarray(slots, np.int64)
        weight = self._weights(priority, len(slots), learn=False)
        lanes = self._slot_lane[slots]
        drawn = lanes >= 0
        # A drawn slot's key is the one it was admitted with; an undrawn one gets a key from its slot number.
        keys = np.where(drawn, self._lane_key[np.maximum(lanes, 0)], weyl_keys(slots, self.offset))
        member = keys < self.theta * weight
        leave = lanes[drawn & ~member]
        for lane in leave.tolist():
            self._release(lane)
        if drawn.any():
            self._lane_weight[lanes[drawn & member]] = weight[drawn & member]
        return slots[~drawn & member], leave

    def enter(self, slots: np.ndarray) -> Admitted:
        """Give lanes to resident ``slots`` chosen by :meth:`reconsider` (as many as are free)."""
        assert self._slot_lane is not None
        out_s, out_l = [], []
        for s in np.asarray(slots, np.int64).tolist():
            if self._slot_lane[s] >= 0:
                continue
            lane = self._take_lane(s)
            if lane < 0:
                continue
            self._lane_key[lane] = weyl_keys(np.array([s]), self.offset)[0]
            out_s.append(s)
            out_l.append(lane)
        return Admitted(np.asarray(out_s, np.int64), np.asarray(out_l, np.int64))

    # -- internals -------------------------------------------------------------------------------------------
    def _weights(self, priority: np.ndarray | None, k: int, learn: bool = True) -> np.ndarray:
        if self.by != "priority" or priority is None:
            return np.ones(k)
        p = np.asarray(priority, np.float64).reshape(k, -1)[:, 0]
        ok = np.isfinite(p) & (p >= 0)
        if learn and ok.any():
            self._p_sum += float(p[ok].sum())
            self._p_n += int(ok.sum())
        mean = self._p_sum / self._p_n if self._p_n else 1.0
        w = np.where(ok, p / mean if mean > 0 else 1.0, 0.0)
        return np.minimum(w, 1.0 / max(self.theta, 1e-12))

    def _take_lane(self, slot: int) -> int:
        """A free lane for ``slot`` (-1 and counted in ``overflow`` when none is free)."""
        assert self._slot_lane is not None
        if not self._free:
            self.overflow += 1
            return -1
        lane = self._free.pop()
        self._slot_lane[slot] = lane
        self.lane_slot[lane] = slot
        return lane

    def _release(self, lane: int) -> None:
        assert self._slot_lane is not None
        s = int(self.lane_slot[lane])
        if s >= 0 and self._slot_lane[s] == lane:
            self._slot_lane[s] = -1
        self.lane_slot[lane] = -1
        self._lane_key[lane] = 1.0
        self._free.append(lane)

    def _thin(self) -> list[int]:
        """While the buffer fills, release lanes whose key is above the fallen θ, about 2 % of them at a time
        (the margin of 3 % keeps room for new rows meanwhile)."""
        if self.theta > 0.98 * self._thinned_at:
            return []
        self._thinned_at = self.theta
        held = self.lane_slot >= 0
        out = np.flatnonzero(held & (self._lane_key >= self.theta * self._lane_weight))
        for lane in out.tolist():
            self._release(lane)
        return out.tolist()


def _unique_not_in(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.unique(a)
    return a[~np.isin(a, b)] if len(b) else a
