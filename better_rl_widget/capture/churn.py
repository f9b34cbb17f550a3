"""Policy churn: how the policy changed on the drawn states between an older network snapshot and the current one.

Per drawn state, two channels (frames/frame_state.py):

- ``flipped`` (0/1): the greedy action ``argmax_a Q(s, a)`` of the current snapshot differs from the older one's
  (discrete actions only; an actor-critic estimator gives none);
- ``dq``: ``V_now(s) − V_then(s)``, with ``V = max_a Q(s, a)`` for a Q-network and the estimator's ``V(s)`` for an
  actor-critic (``capture/critic_estimator.py``). Positive: the network values the state more than it did.

And a trace over training: (hook step, fraction of drawn states whose greedy action flipped, median ``|dq|``), one
point per completed pass, at most :data:`TRACE_LEN` points (the oldest are thinned out, not dropped).

Where the snapshots come from: the estimator refreshes its own CPU copy of the network every ``snapshot_every_s``
(``capture/estimator.py``); each refresh is offered to a :class:`SnapshotQueue` that keeps a copy of the weights
every ``lag / KEEP``, so the reference ("then") is the newest kept copy at least ``lag`` old: between ``lag`` and
``lag · (1 + 1/KEEP)`` hook steps (or seconds) before the current one, and at most ``KEEP + 1`` copies are held.

Cost (all in the engine, off the training thread, on the drawn rows only): one forward pass of the current
snapshot over the drawn rows per snapshot change, plus one of the reference network when the reference moves (every
``lag / KEEP``) or for rows new to the map; both bounded per frame by ``td_budget_s`` like the TD-error sweep.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

KEEP = 4  # reference copies kept per lag (the lag's resolution is lag / KEEP)
TRACE_LEN = 240  # trace points kept; beyond, every other old point is dropped (the trace spans all training)
BATCH = 1024


class ChurnSource(Protocol):
    """What an estimator offers for churn (TDEstimator, CriticEstimator)."""

    snapshots: int  # bumped at every refresh of its snapshot

    def churn_state(self) -> Any:
        """A copy of the current snapshot's weights (None when there is no snapshot)."""

    def churn_eval(self, obs: np.ndarray, state: Any = None) -> tuple[np.ndarray | None, np.ndarray]:
        """(greedy action int64[n] or None, value float32[n]) of ``obs`` under the current snapshot, or under
        ``state`` (a copy from :meth:`churn_state`)."""


@dataclass
class Kept:
    clock: float  # hook step, or monotonic seconds with a lag in seconds
    step: int  # hook step when it was taken
    state: Any


class SnapshotQueue:
    """Copies of past snapshots, spaced ``lag / keep`` apart; :meth:`reference` gives the one ``lag`` old."""

    def __init__(self, lag: float, keep: int = KEEP) -> None:
        if not lag > 0:
            raise ValueError(f"lag must be positive, got {lag}")
        self.lag = float(lag)
        self.spacing = self.lag / keep
        self.kept: deque[Kept] = deque()

    def offer(self, clock: float, step: int, take: Callable[[], Any]) -> bool:
        """Keep a copy (``take()``) when the newest kept one is at least ``lag / keep`` older; True when kept."""
        if self.kept and clock - self.kept[-1].clock < self.spacing:
            return False
        state = take()
        if state is None:
            return False
        self.kept.append(Kept(float(clock), int(step), state))
        return True

    def reference(self, clock: float) -> Kept | None:
        """The newest copy at least ``lag`` older than ``clock`` (None: none yet); older ones are released."""
        old = [k for k in self.kept if clock - k.clock >= self.lag]
        if not old:
            return None
        while self.kept[0] is not old[-1]:
            self.kept.popleft()
        return old[-1]


def churn_values(greedy_now: np.ndarray | None, v_now: np.ndarray, greedy_then: np.ndarray | None,
                 v_then: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(flipped float32 0/1 or None, dq float32); NaN where either value is not finite (a diverged network)."""
    v_now, v_then = np.asarray(v_now, np.float32), np.asarray(v_then, np.float32)
    ok = np.isfinite(v_now) & np.isfinite(v_then)
    dq = np.where(ok, v_now - v_then, np.float32(np.nan)).astype(np.float32)
    if greedy_now is None or greedy_then is None:
        return None, dq
    flipped = np.where(ok, (np.asarray(greedy_now) != np.asarray(greedy_then)).astype(np.float32),
                       np.float32(np.nan)).astype(np.float32)
    return flipped, dq


def summarize(flipped: np.ndarray | None, dq: np.ndarray) -> tuple[float | None, float | None]:
    """(fraction flipped, median |dq|) over the finite values; None where there are none."""
    f = None if flipped is None else flipped[np.isfinite(flipped)]
    d = np.abs(dq[np.isfinite(dq)])
    return (float(f.mean()) if f is not None and len(f) else None, float(np.median(d)) if len(d) else None)


@dataclass
class ChurnUpdate:
    """A frame's churn output: per-lane channel values, and the trace point when a pass completed."""

    slots: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    point: tuple[int, int, float | None, float | None, int] | None = None  # (step, then_step, frac, med|dq|, n)
    error: str = ""


@dataclass
class _Pass:
    lanes: np.ndarray
    step: int
    then: Kept
    cursor: int = 0
    flipped: list[np.ndarray] = field(default_factory=list)
    dq: list[np.ndarray] = field(default_factory=list)


class ChurnTracker:
    """The engine's churn bookkeeping for a map of ``capacity`` lanes: reference snapshots, the older network's
    cached outputs per lane, and passes over the drawn rows (one per snapshot change, spread over frames)."""

    def __init__(self, capacity: int, lag_steps: int = 5000, lag_s: float | None = None) -> None:
        self.by_time = lag_s is not None
        self.lag_label = f"{lag_s:g} s" if lag_s is not None else f"{lag_steps} steps"
        self.queue = SnapshotQueue(float(lag_s) if lag_s is not None else float(lag_steps))
        self.snapshots_seen = -1
        self.off = ""  # why churn stopped (a forward that raised)
        self._due: tuple[float, int] | None = None  # (clock, step) of a snapshot not compared yet
        self._pass: _Pass | None = None
        self._then_greedy = np.zeros(capacity, np.int64)
        self._then_value = np.full(capacity, np.nan, np.float32)
        self._then_ok = np.zeros(capacity, bool)
        self._then_has_greedy = True
        self._then_ref: Kept | None = None
        self._rows_per_s = 5_000.0

    @classmethod
    def from_options(cls, capacity: int, options: Any) -> ChurnTracker | None:
        """None when churn is off (``churn_lag_steps=0`` and no ``churn_lag_s``)."""
        lag_s = options.churn_lag_s
        if lag_s is None and options.churn_lag_steps <= 0:
            return None
        return cls(capacity, options.churn_lag_steps, lag_s)

    def invalidate(self, lanes: np.ndarray) -> None:
        """New rows in ``lanes``: the cached older-network outputs belonged to the rows before them."""
        self._then_ok[lanes] = False

    def on_snapshot(self, source: ChurnSource, step: int) -> None:
        """Called every frame; acts when ``source`` refreshed its snapshot since the last call."""
        if self.off or source.snapshots == self.snapshots_seen:
            return
        self.snapshots_seen = source.snapshots
        if step < 0 and not self.by_time:
            return  # no hook step known (an engine driven directly): no clock for a lag in steps
        clock = time.monotonic() if self.by_time else float(step)
        self.queue.offer(clock, step, source.churn_state)
        self._due = (clock, max(step, 0))

    def work(self, source: ChurnSource, present: np.ndarray, obs_of: Callable[[np.ndarray], np.ndarray],
             budget_s: float, force: bool = False) -> ChurnUpdate:
        """Advance the current pass within ``budget_s`` (all of it with ``force``); start one when due."""
        out = ChurnUpdate()
        if self.off:
            return out
        if self._pass is None and self._due is not None:
            clock, step = self._due
            then = self.queue.reference(clock)
            if then is not None:
                self._due = None
                if then is not self._then_ref:  # the reference moved: its outputs are recomputed as needed
                    self._then_ref, self._then_ok[:] = then, False
                self._pass = _Pass(np.asarray(present, np.int64), step, then)
        p = self._pass
        if p is None:
            return out
        t0 = time.perf_counter()
        slots: list[np.ndarray] = []
        flips: list[np.ndarray] = []
        dqs: list[np.ndarray] = []
        try:
            while p.cursor < len(p.lanes) and (force or not slots or time.perf_counter() - t0 < budget_s):
                size = BATCH if force else int(min(BATCH, max(64, self._rows_per_s * budget_s)))
                lanes = p.lanes[p.cursor:p.cursor + size]
                p.cursor += len(lanes)
                lanes = lanes[np.isin(lanes, present)]  # rows that left since the pass began
                if len(lanes) == 0:
                    continue
                c0 = time.thread_time()
                flipped, dq = self._compare(source, lanes, obs_of(lanes), p.then)
                spent = max(time.thread_time() - c0, 1e-4)
                self._rows_per_s = 0.5 * self._rows_per_s + 0.5 * len(lanes) / spent
                slots.append(lanes)
                dqs.append(dq)
                if flipped is not None:
                    flips.append(flipped)
        except Exception as exc:  # noqa: BLE001 - switches churn off, visibly; training and the map go on
            self.off = out.error = f"policy churn off: {type(exc).__name__}: {exc}"
            self._pass = None
            return out
        if slots:
            out.slots = np.concatenate(slots)
            out.fields["dq"] = np.concatenate(dqs)
            p.dq.append(out.fields["dq"])
            if flips:
                out.fields["flipped"] = np.concatenate(flips)
                p.flipped.append(out.fields["flipped"])
        if p.cursor >= len(p.lanes):
            self._pass = None
            dq_all = np.concatenate(p.dq) if p.dq else np.zeros(0, np.float32)
            fl_all = np.concatenate(p.flipped) if p.flipped else None
            frac, med = summarize(fl_all, dq_all)
            out.point = (p.step, p.then.step, frac, med, len(dq_all))
        return out

    def _compare(self, source: ChurnSource, lanes: np.ndarray, obs: np.ndarray, then: Kept
                 ) -> tuple[np.ndarray | None, np.ndarray]:
        stale = ~self._then_ok[lanes]
        need = lanes[stale]
        if len(need):  # the older network's outputs, once per lane and reference
            g, v = source.churn_eval(obs[stale], then.state)
            self._then_has_greedy = g is not None
            if g is not None:
                self._then_greedy[need] = g
            self._then_value[need] = v
            self._then_ok[need] = True
        g_now, v_now = source.churn_eval(obs)
        g_then = self._then_greedy[lanes] if self._then_has_greedy else None
        return churn_values(g_now, v_now, g_then, self._then_value[lanes])


class ChurnTrace:
    """The worker's trace of completed passes, bounded: past :data:`TRACE_LEN` points every other one of the older
    half is dropped, so the trace keeps spanning the whole run at a coarser resolution."""

    def __init__(self, lag: str = "", limit: int = TRACE_LEN) -> None:
        self.lag = lag
        self.limit = int(limit)
        self.points: list[list[Any]] = []  # [step, then_step, fraction or None, median |dq| or None, rows]

    def add(self, point: tuple[int, int, float | None, float | None, int]) -> None:
        step, then, frac, med, n = point
        self.points.append([int(step), int(then), _round(frac), _round(med), int(n)])
        if len(self.points) > self.limit:
            half = len(self.points) // 2
            self.points = self.points[:half:2] + self.points[half:]

    def status(self) -> dict[str, Any]:
        """The status line's ``churn`` entry (small: at most ``limit`` points; JSON, None for a missing value)."""
        return {"lag": self.lag, "columns": ["step", "then_step", "flipped_fraction", "median_abs_dq", "rows"],
                "trace": [list(p) for p in self.points]}


def _round(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 6)


__all__ = ["KEEP", "TRACE_LEN", "ChurnSource", "ChurnTrace", "ChurnTracker", "ChurnUpdate", "SnapshotQueue",
           "churn_values", "summarize"]
