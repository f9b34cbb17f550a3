"""``TrainingGate``: the training thread waits at its next ``on_step`` while the map makes a frame.

A frame made *beside* training costs training more than the frame's own CPU: torch's intra-op threads spin on
every core, so whichever core the map takes, one of torch's threads loses it and the other waits for it at the end
of the parallel region; measured on 2 cores, training lost 1.3-3.4x the map's CPU time (docs/performance.md, P5).
Held at a step boundary instead, training loses exactly the frame's wall time (the map then has the cores to
itself), and that loss is known exactly: the time the training thread spent parked here.

The worker asks (:meth:`hold`), the training thread parks at its next step (:meth:`park`, one attribute read on
every other step), the worker makes the frame and lets go (:meth:`release`). If no step comes within
``hold``'s timeout the training is not running (a notebook between cells, a long evaluation): the frame is made
anyway, costing nothing. A parked thread never waits longer than ``max_park_s``: a hung frame cannot stall training.
"""

from __future__ import annotations

import threading
import time


class TrainingGate:
    """See the module doc. ``parked_s``: total seconds the training thread spent parked (the frames' cost)."""

    def __init__(self, max_park_s: float = 5.0) -> None:
        self.max_park_s = float(max_park_s)
        self.wanted = False  # read without the lock on every step: a plain attribute, set only by the worker
        self._parked = False
        self._cond = threading.Condition()
        self.parked_s = 0.0
        self.parks = 0
        self.timeouts = 0  # parks that ran out of max_park_s (the frame took longer)

    # -- worker thread ------------------------------------------------------------------------------------
    def hold(self, timeout: float) -> bool:
        """Ask the training thread to park; True once it has, False if no step came within ``timeout``."""
        with self._cond:
            self.wanted = True
            return self._cond.wait_for(lambda: self._parked, timeout=timeout)

    def release(self) -> None:
        with self._cond:
            self.wanted = False
            self._cond.notify_all()

    # -- training thread ----------------------------------------------------------------------------------
    def park(self) -> float:
        """Wait while a frame is made (called by the hook when ``wanted``); returns the seconds parked."""
        t0 = time.perf_counter()
        with self._cond:
            if not self.wanted:
                return 0.0
            self._parked = True
            self._cond.notify_all()
            done = self._cond.wait_for(lambda: not self.wanted, timeout=self.max_park_s)
            self._parked = False
            if not done:  # the frame overran: go on, and do not park again for this request
                self.wanted = False
        spent = time.perf_counter() - t0
        self.parked_s += spent
        self.parks += 1
        if not done:
            self.timeouts += 1
        return spent
