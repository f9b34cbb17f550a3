"""The cost governor: keeps the live map's CPU time within ``budget`` × the training's CPU time.

What is measured (Linux per-thread and per-process CPU clocks, no sampling profiler):

- the map's CPU: the worker thread (``time.pthread_getcpuclockid``), the engine's child process when there is one
  (``/proc/<pid>/stat``), and the hook's copies on the training thread (timed where they happen);
- the training's CPU: this process's CPU time minus the map's threads and copies.

``cost`` is their ratio over the last ``window_s`` seconds. On a machine whose cores training keeps busy (torch's
intra-op threads spin on every core) a CPU-second the map takes is a CPU-second training does not get, so the
ratio bounds the share of training throughput the map costs; where a core is idle it overstates it (the budget
then errs on the safe side). ``benchmarks/real_overhead.py`` sets it against the measured steps/s ratio.

Frames are paid from a token bucket: training's CPU earns ``budget`` × its CPU-seconds of credit, each frame
spends what it measured, and the next frame waits until the credit is back above zero. Budget beats frame rate:
on a slow or busy machine the map draws fewer frames, never more CPU.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_cpu(ident: int | None) -> float:
    """CPU seconds of a thread of this process (by ``threading`` ident); 0 where the clock is unavailable."""
    if ident is None:
        return 0.0
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (AttributeError, OSError, ValueError):
        return 0.0


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of another process, from ``/proc``; 0 when it is gone or unreadable."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


class CostGovernor:
    """See the module doc. ``budget``: the map's CPU as a share of training's (0.05 = 5 %)."""

    def __init__(self, budget: float = 0.05, *, window_s: float = 10.0, max_credit_frames: float = 2.0) -> None:
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"cost_budget must be in (0, 1], got {budget}")
        self.budget = float(budget)
        self.window_s = float(window_s)
        self.max_credit_frames = float(max_credit_frames)
        self._lock = threading.Lock()
        self.worker_ident: int | None = None
        self.child_pid: int | None = None
        self._capture_cpu = 0.0  # CPU of the hook's copies on the training thread
        self._credit = 0.0
        self._frame_cpu = 0.0  # last frame's CPU, for the credit cap
        self._frame_start = 0.0
        self._samples: deque[tuple[float, float, float]] = deque()  # (wall, map cpu, training cpu)
        self._last: tuple[float, float, float] | None = None
        self._child_base = 0.0
        self.cost: float | None = None

    # -- clocks ---------------------------------------------------------------------------------------------
    def add_capture_cpu(self, seconds: float) -> None:
        """The hook's copy on the training thread took ``seconds`` of its CPU (counted as the map's)."""
        self._capture_cpu += seconds

    def set_child(self, pid: int | None) -> None:
        """A child engine process: its CPU from now on counts (its start-up, spent before training, does not)."""
        with self._lock:
            self.child_pid = pid
            self._child_base = process_cpu(pid)
            self._last = None
            self._samples.clear()

    def _clocks(self) -> tuple[float, float, float]:
        worker = thread_cpu(self.worker_ident)
        child = max(0.0, process_cpu(self.child_pid) - self._child_base)
        own = time.process_time()
        mapped = worker + child + self._capture_cpu
        training = max(0.0, own - worker - self._capture_cpu)
        return time.monotonic(), mapped, training

    # -- control --------------------------------------------------------------------------------------------
    def update(self) -> None:
        """Read the clocks: credit what training spent, debit what the map spent, refresh ``cost``."""
        with self._lock:
            now = self._clocks()
            if self._last is not None:
                d_map = now[1] - self._last[1]
                d_train = now[2] - self._last[2]
                cap = max(self.max_credit_frames * self._frame_cpu, 0.0)
                self._credit = min(self._credit + self.budget * d_train - d_map, cap)
            self._last = now
            self._samples.append(now)
            while len(self._samples) > 2 and now[0] - self._samples[1][0] >= self.window_s:
                self._samples.popleft()
            first = self._samples[0]
            d_train = now[2] - first[2]
            if now[0] - first[0] >= 1.0 and d_train > 0.05:
                self.cost = (now[1] - first[1]) / d_train

    def begin_frame(self) -> None:
        self.update()
        self._frame_start = self._last[1] if self._last is not None else 0.0

    def end_frame(self) -> None:
        """Remember the frame's CPU (caps the credit to about two frames, so an idle spell buys no burst)."""
        self.update()
        if self._last is not None:
            self._frame_cpu = max(self._last[1] - self._frame_start, 1e-3)

    def wait_s(self) -> float:
        """Seconds until the next frame may start (0: now). Estimated from training's recent CPU rate."""
        self.update()
        with self._lock:
            if self._credit >= 0.0:
                return 0.0
            rate = self._training_rate()
            if rate <= 1e-3:
                return 0.5  # training is not running: look again later
            return min(5.0, -self._credit / (self.budget * rate))

    def frame_cpu_s(self, fps: float = 1.0) -> float | None:
        """The CPU one frame may take for ``fps`` frames a second within the budget (None until measured)."""
        with self._lock:
            if len(self._samples) < 2:
                return None
            return max(self.budget * self._training_rate() / fps, 1e-3)

    def training_cores(self) -> float | None:
        """Cores' worth of CPU training used over the window (None before a few seconds were measured)."""
        with self._lock:
            if len(self._samples) < 2 or self._samples[-1][0] - self._samples[0][0] < 3.0:
                return None
            return self._training_rate()

    def _training_rate(self) -> float:
        if len(self._samples) < 2:
            return 1.0
        a, b = self._samples[0], self._samples[-1]
        return (b[2] - a[2]) / max(b[0] - a[0], 1e-3)

    def info(self) -> dict:
        return {"cost": None if self.cost is None else round(float(self.cost), 4), "cost_budget": self.budget}
