"""The transition sink: a bounded queue of transition batches from remote workers (the body of a Ray actor).

Plain Python so it can be tested and reasoned about without Ray; ``capture.make_sink`` wraps it in ``ray.remote``.

Backpressure: **drop-oldest**. When the queued rows exceed ``max_rows`` (or their bytes ``max_bytes``), whole
batches are dropped from the old end and counted (per worker and in total); pushes never block on a full queue.
A live view is a monitor: it must never slow the collectors, and the map shows the newest ``capacity`` rows
anyway, so the oldest queued rows are the ones it would overwrite first. The drain side shows the drop count in the
widget's status line.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np

ROW_FIELDS = ("obs", "next_obs", "action", "reward", "terminated", "truncated", "episode", "episode_step")


def check_batch(rows: dict[str, Any]) -> int:
    """Number of rows in a pushed batch; ValueError naming the problem for a malformed one."""
    missing = [k for k in ROW_FIELDS if k not in rows]
    if missing:
        raise ValueError(f"a pushed batch lacks {', '.join(missing)} (needs {', '.join(ROW_FIELDS)})")
    n = len(rows["reward"])
    bad = {k: len(rows[k]) for k in ROW_FIELDS if len(rows[k]) != n}
    if bad:
        raise ValueError(f"a pushed batch has fields of different lengths: reward {n}, {bad}")
    return n


class TransitionSink:
    """Queue of ``(worker, rows)`` batches, bounded by total rows and bytes (drop-oldest, counted)."""

    def __init__(self, max_rows: int = 200_000, max_bytes: int = 256 * 2**20) -> None:
        if int(max_rows) < 1 or int(max_bytes) < 1:
            raise ValueError(f"max_rows and max_bytes must be >= 1, got {max_rows}, {max_bytes}")
        self.max_rows = int(max_rows)
        self.max_bytes = int(max_bytes)
        self._queue: deque[tuple[str, dict[str, np.ndarray], int, int]] = deque()
        self._queued = 0
        self._queued_bytes = 0
        self.received: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.rejected: dict[str, str] = {}
        self.first_push_s: dict[str, float] = {}  # wall clock (time.time) of each worker's first and last push
        self.last_push_s: dict[str, float] = {}

    def push(self, worker: str, rows: dict[str, np.ndarray]) -> int:
        """Queue one batch; returns the rows dropped to make room (0 when there was room). A malformed batch is
        rejected (recorded per worker, shown by the drain side) and the worker goes on."""
        try:
            n = check_batch(rows)
        except (ValueError, TypeError) as exc:
            self.rejected[worker] = str(exc)
            return 0
        self.received[worker] = self.received.get(worker, 0) + n
        self.last_push_s[worker] = time.time()
        self.first_push_s.setdefault(worker, self.last_push_s[worker])
        nbytes = sum(int(getattr(v, "nbytes", 0)) for v in rows.values())
        self._queue.append((worker, rows, n, nbytes))
        self._queued += n
        self._queued_bytes += nbytes
        dropped = 0
        while (self._queued > self.max_rows or self._queued_bytes > self.max_bytes) and len(self._queue) > 1:
            w, _, k, b = self._queue.popleft()
            self._queued -= k
            self._queued_bytes -= b
            self.dropped[w] = self.dropped.get(w, 0) + k
            dropped += k
        return dropped

    def drain(self, max_rows: int = 50_000) -> list[tuple[str, dict[str, np.ndarray]]]:
        """Take queued batches, oldest first, up to about ``max_rows`` rows (at least one batch)."""
        out: list[tuple[str, dict[str, np.ndarray]]] = []
        taken = 0
        while self._queue and (not out or taken + self._queue[0][2] <= max_rows):
            w, rows, n, b = self._queue.popleft()
            self._queued -= n
            self._queued_bytes -= b
            taken += n
            out.append((w, rows))
        return out

    def take(self, max_rows: int = 50_000) -> tuple[list[tuple[str, dict[str, np.ndarray]]], dict[str, Any]]:
        """``drain`` and ``stats`` in one actor call (one round trip per poll)."""
        return self.drain(max_rows), self.stats()

    def stats(self) -> dict[str, Any]:
        return {"queued": self._queued, "queued_bytes": self._queued_bytes, "received": dict(self.received),
                "dropped": dict(self.dropped), "rejected": dict(self.rejected), "max_rows": self.max_rows,
                "max_bytes": self.max_bytes, "first_push_s": dict(self.first_push_s),
                "last_push_s": dict(self.last_push_s)}
