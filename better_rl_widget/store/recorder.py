"""``Recorder``: records a live run into a store from the hook's worker, off the training thread.

The training thread only appends metric and event tuples to a list (``log_metrics``, ``log_event``). The worker
calls :meth:`Recorder.on_frame` after each frame; at most every ``snapshot_every_s`` it copies the map (a
MapSnapshot) and a bounded, seeded sample of buffer rows, and queues them. A writer thread of its own encodes
and writes the chunks, so Parquet/NumPy encoding and file I/O never run on the training or worker thread.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from numbers import Real
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from ..frames.snapshot import MapSnapshot
from .manifest import jsonable
from .writer import RunWriter

if TYPE_CHECKING:
    from ..capture.mirror import BufferMirror

log = logging.getLogger("better_rl_widget")
_STOP = object()


class LiveMap(Protocol):
    """What :meth:`Recorder.on_frame` reads of the live map (a ``frames.FrameState``, or any capture map state)."""

    @property
    def size(self) -> int: ...

    def snapshot(self, step: int, time_s: float) -> MapSnapshot: ...


def td_stats(snap: MapSnapshot) -> dict[str, float]:
    """Summary statistics of the TD-errors (and Q, V, priority) on a snapshot's rows."""
    out: dict[str, float] = {"points": float(len(snap.slots))}
    td = snap.fields.get("td_error")
    if td is not None:
        a = np.abs(td[np.isfinite(td)]).astype(np.float64)
        out["td_count"] = float(len(a))
        if len(a):
            out.update(td_abs_mean=float(a.mean()), td_abs_p50=float(np.percentile(a, 50)),
                       td_abs_p90=float(np.percentile(a, 90)), td_abs_max=float(a.max()))
    for name in ("q", "value", "priority"):
        v = snap.fields.get(name)
        if v is not None and np.isfinite(v).any():
            out[f"{name}_mean"] = float(np.nanmean(v))
    return out


class Recorder:
    """Writes metrics, events, map snapshots and sampled buffer rows of one run. Thread-safe; never raises from
    the logging calls' hot path beyond a TypeError for values that are not numbers."""

    def __init__(self, writer: RunWriter, *, snapshot_every_s: float = 2.0, buffer_rows: int = 1024,
                 flush_every_s: float = 5.0, chunk_rows: int = 20_000, seed: int = 0,
                 buffer_fields: tuple[str, ...] | None = None) -> None:
        if snapshot_every_s < 0 or buffer_rows < 0 or flush_every_s <= 0 or chunk_rows < 1:
            raise ValueError("snapshot_every_s and buffer_rows must be >= 0, flush_every_s > 0, chunk_rows >= 1")
        self.writer = writer
        self.path = writer.path
        self.snapshot_every_s = float(snapshot_every_s)
        self.buffer_rows = int(buffer_rows)
        self.flush_every_s = float(flush_every_s)
        self.chunk_rows = int(chunk_rows)
        self.buffer_fields = buffer_fields
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._metrics: list[tuple[int, float, str, float]] = []
        self._events: list[tuple[int, float, str, str]] = []
        self._td_stats: list[dict[str, float]] = []  # recorder thread only
        self._last_snapshot = -np.inf
        self._n_snapshots = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self.errors: list[str] = []
        self.on_error: Callable[[str], None] | None = None  # e.g. the widget's error list (set by the hook)
        self.closed = False
        self.max_queued = 8
        self.snapshots_dropped = 0
        self.cpu_s = {"worker": 0.0, "recorder": 0.0}  # CPU time spent recording, per thread (benchmarks)
        self._thread = threading.Thread(target=self._run, name="better_rl_widget-recorder", daemon=True)
        self._thread.start()

    # -- any thread ---------------------------------------------------------------------------------------
    def log_metrics(self, step: int, **values: Any) -> None:
        """Record numbers at a training step, e.g. ``log_metrics(step, loss=0.3, episode_return=200.0)``."""
        self._check_open()
        step = _step(step)
        t = self.writer.elapsed()
        rows = []
        for name, v in values.items():
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (Real, np.number)):
                raise TypeError(f"metric {name!r} must be a number, got {type(v).__name__} {v!r}")
            rows.append((step, t, name, float(v)))
        with self._lock:
            self._metrics.extend(rows)

    def log_event(self, kind: str, step: int, **details: Any) -> None:
        """Record a named event (``"task_switch"``, ``"checkpoint"``, ...) with JSON-able details."""
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"event kind must be a non-empty string, got {kind!r}")
        self._check_open()
        step = _step(step)
        text = json.dumps(jsonable(details), sort_keys=True)
        with self._lock:
            self._events.append((step, self.writer.elapsed(), kind, text))

    def record_arrays(self, name: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Queue one chunk of an arrays stream (copied now, written by the recorder's thread)."""
        self._queue.put(("arrays", name, {k: np.array(v) for k, v in arrays.items()}))

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"the record at {self.path} is closed; nothing more is written to it")

    # -- worker thread ------------------------------------------------------------------------------------
    def on_frame(self, fs: LiveMap, mirror: BufferMirror | None, step: int, final: bool = False) -> None:
        """Called after each frame; takes a snapshot when one is due (always when ``final``)."""
        now = self.writer.elapsed()
        if self.closed or not (final or now - self._last_snapshot >= self.snapshot_every_s) or fs.size == 0:
            return
        self._last_snapshot = now
        if self._queue.qsize() >= self.max_queued and not final:  # the disk is behind: keep memory bounded
            self.snapshots_dropped += 1
            self._error(f"recording to {self.path}: writes are slower than snapshots, so some snapshots are "
                        "skipped (recorder.snapshots_dropped counts them)")
            return
        c0 = time.thread_time()
        snap = fs.snapshot(step, now)
        sample = self._sample(mirror, snap) if mirror is not None and self.buffer_rows else None
        self._n_snapshots += 1  # worker thread only: the sample's snapshot index is known when it is taken
        self._queue.put(("snapshot", snap, sample))
        self.cpu_s["worker"] += time.thread_time() - c0

    def _sample(self, mirror: BufferMirror, snap: MapSnapshot) -> dict[str, np.ndarray] | None:
        """Up to ``buffer_rows`` drawn slots, uniformly, with their buffer rows (observations included)."""
        slots = snap.slots.astype(np.int64)
        if len(slots) > self.buffer_rows:
            slots = np.sort(self._rng.choice(slots, self.buffer_rows, replace=False))
        names = ["obs"] + [n for n in mirror.fields if n != "next_obs"
                           and (self.buffer_fields is None or n in self.buffer_fields)]
        if mirror.obs is None:
            return None
        rows = mirror.rows(slots, tuple(names))
        return {"snapshot": np.full(len(slots), self._n_snapshots, np.int32), "slot": slots.astype(np.uint32),
                **{k: np.asarray(v) for k, v in rows.items() if np.asarray(v).dtype.kind in "biuf"}}

    # -- recorder thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            timeout = max(0.0, last_flush + self.flush_every_s - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            stop = item is _STOP
            c0 = time.thread_time()
            try:
                if item is not None and not stop:
                    self._write(item)
                with self._lock:
                    big = len(self._metrics) >= self.chunk_rows or len(self._events) >= self.chunk_rows
                if stop or big or time.monotonic() - last_flush >= self.flush_every_s:
                    self._flush_tables()
                    last_flush = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - a failing disk must not end training; it is reported
                self._error(f"recording to {self.path}: {type(exc).__name__}: {exc}")
            self.cpu_s["recorder"] += time.thread_time() - c0
            if stop:
                return

    def _write(self, item: tuple) -> None:
        if item[0] == "call":  # flush(): everything before it is written, tables included
            try:
                self._flush_tables()
            finally:
                item[1]()
            return
        if item[0] == "arrays":
            self.writer.append_arrays(item[1], item[2])
            return
        _, snap, sample = item
        self.writer.append_snapshot(snap)
        self._td_stats.append({"step": snap.step, "time_s": snap.time_s, **td_stats(snap)})
        if sample is not None:
            self.writer.append_arrays("buffer_sample", sample)

    def _flush_tables(self) -> None:
        if self._td_stats:
            rows, self._td_stats = self._td_stats, []
            self.writer.append_table("td_stats", pd.DataFrame(rows))
        with self._lock:
            metrics, self._metrics = self._metrics, []
            events, self._events = self._events, []
        if metrics:
            s, t, n, v = zip(*metrics)
            self.writer.append_table("metrics", {"step": np.array(s, np.int64), "time_s": np.array(t),
                                                 "name": list(n), "value": np.array(v, np.float64)})
        if events:
            s, t, k, d = zip(*events)
            self.writer.append_table("events", {"step": np.array(s, np.int64), "time_s": np.array(t),
                                                "kind": list(k), "details": list(d)})

    def _error(self, msg: str) -> None:
        if not self.errors or self.errors[-1] != msg:
            log.warning(msg)
            if self.on_error is not None:
                self.on_error(msg)
        self.errors.append(msg)
        del self.errors[:-50]

    def flush(self, timeout: float = 30.0) -> None:
        """Write everything logged or queued so far."""
        done = threading.Event()
        self._queue.put(("call", done.set))
        done.wait(timeout)

    def close(self, status: str = "finished", timeout: float = 60.0) -> None:
        """Write what is pending and mark the run complete. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._error(f"recording to {self.path}: the writer did not finish within {timeout} s")
            return
        self.writer.close(status)


def _is_number(v: Any) -> bool:
    # A plain predicate, not an isinstance narrowing: typeshed's numbers.Real declares no __int__.
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (Real, np.number))


def _step(step: Any) -> int:
    """A training step as an int; a clear error naming it otherwise (NaN, a string, a fraction)."""
    if not _is_number(step) or not np.isfinite(step) or float(step) != int(step):
        raise ValueError(f"step must be a whole number, got {type(step).__name__} {step!r}")
    return int(step)
