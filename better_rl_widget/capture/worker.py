"""The background worker: merges captured rows, hands them to the engine and publishes frames at a bounded rate.

The training thread only appends to ``pending`` (under a lock); everything else happens in the worker thread.
When it falls behind, the batches that piled up are merged and the newest row of each slot wins. The heavy part
(TD-errors/Q/V/features, returns, projection: :mod:`.engine`) runs in this thread or in a child process
(:mod:`.engine_process`, ``worker="process"``); the mirror, the frame state and the sink (the widget, see
:mod:`.sink`) stay here. Any exception is reported to the sink and the worker carries on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from ..embed import make_projection
from ..embed.base import Projection, ProjectionFrame
from ..embed.extent import view_extent
from .churn import ChurnTrace
from .engine import ENGINE_FIELDS, Engine, EngineInput, EngineResult
from .governor import CostGovernor
from .map_modes import CONTEXT_FIELDS, describe, window_info
from .mirror import BufferMirror
from .options import LiveOptions
from .sampler import MapSample
from .sink import MapSink

if TYPE_CHECKING:  # torch is optional: only a hook with a q_network imports it
    from .engine_process import EngineProcess
    from .estimator import TDEstimator


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
    # Lanes that left the map's sample (a sampled map of a large buffer, see sampler.py); not re-filled here.
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    resident: int = -1  # rows in the buffer (the gauge describes the whole buffer, not the drawn sample)
    attempts: int = 0  # frames that failed with this batch in them
    reread: bool = False  # rows read again from the buffer after their first batch failed twice
    map_mode: tuple[str, int] | None = None  # the map mode switches here, with these rows (capture/map_modes.py)


@dataclass
class WorkerStats:
    frames_shown: int = 0
    frames_dropped: int = 0
    nan_skipped: int = 0
    rejected: int = 0
    rows_reread: int = 0  # rows read again from the buffer because two frames with them failed
    rows_lost: int = 0  # rows given up after that too (reported; at close, those not on the map)
    worker_lag_s: float = 0.0
    lags: list[float] = field(default_factory=list)


class LiveWorker:
    """Feeds ``sink`` a map of ``capacity`` lanes. ``options.projection``: a name (see
    :func:`~better_rl_widget.embed.make_projection`) or a Projection object. ``options.worker``: where the engine
    runs — "thread", "process", or "auto" (a process when the projection is a name and the estimator, if any, can
    be shipped; see docs/architecture.md for the measurements). ``td_needs_next=False``: the rows carry no next
    observation (Q and V only). ``map_mode``: (mode, k) the map starts with (default: the options'; the hook
    resolves the widget's traits, capture/map_modes.py)."""

    def __init__(self, sink: MapSink, capacity: int, options: LiveOptions, *, estimator: TDEstimator | None = None,
                 sample: MapSample | None = None, td_needs_next: bool = True,
                 map_mode: tuple[str, int] | None = None) -> None:
        self.sink = sink
        self.options = options
        self.capacity = int(capacity)  # lanes of the map (the buffer's slots when it is not sampled)
        self.sample = sample
        self._ring = sample is None or sample.identity  # lanes are ring slots: newer batches cover older ones
        self.settle_s = options.settle_s
        self.governor = CostGovernor(options.cost_budget)
        self.ready = threading.Event()  # the engine exists (a worker process has finished its imports)
        self._noted_threads = False
        self.final_embedding: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # kept by stop()
        self.min_interval = 1.0 / options.max_fps
        self.keyframe_interval_s = options.keyframe_interval_s
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
        # Policy churn's trace over training (the engine computes its points; capture/churn.py)
        self.churn_trace = ChurnTrace(f"{options.churn_lag_s:g} s" if options.churn_lag_s is not None
                                      else f"{options.churn_lag_steps} steps")
        self.td_needs_next = td_needs_next
        # What the map embeds (capture/map_modes.py): the engine's, after its last frame.
        self.map_mode: tuple[str, int] = map_mode or (options.map_mode or "states", options.window_k or 4)
        self.mode = _choose_mode(options.worker, options.projection, estimator)
        self.engine: Engine | EngineProcess | None = None
        if self.mode == "thread":
            self.engine = self._thread_engine()
        self._new_rows = 0  # rows the engine holds for their batched estimates
        self._new_due_t = 0.0
        self._force_new = False
        self._drain = False
        self._next_weights = 0.0
        self._ended = False  # stop() or the finaliser ran: a lost process is not replaced any more
        self._reread: list[np.ndarray] = []  # lanes whose rows the hook reads again (failed frames)
        self._given_up = np.zeros(capacity, bool)
        self._unplaced = 0  # rows the projection gave non-finite coordinates (not drawn)
        self._unplaced_reported = False
        # Counted, shown in the status: priorities from the buffer that are NaN/inf or negative, rewards NaN/inf.
        self._bad = {"bad_priority": 0, "bad_reward": 0}
        self.frame_state = sink.attach(capacity, self._inspect,
                                       slot_of=None if self._ring or sample is None else sample.slot_of)
        self.frame_listeners: list[Callable[[bool], None]] = []  # called after each frame, final=True at stop
        sink.update_status(map_mode={"mode": self.map_mode[0], "k": self.map_mode[1],
                                     "label": describe(*self.map_mode)})
        self._thread = threading.Thread(target=self._run, name="better_rl_widget-worker", daemon=True)
        self._thread.start()

    @property
    def projection(self) -> Projection | None:
        """The projection object when the engine runs in this process (None in a worker process)."""
        return self.engine.projection if isinstance(self.engine, Engine) else None

    def _thread_engine(self) -> Engine:
        spec, cap, seed = self.options.projection, self.capacity, self.options.seed
        projection = make_projection(spec, cap, seed)
        factory = (lambda: make_projection(spec, cap, seed)) if isinstance(spec, str) else None
        return Engine(cap, projection, self._mode_options(), mirror=self.mirror, estimator=self.estimator,
                      td_needs_next=self.td_needs_next, projection_factory=factory)

    def _process_engine(self) -> EngineProcess:
        from .engine_process import EngineProcess, EngineSpec

        return EngineProcess.start(EngineSpec.pack(self.capacity, self._mode_options(), self.estimator,
                                                   self.td_needs_next))

    def _mode_options(self) -> LiveOptions:
        """The options with the map mode in use now (a fallback engine keeps what the view switched to)."""
        mode, k = self.map_mode
        o = self.options
        return o if (o.map_mode, o.window_k) == (mode, k) else dataclasses.replace(o, map_mode=mode, window_k=k)

    def _inspect(self, lane: int) -> tuple[dict, np.ndarray | None]:
        """The mirror's answer to a click, with the window's k pairs and drawn points in windows mode."""
        meta, obs = self.mirror.inspect(lane)
        if self.map_mode[0] == "windows" and meta.get("present"):
            meta["window"] = window_info(self.mirror, self.frame_state, lane, self.map_mode[1])
        return meta, obs

    # -- training thread ----------------------------------------------------------------------------------
    def submit(self, batch: CaptureBatch) -> None:
        """Queue a batch; O(1) apart from rarely trimming batches that newer ones fully overwrite."""
        with self._cond:
            was_empty = not self._pending
            self._pending.append(batch)
            self._pending_rows += len(batch.slots)
            # A ring buffer's newest `capacity` insertions cover every slot: older pending rows are dead.
            while self._ring and len(self._pending) > 1 and \
                    self._pending_rows - len(self._pending[0].slots) >= self.capacity:
                dead = self._pending.pop(0)
                self._pending_rows -= len(dead.slots)
                self.stats.frames_dropped += 1
                if dead.updates:  # field updates of old slots are not covered by newer rows: carry them over
                    nxt = self._pending[0]
                    nxt.updates = _merge_updates([_drop_slots(dead.updates, nxt.slots), nxt.updates])
            if not self._ring and self._pending_rows > 2 * self.capacity:  # a stalled worker: merge, newest wins
                merged = _merge_batches(self._pending)
                self.stats.frames_dropped += len(self._pending) - 1
                self._pending, self._pending_rows = [merged], len(merged.slots)
            # Wake the worker only when it sleeps for lack of work; while it waits out the frame interval a
            # notify would just make it wake and sleep again (a context switch and GIL hand-off per capture).
            if was_empty and not self._waiting_interval:
                self._cond.notify()

    # -- worker thread --------------------------------------------------------------------------------------
    def _run(self) -> None:
        self.governor.worker_ident = threading.get_ident()
        if self.engine is None:
            self._start_process()
        self.ready.set()
        while True:
            with self._cond:
                while not self._pending and not self._stop and not self._new_due() and not self._drain:
                    self._cond.wait(timeout=0.5)
                if self._stop and not self._pending:
                    return
            # Bound the frame rate and the cost: let batches accumulate until the next frame is due and paid for
            # (governor.py); a flush or close does not wait.
            while not self._unthrottled():
                wait = max(self._last_frame + self.min_interval - time.monotonic(), self.governor.wait_s())
                if wait <= 0:
                    break
                with self._cond:
                    self._waiting_interval = True
                    self._cond.wait_for(self._unthrottled, timeout=wait)
                    self._waiting_interval = False
            with self._cond:
                if self._ended:
                    return
                batches, self._pending, self._pending_rows = self._pending, [], 0
                self._busy = True
            self.governor.begin_frame()
            try:
                # One BLAS and OpenMP thread for an engine in this thread (PCA refits, torch forwards): thread teams
                # here spin and compete with the training thread (~50 ms CPU per small torch batch). A worker
                # process is started with one thread of each.
                with threadpool_limits(limits=1) if self.mode == "thread" else contextlib.nullcontext():
                    self._process(batches)
            except Exception as exc:  # noqa: BLE001 - never let the worker die; show it instead
                if not self._ended:
                    for note in getattr(exc, "engine_notes", ()):  # what the frame found before it failed
                        self.sink.add_note(note)
                    tb = traceback.format_exc(limit=3)
                    self.sink.report_error(f"worker: {type(exc).__name__}: {exc}\n{tb}")
                    try:
                        self._retry_once(batches)
                    except Exception as again:  # noqa: BLE001 - the handler must not end the worker either
                        self.sink.report_error(f"worker: could not queue a failed frame's rows again: {again}")
                with self._cond:
                    self._drain = False  # a failing projection must not be retried in a loop
            finally:
                self.governor.end_frame()
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                self._last_frame = time.monotonic()

    def _retry_once(self, batches: list[CaptureBatch]) -> None:
        """Rows of a failed frame are not dropped: their batch gets one more frame; if that fails too, the hook
        reads them again from the buffer (the mirror may hold half of them); only if those fail twice as well
        are they given up, counted and reported. Bounded: a fault that repeats cannot loop."""
        again = [b for b in batches if b.attempts == 0]
        failed_twice = [b for b in batches if b.attempts > 0]
        for b in again:
            b.attempts = 1
        reread = [b.slots for b in failed_twice if not b.reread and len(b.slots)]
        lost = [b.slots for b in failed_twice if b.reread and len(b.slots)]
        with self._cond:
            self._pending[:0] = again
            self._pending_rows += sum(len(b.slots) for b in again)
            self._reread.extend(reread)
        self.stats.rows_reread += sum(len(x) for x in reread)
        if lost:
            lanes = np.unique(np.concatenate(lost))
            self._given_up[lanes] = True
            self.stats.rows_lost = int(self._given_up.sum())
            self.sink.report_error(f"worker: {len(lanes)} rows may be missing from the map: frames with them failed "
                                   "four times, read again from the buffer once")
            self.sink.update_status(rows_lost=self.stats.rows_lost)

    def take_reread(self) -> np.ndarray:
        """Lanes whose rows the hook should read again from the buffer (training thread; usually empty)."""
        if not self._reread:
            return np.zeros(0, np.int64)
        with self._cond:
            lanes, self._reread = self._reread, []
        return np.unique(np.concatenate(lanes))

    def _unthrottled(self) -> bool:
        """A flush, close or stop does not wait for the frame interval or the cost budget."""
        return self._stop or self._drain or self._last_frame == 0.0

    def _start_process(self) -> None:
        """Start the worker process (in this thread: the child's imports take seconds); a thread if it fails."""
        with self._cond:
            self._busy = True  # flush() waits for the engine
        try:
            self.engine = self._process_engine()
            self.governor.set_child(self.engine.pid)  # its start-up (imports) is not the map's running cost
        except Exception as exc:  # noqa: BLE001 - e.g. an estimator whose networks cannot be pickled
            self.sink.add_note(f"the worker runs in a thread: no worker process ({_short(exc)})")
            self.mode, self.engine = "thread", self._thread_engine()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _new_due(self) -> bool:
        return self._new_rows > 0 and (self._force_new or time.monotonic() >= self._new_due_t)

    def _process(self, batches: list[CaptureBatch]) -> None:
        if not batches and not self._new_rows and not self._drain:
            return
        self.stats.frames_dropped += max(0, len(batches) - 1)
        merged = _merge_batches(batches) if batches else None
        slots = merged.slots if merged is not None else np.zeros(0, np.int64)
        rows = merged.rows if merged is not None else {}
        updates = merged.updates if merged is not None else {}
        left = merged.removed if merged is not None else np.zeros(0, np.int64)
        fs = self.frame_state
        if merged is not None:
            self.hook_step = int(merged.hook_step)
        inp = EngineInput(drain=self._drain, force_new=self._force_new,
                          map_mode=merged.map_mode if merged is not None else None,
                          frame_cpu_s=None if self._drain else self.governor.frame_cpu_s(), hook_step=self.hook_step)
        self._force_new = False
        if len(left):  # lanes that left the sample: off the map, out of the mirror and the engine
            self.mirror.drop(left)
            fs.remove(left)
            inp.removed = left
        if len(slots):
            inp.slots, gone, inp.rows = self._apply_rows(slots, rows)
            inp.removed = np.concatenate([inp.removed, gone])
        for name, (given_slots, given_values) in updates.items():
            us, uv = self.mirror.update_field(name, given_slots, given_values)
            if name == "priority":
                self._check_priority(us, uv)
            fs.upsert(us, {name: uv})
        res = self._engine_run(inp)
        with self._cond:  # batches that arrived meanwhile get their own drained round
            if not self._pending:
                self._drain = False
        frame = res.frame
        assert frame is not None
        self._show_frame(frame)
        sent = self.sink.publish_delta()
        self.sink.publish_summary()
        self._frame_done(final=False)
        now = time.monotonic()
        if sent:
            self.stats.frames_shown += 1
        if now - self._last_keyframe >= self.keyframe_interval_s:
            self.sink.publish_keyframe()
            self._last_keyframe = now
        if batches:
            lag = time.perf_counter() - batches[0].t_capture
            self.stats.worker_lag_s = lag
            self.stats.lags.append(lag)
            del self.stats.lags[:-1000]
            self._publish_stats(batches[-1], frame.info)
            self.sink.record_history(int(batches[-1].hook_step))  # map history for the scrubber, when due

    def _apply_rows(self, slots: np.ndarray, rows: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict]:
        """Check rows into the mirror and the frame state; returns (valid slots, slots not drawn, rows to ship)."""
        fs = self.frame_state
        applied = self.mirror.apply(slots, rows)
        if applied.error:
            self.stats.rejected += len(applied.rejected)
            self.sink.report_error(applied.error)
        gone = np.concatenate([applied.non_finite, applied.rejected])
        self.stats.nan_skipped += len(applied.non_finite)
        if len(gone):
            fs.remove(gone)
        ship: dict[str, np.ndarray] = {}
        if len(applied.valid):
            mask = np.isin(slots, applied.valid)
            if "priority" in rows:
                self._check_priority(applied.valid, rows["priority"][mask])
            if "reward" in rows:
                self._check_reward(applied.valid, rows["reward"][mask])
            fs.upsert(applied.valid, {k: v[mask] for k, v in rows.items()
                                      if k not in ("obs", "next_obs", *CONTEXT_FIELDS)})
            if not isinstance(self.engine, Engine):  # a worker process keeps its own copy of what it reads
                ship = {k: v[mask] for k, v in rows.items() if k in ENGINE_FIELDS}
        return applied.valid, gone, ship

    def _check_priority(self, lanes: np.ndarray, values: np.ndarray) -> None:
        """Priorities are shown as the buffer reports them; a NaN, inf or negative one means that buffer's own
        sampling is broken there (tianshou and torchrl store such values): said once, counted in the status."""
        self._count_bad("bad_priority", lanes, values, negative_too=True,
                        what="reports priorities that are NaN, inf or negative",
                        means="its prioritized sampling is broken there; check the TD-errors passed to its priority "
                              "update")

    def _check_reward(self, lanes: np.ndarray, values: np.ndarray) -> None:
        """The reference buffers refuse non-finite rewards; a library's buffer stores them (SB3 keeps float32, so a
        reward beyond 3.4e38 is inf there). The rows are drawn, but their episodes' returns and TD-errors are not
        numbers: said once, counted in the status."""
        self._count_bad("bad_reward", lanes, values, negative_too=False, what="holds rewards that are NaN or inf",
                        means="those episodes' returns and TD-errors are not numbers")

    def _count_bad(self, name: str, lanes: np.ndarray, values: np.ndarray, *, negative_too: bool, what: str,
                   means: str) -> None:
        v = np.asarray(values, np.float64).reshape(len(lanes), -1)[:, 0]
        bad = ~(np.isfinite(v) & (v >= 0)) if negative_too else ~np.isfinite(v)
        if not bad.any():
            return
        first = self._bad[name] == 0
        self._bad[name] += int(bad.sum())
        self.sink.update_status(**{name: self._bad[name]})
        if first:
            lanes = np.asarray(lanes, np.int64)[bad]
            slots = lanes if self.sample is None or self.sample.identity else self.sample.slot_of(lanes)
            self.sink.report_error(f"the buffer {what} (e.g. {v[bad][0]:g} at slot(s) {slots[:5].tolist()}): "
                                   f"{means} (counted in the status as {name})")

    def _engine_run(self, inp: EngineInput) -> EngineResult:
        from .engine_process import EngineDied

        eng = self.engine
        assert eng is not None
        if not isinstance(eng, Engine) and self.estimator is not None and (
                inp.final or time.monotonic() >= self._next_weights):
            try:  # the live networks' weights, at the rate a thread would snapshot them
                inp.weights = self.estimator.weights()
            except Exception as exc:  # noqa: BLE001 - the process keeps its last weights
                self.sink.report_error(f"worker: could not read the network weights: {_short(exc)}")
            self._next_weights = time.monotonic() + self.estimator.refresh_s
        try:
            res = eng.run(inp)
        except EngineDied as exc:
            if self._ended or (not isinstance(eng, Engine) and eng.abandoned):
                raise
            self._fall_back(str(exc))
            present = np.flatnonzero(self.mirror.present)  # the rows are in this side's mirror already
            res = self._engine_run(EngineInput(present, {}, drain=inp.drain, force_new=True, final=inp.final))
            return res
        self._apply_result(res)
        return res

    def _fall_back(self, why: str) -> None:
        """The worker process is gone: go on in a thread, rebuilding the map from the mirror (a visible note)."""
        old = self.engine
        self.sink.report_error(f"worker: {why}")
        self.sink.add_note("the worker process stopped; the map goes on in a thread (rebuilt from the rows seen)")
        self.mode, self.engine = "thread", self._thread_engine()
        self.engine.returns_shown[:] = self.frame_state.column("return")
        if old is not None and not isinstance(old, Engine):
            old.close(timeout=1.0)

    def _apply_result(self, res: EngineResult) -> None:
        for msg in res.errors:
            self.sink.report_error(f"worker: {msg}")
        for note in res.notes:
            self.sink.add_note(note)
        own = not isinstance(self.engine, Engine) or not self.engine.shared_mirror
        for name, (s, v) in res.fields.items():
            if own and name in ("td_error", "q", "value"):  # what the inspector shows
                self.mirror.set_fields(s, {name: v})
            self.frame_state.upsert(s, {name: v})
        self._new_rows = res.new_rows
        if res.map_mode != self.map_mode or res.map_rebuilt:
            self.map_mode = res.map_mode
            self.sink.update_status(map_mode={"mode": res.map_mode[0], "k": res.map_mode[1],
                                              "label": describe(*res.map_mode)})
        self._new_due_t = time.monotonic() + res.new_due_in
        for point in res.churn:
            self.churn_trace.add(point)
        if res.churn:
            self.sink.update_status(churn=self.churn_trace.status())

    def _publish_stats(self, newest: CaptureBatch, info: dict) -> None:
        now = time.monotonic()
        rate = self.sink.gauge.get("inserts_per_s", 0.0)
        if self._rate is not None and now - self._rate[0] > 1e-3:
            inst = (newest.total_inserted - self._rate[1]) / (now - self._rate[0])
            rate = inst if rate == 0.0 else 0.7 * rate + 0.3 * inst
        self._rate = (now, newest.total_inserted)
        sample = self.sample
        resident = newest.resident if newest.resident >= 0 else self.frame_state.size
        self.sink.update_gauge(size=int(resident), capacity=sample.capacity if sample else self.capacity,
                                 inserts_per_s=round(float(rate), 1), evictions=int(newest.evictions),
                                 total_inserted=int(newest.total_inserted))
        self._threads_note()
        s = self.stats
        self.sink.update_status(frames_shown=s.frames_shown, frames_dropped=s.frames_dropped,
                                  worker_lag_s=round(s.worker_lag_s, 3), nan_skipped=s.nan_skipped,
                                  rejected=s.rejected,
                                  projection=str(info.get("projection", "")), hook_step=int(newest.hook_step),
                                  seq=int(self.frame_state.seq), worker=self.mode,
                                  map={**(sample.describe(resident) if sample else {}),
                                       "points": int(self.frame_state.size)}, **self.governor.info(),
                                  engine={k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))})

    def embedding_snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lanes, embedded rows, map coordinates) of the map's placed points; after stop(), the final map's."""
        if self.final_embedding is not None:
            return self.final_embedding
        if self.engine is None:
            raise RuntimeError("the engine has not started")
        return self.engine.embedding_snapshot()

    def _threads_note(self) -> None:
        """Say once, with the measured figure, when torch's intra-op threads keep every core busy: then every
        CPU-second the map takes is taken from training. The user's setting is theirs; it is never changed."""
        if self._noted_threads:
            return
        torch = sys.modules.get("torch")
        rate = self.governor.training_cores()
        if torch is None or rate is None:
            return
        self._noted_threads = True
        cores = _cores()
        threads = int(torch.get_num_threads())
        if threads >= cores > 1 and rate > cores - 0.5:
            self.sink.add_note(
                f"training keeps {rate:.1f} of {cores} cores busy (torch's {threads} intra-op threads wait by "
                "spinning): the map's CPU comes out of training's, within the cost budget. For a small network "
                "torch.set_num_threads(1) may train as fast and leaves a core to the map; the choice is yours "
                "(docs/performance.md)")

    # -- control --------------------------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every submitted batch is on the map; True unless it timed out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._last_frame = 0.0  # do not rate-limit a flush
            self.governor.resume()
            self._force_new = True
            self._drain = True  # and place every pending row before returning
            self._cond.notify_all()
            while self._pending or self._busy or self._new_rows or self._drain:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(timeout=min(left, 0.1))
        return True

    def stop(self, timeout: float = 30.0) -> None:
        self.governor.update()
        self.sink.update_status(**self.governor.info())  # the cost measured while training ran
        self.flush(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():  # stuck in a call to a hung worker process: give up on it
            self._end_process()
        try:  # a last complete pass so the final state has every slot's TD-error and return
            if self.engine is not None and not self._ended:
                res = self._engine_run(EngineInput(final=True))
                if res.frame is not None:
                    self._show_frame(res.frame)
                self._settle()
                self.final_embedding = self.engine.embedding_snapshot()
            self.sink.publish_summary()
        except Exception as exc:  # noqa: BLE001 - close() runs in the user's loop: reported, never raised
            self.sink.report_error(f"worker: final pass: {type(exc).__name__}: {exc}")
        finally:
            self._end_process()
        if self.stats.rows_lost:  # the final count: given-up rows that no later row or pass put on the map
            self.stats.rows_lost = int((self._given_up & ~self.frame_state.present_mask()).sum())
            self.sink.update_status(rows_lost=self.stats.rows_lost)
        try:  # close() runs in the user's loop: a map that cannot be published is reported, never raised
            self.sink.publish_delta()
            self.sink.publish_keyframe()
        except Exception as exc:  # noqa: BLE001 - reported, never raised (see above)
            self.sink.report_error(f"worker: final frame: {type(exc).__name__}: {exc}")
        self.sink.record_history(force=True)  # the final map is always in the history
        self._frame_done(final=True)

    def _show_frame(self, frame: ProjectionFrame) -> None:
        """A projection's coordinates into the frame state. Non-finite ones (a projection of the user's, a diverged
        one) are kept off the map and reported: a NaN in the extent or coordinates cannot be drawn or encoded."""
        slots = np.asarray(frame.slots, np.int64)
        xy = np.asarray(frame.coords, np.float32).reshape(len(slots), 2)
        ok = np.isfinite(xy).all(axis=1)
        extent = np.asarray(frame.extent, np.float64).ravel()
        bad = slots[~ok]
        if len(bad):
            self.frame_state.remove(bad)
            slots, xy = slots[ok], xy[ok]
            if not self._unplaced_reported:  # once: a diverged projection would repeat it every frame
                self._unplaced_reported = True
                self.sink.report_error(f"worker: the projection gave NaN/inf coordinates for {len(bad)} rows (e.g. "
                                       f"slots {bad[:5].tolist()}); they are not drawn (counted in the status as "
                                       "unplaced)")
        if len(bad) != self._unplaced:
            self._unplaced = len(bad)
            self.sink.update_status(unplaced=len(bad))
        if extent.shape == (4,) and np.isfinite(extent).all():
            self.frame_state.set_extent(extent.tolist())
        elif len(xy):
            self.frame_state.set_extent(view_extent(xy))
        self.frame_state.set_coords(slots, xy)

    def _settle(self) -> None:
        """Training is over: run the map to convergence, within ``settle_s`` seconds, drawing as it goes and
        showing the progress in the status line (docs/embedding.md says when it counts as converged)."""
        if self.settle_s <= 0 or self.engine is None:
            return
        t0 = time.monotonic()
        end = t0 + self.settle_s
        cores = _cores()
        # More openTSNE threads only where the other cores are idle: beside other jobs they were slower (2 cores).
        n_jobs = cores if os.getloadavg()[0] < max(cores - 1, 0.5) else 1
        info: dict = {}
        while True:
            left = end - time.monotonic()
            res = self._engine_run(EngineInput(settle_s=max(0.05, min(0.5, left)), n_jobs=n_jobs))
            frame = res.frame
            if frame is None:
                break
            info = frame.info
            self._show_frame(frame)
            if self.sink.publish_delta():
                self.stats.frames_shown += 1
            done = bool(info.get("settled"))
            self.sink.update_status(settle={"progress": round(float(info.get("settle_progress", 0.0)), 3),
                                              "seconds": round(time.monotonic() - t0, 2), "done": done},
                                      frames_shown=self.stats.frames_shown,
                                      engine={k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))})
            if done or time.monotonic() >= end:
                break
        if not info.get("settled", True):
            self.sink.add_note(f"the map was still settling when the {self.settle_s:g} s bound of the final pass "
                                 f"ran out ({100 * float(info.get('settle_progress', 0.0)):.0f} %)")

    def _frame_done(self, final: bool) -> None:
        for listener in self.frame_listeners:  # e.g. the run recorder (store/recorder.py)
            try:
                listener(final)
            except Exception as exc:  # noqa: BLE001 - a listener's failure is shown; the others still run
                self.sink.report_error(f"frame listener: {type(exc).__name__}: {exc}")

    def abandon(self) -> None:
        """Stop at once, without a final pass: the hook was garbage-collected or the interpreter exits."""
        with self._cond:
            self._stop = True
            self._pending, self._pending_rows = [], 0
            self._cond.notify_all()
        self._end_process()

    def _end_process(self) -> None:
        with self._cond:
            self._ended = True
        eng = self.engine
        if eng is not None and not isinstance(eng, Engine):
            eng.abandoned = True
            eng.close(timeout=2.0)


def _choose_mode(worker: str, projection: str | Projection, estimator: object) -> str:
    if worker != "auto":
        return worker
    # A process pays off when there is heavy work to move (docs/architecture.md, benchmarks/overhead.py); user
    # Projection objects and estimators that cannot ship their networks stay in a thread.
    # Looked up on the class: a wrapper that forwards attributes (sb3.VecNormalized) must not ship its inner part.
    shippable = estimator is None or callable(getattr(type(estimator), "export", None))
    return "process" if isinstance(projection, str) and shippable and estimator is not None else "thread"


def _cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _merge_batches(batches: list[CaptureBatch]) -> CaptureBatch:
    """One batch equivalent to ``batches`` applied in order: the newest row per slot wins, an update is superseded
    by a newer row of its slot, and a lane that left the sample stays out unless a newer row re-filled it."""
    updates: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for b in batches:
        updates = _merge_updates([_drop_slots(updates, b.slots), b.updates])
    with_rows = [b for b in batches if len(b.slots)]
    slots = np.concatenate([b.slots for b in with_rows]) if with_rows else np.zeros(0, np.int64)
    order = np.concatenate([np.full(len(b.slots), i) for i, b in enumerate(batches) if len(b.slots)]) \
        if with_rows else np.zeros(0, np.int64)
    keep = _last_occurrence(slots)
    keys = set.intersection(*(set(b.rows) for b in with_rows)) if with_rows else set()
    rows = {k: np.concatenate([b.rows[k] for b in with_rows])[keep] for k in keys - set(CONTEXT_FIELDS)}
    rows.update({k: v[keep] for k, v in _merge_context(with_rows).items()})
    slots, order = slots[keep], order[keep]
    removed = np.zeros(0, np.int64)
    gone = [(b.removed, i) for i, b in enumerate(batches) if len(b.removed)]
    if gone:
        lanes = np.concatenate([g for g, _ in gone]).astype(np.int64)
        when = np.concatenate([np.full(len(g), i) for g, i in gone])
        last = _last_occurrence(lanes)  # removals are in batch order: the last one of each lane
        lanes, when = lanes[last], when[last]
        # the batch of each lane's newest row (-1: none), looked up in the slot-sorted rows
        row_when = np.full(len(lanes), -1)
        if len(slots):
            srt = np.argsort(slots, kind="stable")
            pos = np.minimum(np.searchsorted(slots[srt], lanes), len(slots) - 1)
            row_when = np.where(slots[srt][pos] == lanes, order[srt][pos], -1)
        removed = lanes[when > row_when]
        if len(removed):  # rows written before their lane left: dropped with it
            stay = ~np.isin(slots, removed)
            slots, rows = slots[stay], {k: v[stay] for k, v in rows.items()}
            updates = _drop_slots(updates, removed)
    last_b = batches[-1]
    return CaptureBatch(slots, rows, batches[0].t_capture, last_b.hook_step, last_b.total_inserted,
                        last_b.evictions, updates, removed, last_b.resident, max(b.attempts for b in batches),
                        any(b.reread for b in batches),
                        next((b.map_mode for b in reversed(batches) if b.map_mode is not None), None))


def _merge_context(batches: list[CaptureBatch]) -> dict[str, np.ndarray]:
    """Window context (map_modes.CONTEXT_FIELDS) of batches copied before and after a switch to windows mode: the
    newest batch's k decides; rows without it get an all-padding context (ctx_valid 0). Such rows are older than
    the switch's re-read of every drawn row, which supersedes them."""
    out: dict[str, np.ndarray] = {}
    for name in CONTEXT_FIELDS:
        newest = next((b.rows[name] for b in reversed(batches) if name in b.rows), None)
        if newest is None:
            continue
        shape, dtype = newest.shape[1:], newest.dtype
        out[name] = np.concatenate([b.rows[name] if name in b.rows and b.rows[name].shape[1:] == shape
                                    else np.zeros((len(b.slots), *shape), dtype) for b in batches])
    return out


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
