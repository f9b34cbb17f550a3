"""``TrainingHook``: the one call a training loop makes. Copies new buffer rows and hands them to the worker."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..embed import Projection, make_projection
from ..widget.buffer_widget import BufferWidget
from .worker import CaptureBatch, LiveWorker

CAPTURED = ("obs", "action", "reward", "terminated", "truncated", "step", "episode", "episode_step")


@runtime_checkable
class BufferSource(Protocol):
    """What the hook reads. Insertion ``i`` lives in slot ``i % capacity`` (a ring)."""

    capacity: int
    total_inserted: int

    def read(self, slots: np.ndarray, fields: Any = None) -> dict[str, np.ndarray]: ...


class TrainingHook:
    """Streams a replay buffer into a :class:`BufferWidget` while training runs.

    Call :meth:`on_step` once per environment step (it is cheap: every ``every`` steps it copies only the rows
    inserted since the last copy). Projection and drawing happen in a background thread at most ``max_fps``
    times a second. Nothing here raises into the training loop: problems go to ``widget.errors``.
    """

    def __init__(self, widget: BufferWidget, buffer: BufferSource, *, every: int = 10,
                 projection: str | Projection = "auto", max_fps: float = 4.0, seed: int = 0) -> None:
        missing = [a for a in ("capacity", "total_inserted", "read") if not hasattr(buffer, a)]
        if missing:
            raise TypeError(f"{type(buffer).__name__} cannot be streamed: it lacks {', '.join(missing)} "
                            "(see better_rl_widget.capture.hook.BufferSource)")
        if not isinstance(widget, BufferWidget):
            raise TypeError(f"widget must be a BufferWidget, got {type(widget).__name__}")
        if int(every) < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.widget = widget
        self.buffer = buffer
        self.every = int(every)
        self.capacity = int(buffer.capacity)
        self.projection = projection = make_projection(projection, self.capacity, seed)
        self.step = 0
        self._seen = 0
        self._last_error = ""
        self._closed = False
        self.worker = LiveWorker(widget, self.capacity, projection, max_fps=max_fps)

    # -- training thread ----------------------------------------------------------------------------------
    def on_step(self, step: int | None = None) -> None:
        """Call once per environment step; copies new rows every ``every`` calls."""
        self.step = self.step + 1 if step is None else int(step)
        if self._closed or self.step % self.every:
            return
        self.capture()

    def capture(self) -> None:
        """Copy the rows inserted since the last capture and queue them for the worker (never raises)."""
        try:
            total = int(self.buffer.total_inserted)
            new = total - self._seen
            if new <= 0:
                return
            k = min(new, self.capacity)
            slots = np.arange(total - k, total, dtype=np.int64) % self.capacity
            rows = self.buffer.read(slots, CAPTURED)
            if not rows:
                return
            rows["done"] = np.logical_or(rows.pop("terminated"), rows.pop("truncated")).astype(np.uint8)
            self.worker.submit(CaptureBatch(slots, rows, time.perf_counter(), self.step, total,
                                            max(0, total - self.capacity)))
            self._seen = total
        except Exception as exc:  # noqa: BLE001 - training must go on; the widget shows what went wrong
            msg = f"capture: {type(exc).__name__}: {exc}"
            if msg != self._last_error:
                self._last_error = msg
                self.widget.report_error(msg + "\n" + traceback.format_exc(limit=2))

    # -- control --------------------------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Capture now and wait until the map shows everything inserted so far."""
        self.capture()
        return self.worker.flush(timeout)

    def close(self) -> None:
        """Final capture, final frame and keyframe, stop the worker. Idempotent."""
        if self._closed:
            return
        self.capture()
        self._closed = True
        self.worker.stop()
        self.widget.update_status(running=False)

    def __enter__(self) -> TrainingHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_in_background(self, train: Callable[[threading.Event], Any]) -> BackgroundRun:
        """Run ``train(stop_event)`` in a thread so the notebook stays responsive (clicks reach Python
        while it trains); the hook is closed when it returns. See :class:`BackgroundRun`."""
        return BackgroundRun(train, self)


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
