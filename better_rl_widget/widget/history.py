"""The live widget's map history: MapSnapshots taken every few seconds, bounded by count and bytes.

When a bound is hit the history is *thinned*, not truncated: the snapshot whose removal leaves the smallest gap in
training steps goes (the older one on ties), and the first and newest snapshots always stay. So a long run keeps a
roughly even spread from its first map to its latest instead of only the last few minutes. A snapshot larger than
its share of the byte budget keeps a stable sample of slots (the same slots in every snapshot, so a point can be
followed across the scrubber) and says so in a note.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, overload

import numpy as np

from ..frames.snapshot import MapSnapshot
from ..frames.snapshot_codec import encode_index, snapshot_nbytes

if TYPE_CHECKING:
    from ..frames.frame_state import FrameState

MIN_KEPT = 8  # a single snapshot may use at most 1/MIN_KEPT of the byte budget


def stable_sample(slots: np.ndarray, fraction: float) -> np.ndarray:
    """Mask keeping about ``fraction`` of ``slots``, always the same slots for the same fraction (hash of the slot
    id), so successive snapshots show the same points."""
    h = (slots.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    return h < np.uint64(int(fraction * 2**32))


def subsample(snap: MapSnapshot, fraction: float) -> MapSnapshot:
    keep = stable_sample(np.asarray(snap.slots), fraction)
    return MapSnapshot(step=snap.step, time_s=snap.time_s, slots=snap.slots[keep], xy=snap.xy[keep],
                       extent=snap.extent, fields={k: np.asarray(v)[keep] for k, v in snap.fields.items()})


class MapHistory(Sequence[MapSnapshot]):
    """Kept MapSnapshots, oldest first; each has an id that survives thinning (the scrubber asks by id).

    ``every_s`` / ``every_frames``: take a snapshot when this many seconds / published frames passed since the last
    one (either; None turns a rule off). ``max_snapshots`` / ``max_bytes`` bound what is kept. Thread-safe: the
    worker thread adds, the kernel thread reads.
    """

    def __init__(self, *, max_snapshots: int = 120, max_bytes: int = 128 * 2**20, every_s: float | None = 2.0,
                 every_frames: int | None = None) -> None:
        if max_snapshots < 2:
            raise ValueError(f"max_snapshots must be at least 2 (first and newest), got {max_snapshots}")
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if every_s is not None and every_s < 0:
            raise ValueError(f"every_s must be >= 0 or None, got {every_s}")
        if every_frames is not None and every_frames < 1:
            raise ValueError(f"every_frames must be >= 1 or None, got {every_frames}")
        self.max_snapshots = int(max_snapshots)
        self.max_bytes = int(max_bytes)
        self.every_s = every_s
        self.every_frames = every_frames
        self._lock = threading.Lock()
        self._take_lock = threading.Lock()  # the worker and a to_html() on the kernel thread may both take
        self._snaps: list[MapSnapshot] = []
        self._ids: list[int] = []
        self._sizes: list[int] = []
        self._next_id = 0
        self.thinned = 0  # snapshots removed by thinning so far
        self.sampled = 0  # snapshots that kept a sample of their slots
        self._frames = 0
        self._last_t: float | None = None
        self._last_seq: int | None = None
        self.on_note: Callable[[str], None] | None = None

    # -- Sequence[MapSnapshot] ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._snaps)

    @overload
    def __getitem__(self, i: int) -> MapSnapshot: ...
    @overload
    def __getitem__(self, i: slice) -> list[MapSnapshot]: ...
    def __getitem__(self, i: int | slice) -> MapSnapshot | list[MapSnapshot]:
        with self._lock:
            return self._snaps[i]

    def __iter__(self) -> Iterator[MapSnapshot]:
        with self._lock:
            return iter(list(self._snaps))

    def __repr__(self) -> str:
        steps = self.steps
        span = f", steps {steps[0]}..{steps[-1]}" if steps else ""
        return f"MapHistory({len(steps)} snapshots, {self.nbytes / 2**20:.1f} MiB{span}, {self.thinned} thinned)"

    @property
    def steps(self) -> list[int]:
        with self._lock:
            return [s.step for s in self._snaps]

    @property
    def ids(self) -> list[int]:
        with self._lock:
            return list(self._ids)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(self._sizes)

    def get(self, snapshot_id: int) -> MapSnapshot | None:
        with self._lock:
            try:
                return self._snaps[self._ids.index(int(snapshot_id))]
            except ValueError:
                return None

    def clear(self) -> None:
        with self._lock:
            self._snaps.clear()
            self._ids.clear()
            self._sizes.clear()
            self._frames = 0
            self._last_t = None
            self._last_seq = None

    # -- adding ---------------------------------------------------------------------------------------------
    def add(self, snap: MapSnapshot) -> int:
        """Keep ``snap`` (newest), thin if a bound is exceeded; returns its id."""
        size = snapshot_nbytes(snap)
        share = self.max_bytes / MIN_KEPT
        if size > share and len(snap.slots):
            fraction = share / size
            snap = subsample(snap, fraction)
            size = snapshot_nbytes(snap)
            self.sampled += 1
            if self.sampled == 1 and self.on_note is not None:
                self.on_note(f"map history: each snapshot keeps a stable {100 * fraction:.0f}% sample of its points "
                             f"(max_bytes {self.max_bytes / 2**20:.0f} MiB)")
        with self._lock:
            sid = self._next_id
            self._next_id += 1
            self._snaps.append(snap)
            self._ids.append(sid)
            self._sizes.append(size)
            while len(self._snaps) > 2 and (len(self._snaps) > self.max_snapshots or sum(self._sizes) > self.max_bytes):
                self._thin_one()
            return sid

    def _thin_one(self) -> None:
        steps = [s.step for s in self._snaps]
        # Interior snapshot whose neighbours are closest together: removing it loses the least coverage.
        best = min(range(1, len(steps) - 1), key=lambda i: (steps[i + 1] - steps[i - 1], i))
        del self._snaps[best], self._ids[best], self._sizes[best]
        self.thinned += 1

    def due(self, now: float | None = None) -> bool:
        """Whether a snapshot is due by time or frame count (counts this call as one published frame)."""
        now = time.monotonic() if now is None else now
        self._frames += 1
        if self._last_t is None:
            return True
        if self.every_s is not None and now - self._last_t >= self.every_s:
            return True
        return self.every_frames is not None and self._frames >= self.every_frames

    def take(self, frame_state: FrameState, step: int, time_s: float, *, force: bool = False,
             now: float | None = None) -> int | None:
        """Snapshot ``frame_state`` when due (or ``force``) and the map changed since the last one; the id or None."""
        with self._take_lock:
            return self._take(frame_state, step, time_s, force=force, now=now)

    def _take(self, frame_state: FrameState, step: int, time_s: float, *, force: bool, now: float | None) -> int | None:
        if not (self.due(now) or force):
            return None
        if frame_state.seq == self._last_seq and self._snaps:  # no frame since the last snapshot: same map
            return None
        snap = frame_state.snapshot(step, time_s)
        if len(snap.slots) == 0:
            return None
        self._last_t = time.monotonic() if now is None else now
        self._frames = 0
        self._last_seq = frame_state.seq
        with self._lock:  # same training step as the newest (e.g. the final pass on close): it supersedes it
            if self._snaps and self._snaps[-1].step == snap.step:
                del self._snaps[-1], self._ids[-1], self._sizes[-1]
        return self.add(snap)

    def index_blob(self) -> bytes:
        """BRW1 ``history`` blob for the scrubber (docs/protocol.md)."""
        with self._lock:
            ids, snaps = list(self._ids), list(self._snaps)
        return encode_index(ids, snaps, thinned=self.thinned, sampled=self.sampled)


def replay_traits(snaps: Sequence[MapSnapshot], capacity: int | None = None) -> tuple[dict, dict]:
    """``status`` and ``gauge`` trait values for a recorded history (replay widget and HTML export).

    ``capacity``: the buffer size for the gauge; by default the smallest one consistent with the slots seen.
    """
    last = snaps[-1]
    if capacity is None:
        capacity = max((int(np.max(s.slots)) + 1 for s in snaps if len(s.slots)), default=0)
    steps = last.fields.get("step")
    gauge = {"size": len(last.slots), "capacity": int(capacity), "inserts_per_s": 0.0, "evictions": 0,
             "total_inserted": int(np.max(steps)) + 1 if steps is not None and len(steps) else 0}
    span = f"steps {snaps[0].step:,}–{last.step:,}" if len(snaps) > 1 else f"step {last.step:,}"
    status = {"frames_shown": 0, "frames_dropped": 0, "worker_lag_s": 0.0, "nan_skipped": 0, "last_error": "",
              "projection": "", "running": False, "replay": True, "hook_step": int(last.step), "selected": 0,
              "notes": [f"replay of {len(snaps)} map snapshots, {span}"]}
    return status, gauge
