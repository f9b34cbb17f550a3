"""``TrainingHook``: the one call a training loop makes. Copies new buffer rows and hands them to the worker."""

from __future__ import annotations

import inspect
import logging
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..embed import Projection
from .map_modes import check_map_mode, read_context
from .options import DEFAULT_MAX_POINTS, LiveOptions, resolve_options
from .record import RecordBuffer
from .replay_counts import ReplayCounter, check_factor, check_slots
from .sampler import MapSample
from .sink import MapSink, missing_members
from .worker import CaptureBatch, LiveWorker

if TYPE_CHECKING:
    from ..store import Recorder

log = logging.getLogger(__name__)
CAPTURED = ("obs", "action", "reward", "terminated", "truncated", "step", "episode", "episode_step")
__all__ = ["CAPTURED", "DEFAULT_MAX_POINTS", "BackgroundRun", "BufferSource", "TrainingHook"]


@runtime_checkable
class BufferSource(Protocol):
    """What the hook reads. By default insertion ``i`` lives in slot ``i % capacity`` (a ring).

    Optional, for buffers that are more than a ring written in order (all adapters implement them):

    - ``take_changes() -> (written, reprioritised)``: slot ids written since the last call (in write order) and
      slot ids whose priority changed; the hook copies full rows for the first and only ``optional_fields``
      for the second, so its cost stays proportional to what changed.
    - ``optional_fields``: extra per-slot fields ``read`` can return, e.g. ``("priority",)``.
    - ``has_next_obs = False``: rows carry no next observation (TD-errors cannot be computed; shown in the widget).
    - ``note``: a sentence the widget shows (e.g. how observations were flattened).
    - ``replay_counts``: a :class:`~.replay_counts.ReplayCounter` the buffer's sampling updates; the hook streams
      the drawn rows' counts and staleness as the ``replays``/``staleness`` channels (None: not available).
    - ``scale_priorities(slots, factor) -> (old, new)``: what :meth:`TrainingHook.reprioritize` calls.

    Vectorised buffers flatten (index, env) to one slot id ``index · n_envs + env`` (see the adapters).
    """

    @property
    def capacity(self) -> int: ...

    @property
    def total_inserted(self) -> int: ...

    def read(self, slots: np.ndarray, fields: Any = None) -> dict[str, np.ndarray]: ...


class TrainingHook:
    """Streams a replay buffer into a :class:`BufferWidget` (any :class:`~.sink.MapSink`) while training runs.

    Call :meth:`on_step` once per environment step (it is cheap: every ``every`` steps it copies only the rows
    inserted since the last copy). Estimates, projection and drawing happen in a background worker (a thread, and
    with a q_network a child process for the heavy part) at most ``max_fps`` times a second. Nothing here raises
    into the training loop: problems go to ``widget.errors``.
    """

    def __init__(self, widget: MapSink, buffer: BufferSource, *, options: LiveOptions | None = None,
                 q_network: Any = None, target_network: Any = None, estimator: Any = None, record: Any = None,
                 **option_kwargs: Any) -> None:
        """``options``: a :class:`~.options.LiveOptions` (every, projection, max_fps, worker, max_points, ...);
        the same names given as keyword arguments override it (without ``options``: override the defaults).
        ``record``: a run directory (path or fsspec URL) to record into, see :meth:`record_to`.
        ``q_network`` (a torch module mapping observations to one Q-value per action) turns on TD-errors,
        Q/V and features, computed in the worker from a CPU snapshot refreshed every ``snapshot_every_s``;
        ``estimator``: instead of a q_network, any object with TDEstimator's interface (e.g. a
        :class:`~better_rl_widget.capture.critic_estimator.CriticEstimator` for SAC/TD3);
        ``embed``: "auto" (features when a q_network gives them, else observations), "obs" or "features";
        ``worker``: where estimates and projection run — "thread", "process" (a child process: no CPU or GIL
        time taken from training) or "auto" (docs/architecture.md says which and why)."""
        missing = [a for a in ("capacity", "total_inserted", "read") if not hasattr(buffer, a)]
        if missing:
            raise TypeError(f"{type(buffer).__name__} cannot be streamed: it lacks {', '.join(missing)} "
                            "(see better_rl_widget.capture.hook.BufferSource)")
        if not isinstance(widget, MapSink):
            raise TypeError(f"widget must be a BufferWidget (a better_rl_widget.capture.sink.MapSink), got "
                            f"{type(widget).__name__}, which lacks {', '.join(missing_members(widget, MapSink))}")
        self.options = o = resolve_options(options, option_kwargs)
        map_mode = _resolve_map_mode(o, widget)
        if o.sample == "priority" and "priority" not in tuple(getattr(buffer, "optional_fields", ())):
            raise ValueError(f"sample='priority' needs a buffer that reports priorities; {type(buffer).__name__} "
                             "has no 'priority' in optional_fields (use sample='age')")
        if q_network is not None and estimator is not None:
            raise ValueError("pass either q_network or estimator, not both")
        if q_network is not None:
            from .estimator import TDEstimator  # imports torch, an optional dependency

            estimator = TDEstimator.from_options(q_network, target_network, o)
        self.widget = widget
        self.buffer = buffer
        self.every = o.every
        self.copy_every_s = o.copy_every_s
        self._next_copy = 0.0  # monotonic time from which the next copy is due
        self._copy_mark = (0, 0)  # (step, total_inserted) at the last copy
        self._rows_per_step = 1.0  # measured: how many rows one on_step() call brings
        self.capacity = int(buffer.capacity)
        self.step = 0
        self._seen = 0
        self._last_error = ""
        self._closed = False
        self._closed_at: int | None = None  # total_inserted when close() ran: later rows are counted, not drawn
        self.rows_after_close = 0
        self._after_close_shown = 0.0
        take_changes = getattr(buffer, "take_changes", None)  # optional: see BufferSource
        self._take_changes: Callable[[], tuple[np.ndarray, np.ndarray]] | None = (
            take_changes if callable(take_changes) else None)
        self.optional_fields = tuple(getattr(buffer, "optional_fields", ()))
        self.replay_counts: ReplayCounter | None = getattr(buffer, "replay_counts", None)
        self._replays_sent: tuple[np.ndarray, np.ndarray] | None = None  # per lane: last replays/staleness sent
        self._reprioritize_queue: deque[tuple[np.ndarray, float]] = deque()  # applied on the training thread
        self.reprioritized: list[dict[str, Any]] = []  # what reprioritize changed (a log)
        self._background: BackgroundRun | None = None
        has_next = bool(getattr(buffer, "has_next_obs", True))
        self.fields = CAPTURED + self.optional_fields + (("next_obs",) if estimator and has_next else ())
        # The map mode (capture/map_modes.py): windows read each drawn row's k-1 earlier pairs when it is copied.
        self._map_mode: tuple[str, int] = map_mode
        self._mode_request: tuple[str, int] | None = None  # set by set_map_mode, taken by the next copy
        self._mode_lock = threading.Lock()  # the view's thread sets a request, the training thread takes it
        self._stride = max(1, int(getattr(buffer, "n_envs", 1) or 1))  # vectorised: env e's rows are n_envs apart
        self._resident = 0
        self.sample = MapSample(self.capacity, o.max_points, by=o.sample, seed=o.seed)
        self.worker = LiveWorker(widget, self.sample.lanes, o, estimator=estimator, sample=self.sample,
                                 td_needs_next=not (estimator is not None and not has_next), map_mode=map_mode)
        # Dropped without close(): stop the worker (and its process) rather than leave them running.
        self._finalizer = weakref.finalize(self, self.worker.abandon)  # detached by close(): nothing left to stop
        me = weakref.ref(self)  # the governor times training by this hook's steps (a weak link: GC still works)
        self.worker.governor.step_count = lambda: h.step if (h := me()) is not None else 0
        self._governor = self.worker.governor
        # A worker process imports torch and openTSNE (seconds of CPU): let that happen now, before training, so
        # it neither slows the first seconds of training nor delays the first frames.
        if not self.worker.ready.wait(timeout=60.0):
            widget.add_note("the worker is still starting; the map appears when it is ready")
        for note in (getattr(buffer, "note", ""),):
            if note:
                widget.add_note(note)
        enable_saliency = getattr(widget, "enable_saliency", None)  # widget-specific, not part of MapSink
        if q_network is not None and enable_saliency is not None:  # image states: the inspector shows saliency
            enable_saliency(q_network)
        if estimator is not None and not has_next:
            widget.add_note("TD-errors off: this buffer stores no next observations (e.g. SB3's "
                            "optimize_memory_usage=True); Q-values, V and features are still shown")
        self.recorder: Recorder | None = None
        if record is not None:
            self.record_to(record)
        self._unwatch_mode = self._watch_map_mode()

    @classmethod
    def for_loop(cls, widget: MapSink, capacity: int = 50_000, *, n_envs: int = 1,
                 observation_space: Any = None, **kwargs: Any) -> TrainingHook:
        """A hook that keeps its own bounded mirror, for loops whose buffer is their own: call
        :meth:`record` once per environment step (batched over ``n_envs``)."""
        return cls(widget, RecordBuffer(capacity, n_envs=n_envs, observation_space=observation_space), **kwargs)

    def record(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminated: Any, truncated: Any) -> None:
        """Store one transition (or one per env) in the hook's mirror and count a step. Never raises."""
        if not isinstance(self.buffer, RecordBuffer):
            self._report("record: this hook streams a buffer of yours; call on_step() after adding to it, or "
                         "create the hook with TrainingHook.for_loop(widget, capacity)")
            return
        try:
            self.buffer.record(obs, action, reward, next_obs, terminated, truncated)
        except Exception as exc:  # noqa: BLE001 - training must go on
            self._report(f"record: {type(exc).__name__}: {exc}")
            return
        self.on_step()

    # -- training thread ----------------------------------------------------------------------------------
    @property
    def projection(self) -> Projection | None:
        """The projection engine when it runs in this process (None when it runs in a worker process)."""
        return self.worker.projection

    def on_step(self, step: int | None = None) -> None:
        """Call once per environment step; copies new rows every ``every`` calls."""
        if step is None:
            self.step += 1
        else:
            try:
                self.step = int(step)
            except (TypeError, ValueError, OverflowError):  # e.g. NaN: the loop must not stop for a counter
                self.step += 1
                self._report(f"on_step: step={step!r} is not an integer; this call counts as the next step")
        if self._reprioritize_queue:
            self._apply_reprioritize()
        if self._closed:
            self._after_close()
            return
        if self.step % self.every or self._governor.paused or not self.copy_due():  # paused: see governor.py
            return
        self.capture()

    def copy_due(self) -> bool:
        """Whether a copy is due at this ``every``-th step: ``copy_every_s`` passed since the last one, or the
        buffer may soon overwrite rows not copied yet (half its capacity written since, at the measured rows per
        step). Frames come about once a second, so copying every 10 steps (80 times a second here) only spent
        training time: each copy is a few hundred microseconds of numpy calls on the training thread."""
        if time.monotonic() >= self._next_copy:
            return True
        return (self.step - self._copy_mark[0]) * self._rows_per_step >= self.capacity // 2

    def capture(self) -> None:
        """Copy the rows inserted since the last capture and queue them for the worker (never raises)."""
        if self._closed:
            self._after_close()
            return
        t0 = time.thread_time()
        self._next_copy = time.monotonic() + self.copy_every_s
        try:
            self._capture()
            self._mark_copy()
        finally:  # the copy runs on the training thread: it counts against the map's cost budget
            self.worker.governor.add_capture_cpu(time.thread_time() - t0)

    def _mark_copy(self) -> None:
        step, total = self.step, self._seen
        ds, dn = step - self._copy_mark[0], total - self._copy_mark[1]
        if ds > 0 and dn > 0:
            self._rows_per_step = dn / ds
        self._copy_mark = (step, total)

    def _capture(self) -> None:
        try:
            total = int(self.buffer.total_inserted)
            resident = min(total, self.capacity)
            self._resident = resident
            self._reread(total, resident)
            self._switch_map_mode(total, resident)
            rep = np.zeros(0, np.int64)
            if self._take_changes is not None:
                slots, rep = self._take_changes()
                slots = np.asarray(slots, np.int64)
                rep = np.asarray(rep, np.int64)
                if len(slots) > self.capacity:
                    slots = slots[-self.capacity:]
                if len(rep) and len(slots):  # a slot written since the last copy: its row carries its priority now
                    rep = rep[~np.isin(rep, slots)]
            else:
                k = min(total - self._seen, self.capacity)
                slots = np.arange(total - k, total, dtype=np.int64) % self.capacity
            counted = self.replay_counts is not None and self.replay_counts.calls > 0  # no channel before training
            if len(slots) == 0 and not (len(rep) and self.optional_fields) and not counted:
                return
            lanes, read, removed, updates = self._to_lanes(slots, rep, resident)
            if counted:
                updates.update(self._replay_updates(resident, lanes))
            rows = self._read(read)
            if len(read) and not rows:
                return
            if len(lanes) == 0 and not updates and len(removed) == 0:
                self._seen = total
                return
            self.worker.submit(CaptureBatch(lanes, rows, time.perf_counter(), self.step, total,
                                            max(0, total - self.capacity), updates, removed, resident))
            self._seen = total
        except Exception as exc:  # noqa: BLE001 - training must go on; the widget shows what went wrong
            self._report(f"capture: {type(exc).__name__}: {exc}", traceback.format_exc(limit=2))

    def _replay_updates(self, resident: int, fresh: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The drawn lanes' replay counts and staleness (≤ max_points gathers), only where they changed since
        last sent: a count when it differs; staleness, which grows with every training batch, when it moved by
        a quarter (else every drawn row would go into every delta). Lanes given a new row in this batch
        (``fresh``) always get both: the worker drops older updates of a lane that has a newer row."""
        counter = self.replay_counts
        assert counter is not None
        sample = self.sample
        lanes = np.arange(min(resident, sample.lanes), dtype=np.int64) if sample.identity \
            else np.flatnonzero(sample.lane_slot >= 0)
        slots = lanes if sample.identity else sample.lane_slot[lanes]
        counts, stale = counter.read(slots), counter.staleness(slots)
        if self._replays_sent is None:
            self._replays_sent = (np.full(sample.lanes, -1.0, np.float32), np.full(sample.lanes, -1.0, np.float32))
        sent_c, sent_s = self._replays_sent
        sent_c[fresh], sent_s[fresh] = -1.0, -1.0
        new_c = counts != sent_c[lanes]
        new_s = new_c | (np.abs(stale - sent_s[lanes]) > 0.25 * np.maximum(sent_s[lanes], 4.0))
        sent_c[lanes[new_c]] = counts[new_c]
        sent_s[lanes[new_s]] = stale[new_s]
        return {"replays": (lanes[new_c], counts[new_c]), "staleness": (lanes[new_s], stale[new_s])}

    def _read(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        rows = self.buffer.read(slots, self.fields) if len(slots) else {}
        if rows:
            self._check_read(rows, len(slots), CAPTURED)
            rows["done"] = np.logical_or(rows["terminated"], rows.pop("truncated")).astype(np.uint8)
            mode, k = self._map_mode
            if mode == "windows" and k > 1:  # k-1 more rows per drawn row, windows mode only
                rows.update(read_context(self.buffer.read, rows, slots, k, self.capacity, self._resident,
                                         self._stride))
            if not self.sample.identity:
                rows["slot"] = slots  # the inspector names the buffer's slot
        return rows

    def _reread(self, total: int, resident: int) -> None:
        """Rows the worker could not draw in two frames: read them again from the buffer (their lanes' current
        slots; a lane emptied meanwhile is skipped)."""
        lanes = self.worker.take_reread()
        if len(lanes) == 0:
            return
        slots = lanes if self.sample.identity else self.sample.slot_of(lanes)
        keep = (slots >= 0) & (slots < resident)
        lanes, slots = lanes[keep], slots[keep]
        rows = self._read(slots)
        if rows:
            self.worker.submit(CaptureBatch(lanes, rows, time.perf_counter(), self.step, total,
                                            max(0, total - self.capacity), resident=resident, reread=True))

    def _to_lanes(self, slots: np.ndarray, rep: np.ndarray, resident: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Written slots → (their lanes, the slots to read, lanes that leave the map, field updates by lane).
        Only rows the map draws are read: with a sample of a large buffer, a small share of each capture."""
        sample = self.sample
        got: dict[str, np.ndarray] = {}
        if len(rep) and self.optional_fields:
            got = {k: np.asarray(v) for k, v in self.buffer.read(rep, self.optional_fields).items()}
            self._check_read(got, len(rep))
        if sample.identity:
            return slots, slots, np.zeros(0, np.int64), {k: (rep, v) for k, v in got.items()}
        prio = None
        if sample.by == "priority" and len(slots):
            prio = np.asarray(self.buffer.read(slots, ("priority",))["priority"])
        adm = sample.admit(slots, resident, prio)
        lanes, read, removed = adm.lanes, adm.slots, [adm.removed]
        if "priority" in got and sample.by == "priority":
            enter, leave = sample.reconsider(rep, got["priority"])
            removed.append(leave)
            if len(enter):
                e = sample.enter(enter)
                lanes, read = np.concatenate([lanes, e.lanes]), np.concatenate([read, e.slots])
        updates: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if got:
            rl = sample.lane_of(rep)
            keep = rl >= 0
            updates = {k: (rl[keep], v[keep]) for k, v in got.items()}
        gone = np.unique(np.concatenate(removed)) if removed else np.zeros(0, np.int64)
        return lanes, read, gone[~np.isin(gone, lanes)], updates

    def _check_read(self, rows: dict[str, Any], n: int, required: tuple[str, ...] = ()) -> None:
        """What ``read`` returned must be one row per slot: named here rather than failing later in the worker
        (where a batch's rows would be lost without saying which field was wrong)."""
        missing = [k for k in required if k not in rows]
        wrong = [f"{k!r} with shape {np.shape(v)}" for k, v in rows.items() if np.ndim(v) == 0 or len(v) != n]
        if missing or wrong:
            what = (f"no {', '.join(map(repr, missing))}" if missing else "") + \
                ("; " if missing and wrong else "") + (", ".join(wrong) if wrong else "")
            raise ValueError(f"{type(self.buffer).__name__}.read() returned {what} for {n} slots: each field "
                             "needs one row per slot (see BufferSource)")

    def _after_close(self, refresh: bool = False) -> None:
        """Rows that reach a closed hook are never drawn (its worker has stopped): count them, say so once."""
        try:
            total = int(self.buffer.total_inserted)
        except Exception:  # noqa: BLE001 - nothing to count with; training must go on
            return
        if self._closed_at is None or total <= self._closed_at:
            return
        first = self.rows_after_close == 0
        self.rows_after_close = total - self._closed_at
        now = time.monotonic()
        if first:
            self._tell_sink("report_error", "rows added after hook.close() are not drawn: this hook has stopped "
                            "(counted in the status as rows_after_close); create a new TrainingHook to keep "
                            "streaming")
        # A loop that keeps going after close() would otherwise send a status message every step.
        if first or refresh or now - self._after_close_shown >= 0.5:
            self._after_close_shown = now
            self._tell_sink("update_status", rows_after_close=self.rows_after_close)

    def _tell_sink(self, method: str, *args: Any, **kwargs: Any) -> None:
        try:
            getattr(self.widget, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the widget may be gone; the log still has it
            log.warning("better_rl_widget: widget.%s(%s) failed: %s", method, args[0] if args else kwargs, exc)

    def _report(self, msg: str, detail: str = "") -> None:
        if msg != self._last_error:
            self._last_error = msg
            self.widget.report_error(msg + ("\n" + detail if detail else ""))

    # -- run records (better_rl_widget.store) --------------------------------------------------------------
    def record_to(self, path: Any, manifest: dict | None = None, **options: Any) -> Recorder:
        """Record this run into a store at ``path``: map snapshots and sampled buffer rows (from the worker, at
        most every ``snapshot_every_s``), plus what :meth:`log_metrics` / :meth:`log_event` are given. Written
        by a thread of its own; ``options`` go to :class:`~better_rl_widget.store.Recorder`."""
        from ..store import Recorder, RunWriter, run_manifest

        if self._closed:
            raise RuntimeError("this hook is closed: nothing more reaches its map or a record; call record_to "
                               "before training (or pass record=PATH to TrainingHook)")
        if self.recorder is not None:
            raise RuntimeError(f"this hook already records to {self.recorder.path}")
        self.recorder = rec = Recorder(RunWriter(path, manifest or run_manifest(config={"every": self.every,
                                                                                      "capacity": self.capacity})),
                                       **options)
        rec.on_error = self.widget.report_error  # a failing disk shows in the widget; training goes on
        worker, me = self.worker, weakref.ref(self)  # weak: the finaliser above holds the worker, not the hook

        def on_frame(final: bool) -> None:
            hook = me()
            rec.on_frame(worker.frame_state, worker.mirror, hook.step if hook is not None else 0, final)

        worker.frame_listeners.append(on_frame)
        return rec

    def log_metrics(self, step: int, **values: Any) -> None:
        """Record numbers (returns, losses, ...) at ``step`` in the run record. Never raises."""
        self._to_recorder("log_metrics", step, **values)

    def log_event(self, kind: str, step: int | None = None, **details: Any) -> None:
        """Record an event (``"task_switch"``, ``"checkpoint"``, ...) at ``step`` (default: the hook's). Never
        raises."""
        self._to_recorder("log_event", kind, self.step if step is None else step, **details)

    def _to_recorder(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.recorder is None:
            self._report(f"{method}: this hook records no run (pass record=PATH or call hook.record_to(PATH))")
            return
        try:
            getattr(self.recorder, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - training must go on
            self._report(f"{method}: {type(exc).__name__}: {exc}")

    # -- acting on training ---------------------------------------------------------------------------------
    def reprioritize(self, slots: Any, factor: float) -> int:
        """Multiply the sampling priorities of buffer ``slots`` (e.g. ``widget.selection``) by ``factor``.

        For prioritized buffers only: the reference ``PrioritizedReplayBuffer``, TorchRL's ``PrioritizedSampler``
        and Tianshou's ``PrioritizedReplayBuffer`` (through their adapters). The priority scaled is the sampling
        weight ``p^α`` the map shows, so a slot's chance of being drawn scales by ``factor``; nothing else changes.
        Never done unless called.

        Thread safety: while :meth:`run_in_background` trains, the change is queued and applied on the training
        thread at its next :meth:`on_step` (between two training steps, so a concurrent ``sample`` never sees a
        half-updated tree); otherwise it is applied now. Arguments are checked here, on the caller's thread:
        ValueError for a bad factor (<= 0, NaN, inf), no slots, or slots outside the written buffer; TypeError
        for a buffer without priorities. Returns the number of slots changed (or queued); each change is logged
        and kept in :attr:`reprioritized`.
        """
        scale = getattr(self.buffer, "scale_priorities", None)
        if not callable(scale) or "priority" not in self.optional_fields:
            raise TypeError(f"{type(self.buffer).__name__} has no priorities to change: reprioritize needs a "
                            "prioritized buffer (PrioritizedReplayBuffer, TorchRL's PrioritizedSampler, "
                            "Tianshou's PrioritizedReplayBuffer)")
        factor = check_factor(factor)
        resident = min(int(self.buffer.total_inserted), self.capacity)
        chosen = check_slots(slots, resident, self.capacity)
        run = self._background
        if run is not None and not run.done:
            self._reprioritize_queue.append((chosen, factor))
            log.info("better_rl_widget: reprioritize of %d slots by %g queued for the next training step",
                     len(chosen), factor)
            return len(chosen)
        self._reprioritize_queue.append((chosen, factor))
        self._apply_reprioritize(raise_errors=True)
        return len(chosen)

    def _apply_reprioritize(self, raise_errors: bool = False) -> None:
        while self._reprioritize_queue:
            slots, factor = self._reprioritize_queue.popleft()
            try:
                # The buffer may have overwritten some slots since the call: they hold other transitions now.
                resident = min(int(self.buffer.total_inserted), self.capacity)
                slots = slots[slots < resident]
                old, new = self.buffer.scale_priorities(slots, factor)  # type: ignore[attr-defined]
            except Exception as exc:  # on the training thread: shown, never raised
                if raise_errors:
                    raise
                self._report(f"reprioritize: {type(exc).__name__}: {exc}")
                continue
            entry = {"step": self.step, "slots": slots, "factor": factor, "old": np.asarray(old),
                     "new": np.asarray(new)}
            self.reprioritized.append(entry)
            del self.reprioritized[:-100]
            log.info("better_rl_widget: reprioritized %d slots by %g at step %d", len(slots), factor, self.step)
            self._tell_sink("add_note", f"reprioritized {len(slots)} transitions ×{factor:g} at step {self.step}")

    # -- map mode (capture/map_modes.py) -------------------------------------------------------------------
    @property
    def map_mode(self) -> tuple[str, int]:
        """(mode, window_k) the hook copies rows for; the map follows at its next frame."""
        return self._mode_request or self._map_mode

    def set_map_mode(self, mode: str | None = None, window_k: int | None = None) -> None:
        """What the map's points embed: ``"states"``, ``"state-actions"`` (the state joined with its action) or
        ``"windows"`` of ``window_k`` consecutive (state, action) pairs of one episode ending at the drawn
        transition. Applied at the next copy (an ``on_step`` that copies, or :meth:`flush`): the projection is
        rebuilt for the new features and the map redraws. The widget's ``map_mode`` / ``window_k`` traits (and
        the view's selects) call this. ValueError/TypeError for a bad mode or k; RuntimeError after close()."""
        cur = self.map_mode
        mode, k = check_map_mode(cur[0] if mode is None else mode, cur[1] if window_k is None else window_k)
        if self._closed:
            raise RuntimeError("this hook is closed: the map mode can change only while the hook runs (its "
                               "worker has stopped)")
        now = self._map_mode
        if not isinstance(self.options.projection, str) and (mode != now[0] or (mode == "windows" and k != now[1])):
            raise ValueError(f"the map mode stays {now[0]!r}: a Projection object of yours cannot be rebuilt for "
                             "other features (pass projection='auto', 'tsne' or 'pca', or map_mode= when creating "
                             "the hook)")
        with self._mode_lock:
            self._mode_request = None if (mode, k) == self._map_mode else (mode, k)
        self._show_map_mode(mode, k)

    def _show_map_mode(self, mode: str, k: int) -> None:
        show = getattr(self.widget, "show_map_mode", None)  # the widget's traits and the view's selects follow
        if show is not None:
            show(mode, k)

    def _watch_map_mode(self) -> Callable[[], None] | None:
        """Follow the widget's map_mode / window_k traits (set from Python or from the view)."""
        on_map_mode = getattr(self.widget, "on_map_mode", None)  # widget-specific, not part of MapSink
        if on_map_mode is None:
            return None
        self._show_map_mode(*self._map_mode)
        me = weakref.ref(self)  # the widget must not keep a dropped hook alive

        def follow(mode: str, k: int) -> None:
            hook = me()
            if hook is None:
                return
            try:
                hook.set_map_mode(mode, k)
            except (RuntimeError, ValueError) as exc:  # refused: shown, and the view's select goes back
                if not hook._closed:
                    hook._show_map_mode(*hook.map_mode)
                hook._tell_sink("report_error", f"map mode: {exc}")

        return on_map_mode(follow)

    def _switch_map_mode(self, total: int, resident: int) -> None:
        """A requested map mode reaches the worker with the rows it needs: for windows, every drawn row read
        again with its context (once per switch: k rows per drawn row)."""
        if self._mode_request is None:  # the common case: no lock taken on the training thread
            return
        with self._mode_lock:
            req, self._mode_request = self._mode_request, None
            if req is None:
                return
            self._map_mode = req
        lanes, rows = np.zeros(0, np.int64), {}
        if req[0] == "windows" and req[1] > 1:
            sample = self.sample
            lanes = np.arange(min(resident, sample.lanes), dtype=np.int64) if sample.identity \
                else np.flatnonzero(sample.lane_slot >= 0)
            slots = lanes if sample.identity else sample.lane_slot[lanes]
            keep = (slots >= 0) & (slots < resident)
            lanes, slots = lanes[keep], slots[keep]
            rows = self._read(slots)
            if not rows:
                lanes = lanes[:0]
        self.worker.submit(CaptureBatch(lanes, rows, time.perf_counter(), self.step, total,
                                        max(0, total - self.capacity), resident=resident, map_mode=req))

    # -- control --------------------------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Capture now and wait until the map shows everything inserted so far. After close(): False when rows
        arrived since (they are not drawn, see :meth:`close`)."""
        if self._closed:
            self._after_close(refresh=True)
            return self.rows_after_close == 0
        self.capture()
        return self.worker.flush(timeout)

    def close(self) -> None:
        """Final capture, final frame and keyframe, stop the worker. Idempotent. Rows added later are not drawn:
        they are counted in ``rows_after_close`` (and the widget's status) and reported once."""
        if self._closed:
            self._after_close(refresh=True)
            return
        try:
            before = int(self.buffer.total_inserted)
        except Exception:  # noqa: BLE001 - without it, later rows cannot be counted; closing goes on
            before = None
        self.capture()
        # What the final capture saw (it may have seen rows added while closing): later rows are counted.
        self._closed_at = None if before is None else max(before, self._seen)
        self._closed = True
        if self._unwatch_mode is not None:
            self._unwatch_mode()
        self.worker.stop()
        self._finalizer.detach()
        if self.recorder is not None:
            self.recorder.close()
        self.widget.update_status(running=False)

    def __enter__(self) -> TrainingHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_in_background(self, train: Callable[[threading.Event], Any]) -> BackgroundRun:
        """Run ``train(stop_event)`` in a thread so the notebook stays responsive (clicks reach Python
        while it trains); the hook is closed when it returns. See :class:`BackgroundRun`."""
        if self._closed:
            raise RuntimeError("this hook is closed; create a new TrainingHook for another run")
        self._background = run = BackgroundRun(train, self)
        return run


def _resolve_map_mode(o: LiveOptions, widget: Any) -> tuple[str, int]:
    """The options' map mode, or else the widget's traits (``BufferWidget(map_mode="windows")``), checked."""
    mode = o.map_mode if o.map_mode is not None else getattr(widget, "map_mode", "states")
    k = o.window_k if o.window_k is not None else getattr(widget, "window_k", 4)
    return check_map_mode(mode, k)


def _advertised_signature(init: Callable) -> inspect.Signature:
    """``__init__``'s signature with ``**option_kwargs`` spelled out as the LiveOptions fields and their defaults:
    help(), IDEs and callers that check which options exist (``inspect.signature``) see every name."""
    sig = inspect.signature(init)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    defaults = LiveOptions()
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=getattr(defaults, name),
                                 annotation=LiveOptions.__dataclass_fields__[name].type)
               for name in LiveOptions.names()]
    return sig.replace(parameters=params)


# inspect.signature (help(), the notebook's tooltips) reads __signature__; typeshed's function type lacks it
TrainingHook.__init__.__signature__ = _advertised_signature(TrainingHook.__init__)  # type: ignore[attr-defined]


class BackgroundRun:
    """A training function running in a daemon thread. ``stop()`` asks it to end (it should check the event);
    ``join()`` waits and re-raises its exception; the exception is also shown in the widget."""

    def __init__(self, train: Callable[[threading.Event], Any], hook: TrainingHook) -> None:
        self.stop_event = threading.Event()
        self.hook = hook
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(train,), name="better_rl_widget-train",
                                        daemon=True)
        self._thread.start()

    def _main(self, train: Callable[[threading.Event], Any]) -> None:
        try:
            self.result = train(self.stop_event)
        except BaseException as exc:  # noqa: BLE001 - kept for join() and shown in the widget
            self.error = exc
            self.hook.widget.report_error(f"training stopped: {type(exc).__name__}: {exc}")
        finally:
            self.hook.close()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> Any:
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result
