"""The background worker: merges captured rows, projects them and publishes frames at a bounded rate.

The training thread only appends to ``pending`` (under a lock); everything else happens here. When the worker
falls behind, the batches that piled up are merged and the newest row of each slot wins. Any exception is
reported to the widget and the worker carries on.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from ..embed.base import Projection
from ..embed.features import flatten_features
from ..widget.buffer_widget import BufferWidget
from .mirror import BufferMirror


@dataclass
class CaptureBatch:
    slots: np.ndarray  # int64[n]
    rows: dict[str, np.ndarray]
    t_capture: float
    hook_step: int
    total_inserted: int
    evictions: int


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
                 keyframe_interval_s: float = 10.0, step_budget_s: float = 0.1) -> None:
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
        self._last_frame = 0.0
        self._last_keyframe = time.monotonic()
        self._rate: tuple[float, int] | None = None  # (time, total_inserted) for inserts/s
        self.hook_step = 0
        self.frame_state = widget.attach(capacity, self.mirror.inspect)
        self._thread = threading.Thread(target=self._run, name="better_rl_widget-worker", daemon=True)
        self._thread.start()

    # -- training thread ----------------------------------------------------------------------------------
    def submit(self, batch: CaptureBatch) -> None:
        """Queue a batch; O(1) apart from rarely trimming batches that newer ones fully overwrite."""
        with self._cond:
            self._pending.append(batch)
            self._pending_rows += len(batch.slots)
            # A ring buffer's newest `capacity` insertions cover every slot: older pending rows are dead.
            while len(self._pending) > 1 and self._pending_rows - len(self._pending[0].slots) >= self.capacity:
                dead = self._pending.pop(0)
                self._pending_rows -= len(dead.slots)
                self.stats.frames_dropped += 1
            self._cond.notify()

    # -- worker thread --------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait(timeout=0.5)
                if self._stop and not self._pending:
                    return
            # Bound the frame rate: let batches accumulate until the next frame is due.
            wait = self._last_frame + self.min_interval - time.monotonic()
            if wait > 0:
                with self._cond:
                    self._cond.wait_for(lambda: self._stop, timeout=wait)
            with self._cond:
                batches, self._pending, self._pending_rows = self._pending, [], 0
                self._busy = True
            try:
                self._process(batches)
            except Exception as exc:  # noqa: BLE001 - never let the worker die; show it instead
                tb = traceback.format_exc(limit=3)
                self.widget.report_error(f"worker: {type(exc).__name__}: {exc}\n{tb}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                self._last_frame = time.monotonic()

    def _process(self, batches: list[CaptureBatch]) -> None:
        if not batches:
            return
        self.stats.frames_dropped += len(batches) - 1
        slots = np.concatenate([b.slots for b in batches])
        # Newest row per slot wins: unique over the reversed order keeps each slot's last occurrence.
        _, last = np.unique(slots[::-1], return_index=True)
        keep = np.sort(len(slots) - 1 - last)
        slots = slots[keep]
        keys = set.intersection(*(set(b.rows) for b in batches))
        rows = {k: np.concatenate([b.rows[k] for b in batches])[keep] for k in keys}

        applied = self.mirror.apply(slots, rows)
        if applied.error:
            self.stats.rejected += len(applied.rejected)
            self.widget.report_error(applied.error)
        gone = np.concatenate([applied.non_finite, applied.rejected])
        self.stats.nan_skipped += len(applied.non_finite)
        fs = self.frame_state
        if len(gone):
            self.projection.remove(gone)
            fs.remove(gone)
        if len(applied.valid):
            mask = np.isin(slots, applied.valid)
            self.projection.add(applied.valid, flatten_features(rows["obs"][mask]))
            fs.upsert(applied.valid, {k: v[mask] for k, v in rows.items() if k != "obs"})
        frame = self.projection.step(self.step_budget_s)
        fs.set_extent(frame.extent)
        fs.set_coords(frame.slots, frame.coords)
        sent = self.widget.publish_delta()
        now = time.monotonic()
        if sent:
            self.stats.frames_shown += 1
        if now - self._last_keyframe >= self.keyframe_interval_s:
            self.widget.publish_keyframe()
            self._last_keyframe = now
        lag = time.perf_counter() - batches[0].t_capture
        self.stats.worker_lag_s = lag
        self.stats.lags.append(lag)
        del self.stats.lags[:-1000]
        self._publish_stats(batches[-1], frame.info)

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
            self._cond.notify_all()
            while self._pending or self._busy:
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
        self.widget.publish_delta()
        self.widget.publish_keyframe()
