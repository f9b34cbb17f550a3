"""The cost governor: keeps what the live map costs the training loop within ``budget`` (0.05 = 5 %).

What it measures is the training's own speed: the hook's step counter while a frame is being made (the worker
thread, and the engine's child process when there is one, are busy) against while the map rests between frames
(nothing of the map runs then: the child only works inside a frame's round trip). If training does ``r0`` steps
a second while the map rests and ``r1`` while it works, a frame of ``t`` seconds costs ``t·(1 − r1/r0)`` seconds
of training; the hook's copies on the training thread (timed where they happen) are added. ``cost`` is that
lost time as a share of the wall time, over the last minute or so (exponentially weighted). It is the figure the
same-run benchmark measures (``benchmarks/real_overhead.py``: 1 − steps/s with ÷ without the widget), and it
holds whatever the cause — CPU taken from torch's spinning intra-op threads, the GIL held by a worker thread, or
memory bandwidth. Until both kinds of window have been seen a frame is assumed to stall training completely.

Pause windows (nothing of the widget running) measure the whole live path's cost, which the frame windows miss
part of; an outer loop sets the frames' share of the budget from them (``frame_share``, starting at half).
Frames are paid from a token bucket: each wall second earns ``budget × frame_share`` seconds of credit, a frame
spends its measured cost, and the next frame waits until the credit is back above zero. Budget beats frame rate:
on a slow or busy machine the map draws fewer (and, through :meth:`frame_cpu_s`, cheaper) frames, never a slower
training.

CPU clocks (the worker thread's, the child's, the training process's) are read too, for the status line and the
torch-threads note, not for the budget.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
HALF_LIFE_S = 30.0  # how fast old windows fade from the estimate
PRIOR_SLOWDOWN = 1.0  # before measuring: a frame stalls training completely (the safe side)
PRIOR_WEIGHT_S = 0.3  # ... and counts as this many seconds of frames against the measured ones
PAUSE_EVERY_S = 15.0  # every so often the whole live path pauses (no frames, no copies) ...
PAUSE_S = 2.0  # ... this long, to measure the training's speed without the widget
PAUSE_HALF_LIFE_S = 90.0
# The first pauses come sooner (after 5 s, then every 7.5 s until the fourth), so that a run of half a minute is
# already governed by what the pauses measure, not by the frame windows alone.
PAUSE_FIRST_S = 5.0
PAUSE_EARLY_EVERY_S = 7.5
EARLY_PAUSES = 4
# The frames start with half the budget and earn the rest when the pause windows find the whole live path under
# it: on machines where a break costs training more than its own length (benchmarks/breaks.py measured 2-5x on a
# 2-core box) the frame windows see only part of the cost, and until the pauses have measured, the safe side is
# fewer frames.
INITIAL_SCALE = 0.5


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


class _Window:
    """Exponentially weighted sums of wall seconds and training steps of one kind of window."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.steps = 0.0

    def add(self, seconds: float, steps: float, decay: float) -> None:
        self.seconds = self.seconds * decay + seconds
        self.steps = self.steps * decay + steps

    @property
    def rate(self) -> float | None:
        return self.steps / self.seconds if self.seconds > 0 else None


class CostGovernor:
    """See the module doc. ``budget``: the share of training time the map may cost (0.05 = 5 %)."""

    def __init__(self, budget: float = 0.05, *, max_credit_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"cost_budget must be in (0, 1], got {budget}")
        self.budget = float(budget)
        self.max_credit_s = float(max_credit_s)  # at most this much wall time's worth of credit: no bursts
        self.clock = clock
        self.step_count: Callable[[], int] | None = None  # the hook's step counter
        self.worker_ident: int | None = None
        self.child_pid: int | None = None
        self._lock = threading.Lock()
        self._capture_cpu = 0.0
        self._capture_seen = 0.0
        self._active, self._idle = _Window(), _Window()
        self._lost = 0.0  # weighted seconds of training lost
        self._wall = 0.0  # weighted wall seconds
        self._credit = 0.0
        self._mark: tuple[float, int] | None = None  # (wall, steps) at the last frame boundary
        self._last_wall: float | None = None
        self._in_frame = False
        self._child_base = 0.0
        self._cpu: list[tuple[float, float, float]] = []  # (wall, map cpu, training cpu), a few recent samples
        self.cost: float | None = None
        # Pause windows: the hook skips its copies and the worker draws nothing while ``paused``.
        self.paused = False
        self._pause_until = 0.0
        self._next_pause: float | None = None
        self._seg: tuple[float, int] | None = None  # start of the current run or pause segment
        self._run_w, self._pause_w = _Window(), _Window()
        self._pauses = 0
        self._scale = INITIAL_SCALE  # outer loop: the frames' share of the budget, set from the paused windows
        self.cost_total: float | None = None  # 1 - (speed outside pauses) / (speed in pauses)

    # -- inputs ---------------------------------------------------------------------------------------------
    def add_capture_cpu(self, seconds: float) -> None:
        """The hook's copy on the training thread took ``seconds`` (training time the map costs directly)."""
        self._capture_cpu += seconds

    def set_child(self, pid: int | None) -> None:
        self.child_pid = pid
        self._child_base = process_cpu(pid)

    def _steps(self) -> int:
        try:
            return int(self.step_count()) if self.step_count is not None else 0
        except Exception:  # noqa: BLE001 - a gone hook: no steps
            return 0

    # -- the frame boundaries (worker thread) ---------------------------------------------------------------
    def begin_frame(self) -> None:
        """The map rested since the last frame: an idle window."""
        with self._lock:
            self._boundary(active=False)
            self._in_frame = True

    def end_frame(self) -> None:
        """A frame was made since :meth:`begin_frame`: an active window; it is paid from the credit."""
        with self._lock:
            self._boundary(active=True)
            self._in_frame = False

    def _boundary(self, active: bool) -> None:
        now, steps = self.clock(), self._steps()
        self._accrue(now)
        if self._mark is not None:
            dt, ds = max(now - self._mark[0], 0.0), max(steps - self._mark[1], 0)
            decay = 0.5 ** (dt / HALF_LIFE_S)
            (self._active if active else self._idle).add(dt, ds, decay)
            (self._idle if active else self._active).add(0.0, 0.0, decay)
            lost = dt * self.slowdown() if active else 0.0
            capture = self._capture_cpu - self._capture_seen
            self._capture_seen = self._capture_cpu
            self._lost = self._lost * decay + lost + capture
            self._wall = self._wall * decay + dt
            self._credit -= lost + capture
            if self._wall >= 2.0:
                self.cost = self._lost / self._wall
        self._mark = (now, steps)

    def _accrue(self, now: float) -> None:
        if self._last_wall is not None:
            self._credit = min(self._credit + self.budget * self._scale * max(now - self._last_wall, 0.0),
                               self.budget * self.max_credit_s)
        self._last_wall = now

    # -- estimates ------------------------------------------------------------------------------------------
    def slowdown(self) -> float:
        """1 − (training's speed while a frame is made) / (its speed while the map rests); the prior until
        a few seconds of each were seen with training running."""
        r1, r0 = self._active.rate, self._idle.rate
        if r1 is None or r0 is None or self._active.seconds < 0.05 or self._idle.seconds < 1.0 or \
                self._idle.steps < 50:
            return PRIOR_SLOWDOWN
        measured = min(max(1.0 - r1 / r0, 0.0), 1.0)
        # The prior weighs as PRIOR_WEIGHT_S seconds of frames: a few short frames do not decide it alone.
        a = self._active.seconds
        return (measured * a + PRIOR_SLOWDOWN * PRIOR_WEIGHT_S) / (a + PRIOR_WEIGHT_S)

    def update(self) -> None:
        """Refresh the credit and the CPU samples (cheap; any thread)."""
        with self._lock:
            now = self.clock()
            self._accrue(now)
            if self._mark is not None and not self._in_frame:  # the map is resting: cost falls as time passes
                dt = max(now - self._mark[0], 0.0)
                decay = 0.5 ** (dt / HALF_LIFE_S)
                wall = self._wall * decay + dt
                if wall >= 2.0:
                    self.cost = self._lost * decay / wall
            worker = thread_cpu(self.worker_ident)
            child = max(0.0, process_cpu(self.child_pid) - self._child_base)
            sample = (time.monotonic(), worker + child + self._capture_cpu,
                      max(0.0, time.process_time() - worker - self._capture_cpu))
            self._cpu.append(sample)
            while len(self._cpu) > 2 and sample[0] - self._cpu[1][0] >= 10.0:
                self._cpu.pop(0)

    def wait_s(self) -> float:
        """Seconds until the next frame may start (0: now). Called before each frame; starts and ends the pause
        windows (the training's speed with nothing of the widget running)."""
        self.update()
        with self._lock:
            now, steps = self.clock(), self._steps()
            if self._seg is None:
                self._seg, self._next_pause = (now, steps), now + PAUSE_FIRST_S  # a first look early
            if self.paused:
                if now < self._pause_until:
                    return self._pause_until - now
                self._close_segment(now, steps)
                self._pauses += 1
                self.paused, self._next_pause = False, now + self._pause_interval()
                self._outer_loop()
            elif self._next_pause is not None and now >= self._next_pause and steps > self._seg[1]:
                self._close_segment(now, steps)
                self.paused, self._pause_until = True, now + PAUSE_S
                return PAUSE_S
            return 0.0 if self._credit >= 0.0 else min(5.0, -self._credit / (self.budget * self._scale))

    def _pause_interval(self) -> float:
        return PAUSE_EARLY_EVERY_S if self._pauses < EARLY_PAUSES else PAUSE_EVERY_S

    def resume(self) -> None:
        """A flush or close needs the live path now: end a pause window early (it is not counted)."""
        with self._lock:
            if self.paused:
                self.paused = False
                self._seg = (self.clock(), self._steps())
                self._next_pause = self._seg[0] + self._pause_interval()

    def _close_segment(self, now: float, steps: int) -> None:
        assert self._seg is not None
        dt, ds = max(now - self._seg[0], 0.0), max(steps - self._seg[1], 0)
        decay = 0.5 ** (dt / PAUSE_HALF_LIFE_S)
        (self._pause_w if self.paused else self._run_w).add(dt, ds, decay)
        (self._run_w if self.paused else self._pause_w).add(0.0, 0.0, decay)
        self._seg = (now, steps)
        r_run, r_pause = self._run_w.rate, self._pause_w.rate
        if r_run is not None and r_pause and self._pause_w.steps >= 100 and self._run_w.seconds > 0:
            self.cost_total = max(0.0, 1.0 - r_run / r_pause)

    def _outer_loop(self) -> None:
        """After each pause: if the whole live path cost more than the budget (things the frame windows do not
        see: the copies, caches, a second process), give the frames less of it; if less, give back slowly."""
        if self.cost_total is None:
            return
        factor = self.budget / max(self.cost_total, 1e-3)
        self._scale = min(1.0, max(0.05, self._scale * min(max(factor, 0.5), 1.25)))

    def frame_cpu_s(self, fps: float = 2.0) -> float | None:
        """How long one frame may take so that ``fps`` frames a second fit the budget (with the prior slowdown
        until it is measured). Sized for 2 a second: a frame's fixed part (new points' placement, affinities)
        is small at the default map size, and a new row then reaches the screen within about half a second."""
        with self._lock:
            s = self.slowdown()
        return min(0.5, self.budget / (fps * max(s, 0.05)))

    def training_cores(self) -> float | None:
        """Cores' worth of CPU the training process used over the last seconds (None before 3 s were seen)."""
        with self._lock:
            if len(self._cpu) < 2 or self._cpu[-1][0] - self._cpu[0][0] < 3.0:
                return None
            a, b = self._cpu[0], self._cpu[-1]
            return (b[2] - a[2]) / max(b[0] - a[0], 1e-3)

    def info(self) -> dict:
        with self._lock:
            s = self.slowdown()
        cost = self.cost_total if self.cost_total is not None and self._pauses >= 2 else self.cost
        return {"cost": None if cost is None else round(float(cost), 4), "cost_budget": self.budget,
                "cost_frames": None if self.cost is None else round(float(self.cost), 4),
                "slowdown_in_frame": round(s, 3), "pauses": self._pauses,
                "frame_share": round(self._scale, 3)}
