"""The background worker: merges captured rows, projects them and publishes frames at a bounded rate.

The training thread only appends to ``pending`` (under a lock); everything else happens here. When the worker
falls behind, the batches that piled up are merged and the newest row of each slot wins. Any exception is
reported to the widget and the worker carries on.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from ..analysis.returns import returns_to_go
from ..embed.base import Projection, ProjectionFrame
from ..embed.features import flatten_features
from ..widget.buffer_widget import BufferWidget
from .mirror import BufferMirror
from .summary import build_summary

if TYPE_CHECKING:  # torch is optional: only a hook with a q_network imports it
    from .estimator import TDEstimator


SWEEP_CHUNK = 4096
NEW_ROWS_BATCH = 2048


@dataclass
class CaptureBatch:
    slots: np.ndarray  # int64[n]
    rows: dict[str, np.ndarray]
    t_capture: float
    hook_step: int
    total_inserted: int
    evictions: int
    # Field-only updates of old slots (e.g. re-prioritised ones): name -> (slots, values).
    updates: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


@dataclass
class WorkerStats:
    frames_shown: int = 0
    frames_dropped: int = 0
    nan_skipped: int = 0
    rejected: int = 0
    worker_lag_s: float = 0.0
    lags: list[float] = field(default_factory=list)


class LiveWorker:
    def __init__(self, widget: BufferWidget, capacity: int, projection: Projection, *, max_fps: float = 4.0,
                 keyframe_interval_s: float = 10.0, step_budget_s: float = 0.1,
                 estimator: TDEstimator | None = None, embed: str = "auto", td_budget_s: float = 0.05,
                 returns_every_s: float = 2.0, gamma: float | None = None,
                 projection_factory: Callable[[], Projection] | None = None) -> None:
        if max_fps <= 0:
            raise ValueError(f"max_fps must be positive, got {max_fps}")
        self.widget = widget
        self.capacity = int(capacity)
        self.projection = projection
        self.min_interval = 1.0 / max_fps
        self.keyframe_interval_s = keyframe_interval_s
        self.step_budget_s = step_budget_s
        self.mirror = BufferMirror(capacity)
        self.stats = WorkerStats()
        self._cond = threading.Condition()
        self._pending: list[CaptureBatch] = []
        self._pending_rows = 0
        self._stop = False
        self._busy = False
        self._waiting_interval = False
        self._last_frame = 0.0
        self._last_keyframe = time.monotonic()
        self._rate: tuple[float, int] | None = None  # (time, total_inserted) for inserts/s
        self.hook_step = 0
        self.estimator = estimator
        self.projection_factory = projection_factory
        self.embed = embed
        self.td_budget_s = float(td_budget_s)
        self.td_needs_next = True
        self._td_cursor = 0
        self.td_sweep_s = 2.0
        self.new_rows_every_s = 1.0
        self._new: list[np.ndarray] = []
        self._new_rows = 0
        self._last_new = 0.0
        self._force_new = False
        self._drain = False
        self._last_sweep = 0.0
        self._rows_per_s = 5_000.0  # first guess; measured from then on
        self._embedding: str | None = None  # "features" or "obs", fixed by the first rows
        self._reported_disabled = False
        self.returns_every_s = returns_every_s
        self.gamma = estimator.gamma if estimator is not None else (0.99 if gamma is None else gamma)
        self._last_returns = 0.0
        self.frame_state = widget.attach(capacity, self.mirror.inspect)
        self.frame_listeners: list[Callable[[bool], None]] = []  # called after each frame, final=True at stop
        self._thread = threading.Thread(target=self._run, name="better_rl_widget-worker", daemon=True)
        self._thread.start()

    # -- training thread ----------------------------------------------------------------------------------
    def submit(self, batch: CaptureBatch) -> None:
        """Queue a batch; O(1) apart from rarely trimming batches that newer ones fully overwrite."""
        with self._cond:
            was_empty = not self._pending
            self._pending.append(batch)
            self._pending_rows += len(batch.slots)
            # A ring buffer's newest `capacity` insertions cover every slot: older pending rows are dead.
            while len(self._pending) > 1 and self._pending_rows - len(self._pending[0].slots) >= self.capacity:
                dead = self._pending.pop(0)
                self._pending_rows -= len(dead.slots)
                self.stats.frames_dropped += 1
                if dead.updates:  # field updates of old slots are not covered by newer rows: carry them over
                    nxt = self._pending[0]
                    nxt.updates = _merge_updates([_drop_slots(dead.updates, nxt.slots), nxt.updates])
            # Wake the worker only when it sleeps for lack of work; while it waits out the frame interval a
            # notify would just make it wake and sleep again (a context switch and GIL hand-off per capture).
            if was_empty and not self._waiting_interval:
                self._cond.notify()

    # -- worker thread --------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop and not self._new_due() and not self._drain:
                    self._cond.wait(timeout=0.5)
                if self._stop and not self._pending:
                    return
            # Bound the frame rate: let batches accumulate until the next frame is due.
            wait = self._last_frame + self.min_interval - time.monotonic()
            if wait > 0:
                with self._cond:
                    self._waiting_interval = True
                    self._cond.wait_for(lambda: self._stop or self._last_frame == 0.0, timeout=wait)
                    self._waiting_interval = False
            with self._cond:
                batches, self._pending, self._pending_rows = self._pending, [], 0
                self._busy = True
            try:
                # One BLAS and OpenMP thread for the worker (PCA refits, torch forwards): thread teams here spin
                # and compete with the training thread (~50 ms CPU per small torch batch; benchmarks/overhead.py).
                with threadpool_limits(limits=1):
                    self._process(batches)
            except Exception as exc:  # noqa: BLE001 - never let the worker die; show it instead
                tb = traceback.format_exc(limit=3)
                self.widget.report_error(f"worker: {type(exc).__name__}: {exc}\n{tb}")
                with self._cond:
                    self._drain = False  # a failing projection must not be retried in a loop
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                self._last_frame = time.monotonic()

    def _new_due(self) -> bool:
        return bool(self._new) and (self._force_new or time.monotonic() - self._last_new >= self.new_rows_every_s)

    def _process(self, batches: list[CaptureBatch]) -> None:
        if not batches and not self._new and not self._drain:
            return
        self.stats.frames_dropped += max(0, len(batches) - 1)
        # An update is superseded by a newer batch's row for the same slot (that row was read later).
        updates: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for b in batches:
            updates = _merge_updates([_drop_slots(updates, b.slots), b.updates])
        batches_rows = [b for b in batches if len(b.slots)]
        slots = np.concatenate([b.slots for b in batches_rows]) if batches_rows else np.zeros(0, np.int64)
        keep = _last_occurrence(slots)
        slots = slots[keep]
        keys = set.intersection(*(set(b.rows) for b in batches_rows)) if batches_rows else set()
        rows = {k: np.concatenate([b.rows[k] for b in batches_rows])[keep] for k in keys}
        fs = self.frame_state
        if len(slots):
            self._apply_rows(slots, rows)
        for name, (us, uv) in updates.items():
            us, uv = self.mirror.update_field(name, us, uv)
            fs.upsert(us, {name: uv})
        self._flush_new(force=self._force_new)
        self._force_new = False
        self._estimate()
        self._returns()
        frame = self._step_projection(drain=self._drain)
        with self._cond:  # batches that arrived meanwhile get their own drained round
            if not self._pending:
                self._drain = False
        fs.set_extent(frame.extent)
        fs.set_coords(frame.slots, frame.coords)
        sent = self.widget.publish_delta()
        self.widget.publish_summary(build_summary(fs))
        self._frame_done(final=False)
        now = time.monotonic()
        if sent:
            self.stats.frames_shown += 1
        if now - self._last_keyframe >= self.keyframe_interval_s:
            self.widget.publish_keyframe()
            self._last_keyframe = now
        if batches:
            lag = time.perf_counter() - batches[0].t_capture
            self.stats.worker_lag_s = lag
            self.stats.lags.append(lag)
            del self.stats.lags[:-1000]
            self._publish_stats(batches[-1], frame.info)
            self.widget.record_history(int(batches[-1].hook_step))  # map history for the scrubber, when due

    def _step_projection(self, drain: bool = False, max_steps: int = 200) -> ProjectionFrame:
        """One projection step; when draining (flush/close), more until no row is pending placement, so that
        everything inserted so far is on the map."""
        frame = self.projection.step(self.step_budget_s)
        for _ in range(max_steps if drain else 0):
            if not frame.info.get("pending", 0):
                break
            frame = self.projection.step(self.step_budget_s)
        return frame

    def _apply_rows(self, slots: np.ndarray, rows: dict[str, np.ndarray]) -> None:
        fs = self.frame_state
        applied = self.mirror.apply(slots, rows)
        if applied.error:
            self.stats.rejected += len(applied.rejected)
            self.widget.report_error(applied.error)
        gone = np.concatenate([applied.non_finite, applied.rejected])
        self.stats.nan_skipped += len(applied.non_finite)
        if len(gone):
            self.projection.remove(gone)
            fs.remove(gone)
        if len(applied.valid):
            mask = np.isin(slots, applied.valid)
            fs.upsert(applied.valid, {k: v[mask] for k, v in rows.items() if k not in ("obs", "next_obs")})
            if self.estimator is not None and not self.estimator.disabled:
                # Batched: TD-errors and features of new rows are computed together about once a second
                # (_flush_new); many small forward passes cost far more CPU per row next to a training thread.
                self._new.append(applied.valid)
                self._new_rows += len(applied.valid)
                if self.embed != "obs" and self._embedding != "obs":
                    return  # placed once their features exist
            self.projection.add(applied.valid, self._embedding_rows(rows["obs"][mask]))

    def _flush_new(self, force: bool = False) -> None:
        if not self._new:
            return
        now = time.monotonic()
        if not force and self._new_rows < NEW_ROWS_BATCH and now - self._last_new < self.new_rows_every_s:
            return
        self._last_new = now
        slots = np.unique(np.concatenate(self._new))
        self._new, self._new_rows = [], 0
        slots = slots[self.mirror.present[slots]]
        if len(slots) == 0:
            return
        want = self.embed != "obs" and self._embedding != "obs"
        est = self.estimator
        out = self._compute(slots, want) if est is not None and not est.disabled else None
        if not want:
            return  # already placed from observations
        if out is not None and out.features is not None:
            self._embedding = "features"
            self.projection.add(slots, out.features)
        else:
            self.projection.add(slots, self._embedding_rows(self.mirror.rows(slots, ("obs",))["obs"]))

    def _compute(self, chunk: np.ndarray, want_features: bool = False):  # -> Estimates | None
        assert self.estimator is not None
        names = ("obs", "action", "reward", "terminated") + (("next_obs",) if self.td_needs_next else ())
        rows = self.mirror.rows(chunk, names)
        if not self.td_needs_next:
            rows["next_obs"] = rows["obs"]  # Q and V only; TD-errors stay NaN
        out = self.estimator.compute(chunk, rows, want_features)
        if out is None:
            self._note_disabled()
            return None
        fields = {"q": out.q, "value": out.value}
        if self.td_needs_next:
            fields["td_error"] = out.td_error
        self.mirror.set_fields(out.slots, fields)
        self.frame_state.upsert(out.slots, fields)
        return out

    # -- what the projection embeds -----------------------------------------------------------------------
    def _embedding_rows(self, obs: np.ndarray) -> np.ndarray:
        if self._embedding is None:
            use = self.embed != "obs" and self.estimator is not None
            self._embedding = "features" if use else "obs"
        if self._embedding == "features":
            assert self.estimator is not None
            feats = self.estimator.features(obs)
            if feats is not None:
                return feats
            self._switch_to_obs()
            if self.estimator.features_off:
                self.widget.add_note(self.estimator.features_off)
        return flatten_features(obs)

    def _switch_to_obs(self) -> None:
        """Features became unavailable: re-embed everything from observations (dimensions differ)."""
        self._embedding = "obs"
        present = np.flatnonzero(self.mirror.present)
        if self.projection_factory is None:
            self.widget.report_error("features became unavailable and the projection object cannot be rebuilt; "
                                     "new points are not placed")
            return
        self.projection = self.projection_factory()
        if len(present):
            obs = self.mirror.rows(present, ("obs",))["obs"]
            self.projection.add(present, flatten_features(obs))
        self.widget.add_note("the map embeds observations: the q_network's features are unavailable")

    # -- TD-errors, Q, V and returns ---------------------------------------------------------------------
    def _estimate(self, force: bool = False) -> None:
        est = self.estimator
        if est is None:
            return
        if est.disabled:
            self._note_disabled()
            return
        t0 = time.perf_counter()
        present = np.flatnonzero(self.mirror.present)
        if len(present) == 0:
            return
        # New rows got theirs on arrival (_new_row_estimates); old slots are refreshed at most every
        # `td_sweep_s` (their values drift slowly as the network learns, and on a busy machine the worker's CPU
        # time is taken from training), in large chunks: fewer GIL hand-offs with the training thread.
        if not (force or time.monotonic() - self._last_sweep >= self.td_sweep_s):
            return
        self._last_sweep = time.monotonic()
        n_sweep = 0
        while time.perf_counter() - t0 < self.td_budget_s and n_sweep < len(present):
            # Size the chunk so one compute fits the budget (measured rows per CPU-second), since a chunk
            # cannot be interrupted; forced passes (close) use the largest chunks.
            size = SWEEP_CHUNK if force else int(min(SWEEP_CHUNK, max(64, self._rows_per_s * self.td_budget_s)))
            start = self._td_cursor % len(present)
            chunk = present[start:start + size]
            self._td_cursor = start + len(chunk)
            n_sweep += len(chunk)
            c0 = time.thread_time()
            if self._compute(chunk) is None:
                return
            spent = max(time.thread_time() - c0, 1e-4)
            self._rows_per_s = 0.5 * self._rows_per_s + 0.5 * len(chunk) / spent

    def _note_disabled(self) -> None:
        if self.estimator is not None and self.estimator.disabled and not self._reported_disabled:
            self._reported_disabled = True
            self.widget.add_note(self.estimator.disabled)

    def _returns(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_returns < self.returns_every_s:
            return
        self._last_returns = now
        present = np.flatnonzero(self.mirror.present)
        names = ("episode", "episode_step", "reward", "done")
        if len(present) == 0 or not all(n in self.mirror.fields for n in names):
            return
        r = self.mirror.rows(present, names)
        g = returns_to_go(r["episode"], r["episode_step"], r["reward"], r["done"], self.gamma)
        old = self.frame_state.column("return", present)
        changed = ~((old == g) | (np.isnan(old) & np.isnan(g)))
        if changed.any():
            self.frame_state.upsert(present[changed], {"return": g[changed]})

    def _publish_stats(self, newest: CaptureBatch, info: dict) -> None:
        now = time.monotonic()
        rate = self.widget.gauge.get("inserts_per_s", 0.0)
        if self._rate is not None and now - self._rate[0] > 1e-3:
            inst = (newest.total_inserted - self._rate[1]) / (now - self._rate[0])
            rate = inst if rate == 0.0 else 0.7 * rate + 0.3 * inst
        self._rate = (now, newest.total_inserted)
        self.widget.update_gauge(size=self.frame_state.size, capacity=self.capacity,
                                 inserts_per_s=round(float(rate), 1), evictions=int(newest.evictions),
                                 total_inserted=int(newest.total_inserted))
        s = self.stats
        self.widget.update_status(frames_shown=s.frames_shown, frames_dropped=s.frames_dropped,
                                  worker_lag_s=round(s.worker_lag_s, 3), nan_skipped=s.nan_skipped,
                                  projection=str(info.get("projection", "")), hook_step=int(newest.hook_step),
                                  seq=int(self.frame_state.seq),
                                  engine={k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))})

    # -- control --------------------------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every submitted batch is on the map; True unless it timed out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._last_frame = 0.0  # do not rate-limit a flush
            self._force_new = True
            self._drain = True  # and place every pending row before returning
            self._cond.notify_all()
            while self._pending or self._busy or self._new or self._drain:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(timeout=min(left, 0.1))
        return True

    def stop(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)
        try:  # a last complete pass so the final state has every slot's TD-error and return
            if self.estimator is not None:
                self.estimator.refresh_now()  # the final state reflects the final networks
            if self._new:  # rows that arrived after the flush above
                self._flush_new(force=True)
                frame = self._step_projection(drain=True)
                self.frame_state.set_extent(frame.extent)
                self.frame_state.set_coords(frame.slots, frame.coords)
            budget, self.td_budget_s = self.td_budget_s, 30.0
            self._estimate(force=True)
            self.td_budget_s = budget
            self._returns(force=True)
            self.widget.publish_summary(build_summary(self.frame_state))
        except Exception as exc:  # noqa: BLE001
            self.widget.report_error(f"worker: final pass: {type(exc).__name__}: {exc}")
        self.widget.publish_delta()
        self.widget.publish_keyframe()
        self.widget.record_history(force=True)  # the final map is always in the history
        self._frame_done(final=True)

    def _frame_done(self, final: bool) -> None:
        for listener in self.frame_listeners:  # e.g. the run recorder (store/recorder.py)
            try:
                listener(final)
            except Exception as exc:  # noqa: BLE001
                self.widget.report_error(f"frame listener: {type(exc).__name__}: {exc}")


def _last_occurrence(slots: np.ndarray) -> np.ndarray:
    """Indices of each slot's last occurrence, in order (newest row per slot wins)."""
    if len(slots) == 0:
        return np.zeros(0, np.int64)
    _, last = np.unique(slots[::-1], return_index=True)
    return np.sort(len(slots) - 1 - last)


def _drop_slots(updates: dict[str, tuple[np.ndarray, np.ndarray]],
                slots: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not updates or len(slots) == 0:
        return updates
    out = {}
    for name, (s, v) in updates.items():
        keep = ~np.isin(s, slots)
        out[name] = (s[keep], v[keep])
    return out


def _merge_updates(parts: list[dict[str, tuple[np.ndarray, np.ndarray]]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in {k for p in parts for k in p}:
        s = np.concatenate([p[name][0] for p in parts if name in p]).astype(np.int64)
        v = np.concatenate([p[name][1] for p in parts if name in p])
        keep = _last_occurrence(s)
        out[name] = (s[keep], v[keep])
    return out
