"""Remote capture: Ray workers push transitions into one sink actor; a notebook-side thread drains it into a
:class:`~better_rl_widget.TrainingHook`, so many collectors stream into one live map.

::

    capture = RemoteCapture(widget, capacity=20_000)          # starts the sink actor and the drain thread
    refs = [collect.remote(capture.sink, f"w{i}") for i in range(4)]
    capture.watch(refs)                                       # a failed or killed worker is reported, not fatal
    capture.wait()                                            # all workers done, everything drawn
    capture.close()

    @ray.remote
    def collect(sink, name):
        rec = RemoteRecorder(sink, name)                      # batches rows; hook.record's signature
        ...
        rec.record(obs, action, reward, next_obs, terminated, truncated)
        rec.close()                                           # pushes the rest and waits for delivery

Batching: a worker sends ``batch_rows`` transitions per actor call; the drain thread takes up to ``drain_rows``
per call and hands them to the hook in one capture. Backpressure: the sink is bounded by ``max_rows`` and
``max_bytes`` and drops
the oldest batches when full (counted, shown in the status line; see ``sink.py`` for why), and a worker has at
most ``max_in_flight`` pushes unacknowledged (it waits only if the sink actor itself stalls).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ..capture.hook import TrainingHook
from ..capture.replay_buffer import ReplayBuffer
from ..scale.backend import ensure_ray, require_ray
from ..widget.buffer_widget import BufferWidget
from .sink import ROW_FIELDS, TransitionSink, check_batch

NOTE_PREFIX = "remote: "


def make_sink(max_rows: int = 200_000, max_bytes: int = 256 * 2**20) -> Any:
    """A :class:`~better_rl_widget.remote.sink.TransitionSink` as a Ray actor (handle); pass it to workers."""
    ray = ensure_ray()
    return ray.remote(num_cpus=0)(TransitionSink).remote(max_rows, max_bytes)


class RemoteRecorder:
    """Worker side: ``record`` one transition at a time (as ``TrainingHook.record``), or ``push_rows`` a batch
    (a buffer snapshot); rows go to the sink ``batch_rows`` at a time. ``keep_every=k`` sends one recorded
    transition in ``k`` (sampling at the source, for clusters that collect faster than one notebook can draw;
    episode ids and steps stay exact). Episode ids are counted here, per worker; the drain side maps them to
    global ids. ``close()`` pushes what is left and waits until the sink has it."""

    def __init__(self, sink: Any, worker: str, *, batch_rows: int = 256, max_in_flight: int = 4,
                 keep_every: int = 1) -> None:
        if int(batch_rows) < 1 or int(max_in_flight) < 1 or int(keep_every) < 1:
            raise ValueError("batch_rows, max_in_flight and keep_every must be >= 1")
        self.keep_every = int(keep_every)
        self.recorded = 0
        self.ray = require_ray()
        self.sink, self.worker = sink, str(worker)
        self.batch_rows, self.max_in_flight = int(batch_rows), int(max_in_flight)
        self._rows: dict[str, list] = {k: [] for k in ROW_FIELDS}
        self._in_flight: list = []
        self._episode = 0
        self._episode_step = 0
        self.pushed = 0
        self.dropped = 0  # rows the sink dropped to make room (as far as acknowledged pushes tell)

    def record(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminated: Any, truncated: Any) -> None:
        self.recorded += 1
        if (self.recorded - 1) % self.keep_every:
            self._advance(terminated, truncated)
            return
        r = self._rows
        r["obs"].append(np.asarray(obs))
        r["next_obs"].append(np.asarray(next_obs))
        r["action"].append(np.asarray(action))
        r["reward"].append(float(reward))
        r["terminated"].append(bool(terminated))
        r["truncated"].append(bool(truncated))
        r["episode"].append(self._episode)
        r["episode_step"].append(self._episode_step)
        self._advance(terminated, truncated)
        if len(r["reward"]) >= self.batch_rows:
            self.flush()

    def _advance(self, terminated: Any, truncated: Any) -> None:
        if terminated or truncated:
            self._episode += 1
            self._episode_step = 0
        else:
            self._episode_step += 1

    def push_rows(self, rows: dict[str, Any]) -> None:
        """Send a batch as it is (a snapshot of a worker's buffer): arrays with a leading row axis for every
        field in ``ROW_FIELDS``. Raises ValueError on a malformed batch, before anything is sent."""
        rows = {k: np.asarray(rows[k]) for k in ROW_FIELDS if k in rows}
        check_batch(rows)
        self._send(rows)

    def flush(self) -> None:
        r = self._rows
        if not r["reward"]:
            return
        rows = {k: np.stack(v) if k in ("obs", "next_obs", "action") else np.asarray(v) for k, v in r.items()}
        self._rows = {k: [] for k in ROW_FIELDS}
        self._send(rows)

    def _send(self, rows: dict[str, np.ndarray]) -> None:
        while len(self._in_flight) >= self.max_in_flight:  # only when the sink actor is behind
            done, self._in_flight = self.ray.wait(self._in_flight, num_returns=1)
            self.dropped += sum(self.ray.get(done))
        self._in_flight.append(self.sink.push.remote(self.worker, rows))
        self.pushed += len(rows["reward"])

    def close(self) -> None:
        """Push the rows still held here and wait until the sink has received every push."""
        self.flush()
        if self._in_flight:
            self.dropped += sum(self.ray.get(self._in_flight))
            self._in_flight = []


class RemoteBuffer(ReplayBuffer):
    """The drain side's ring: rows from all workers, in arrival order; episode ids made global per worker."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._episodes: dict[str, dict[int, int]] = {}
        self._next_episode = 0

    def _global_episodes(self, worker: str, local: np.ndarray) -> np.ndarray:
        known = self._episodes.setdefault(worker, {})
        for e in np.unique(local).tolist():
            if e not in known:
                known[e] = self._next_episode
                self._next_episode += 1
        lo = int(local.min())
        for e in [e for e in known if e < lo]:  # episode ids only grow per worker: forget the finished ones
            del known[e]
        return np.vectorize(known.__getitem__, otypes=[np.int64])(local)

    def add_rows(self, worker: str, rows: dict[str, np.ndarray]) -> int:
        n = check_batch(rows)
        if n == 0:
            return 0
        obs = np.asarray(rows["obs"])
        if not self._data:
            self._allocate(obs[0], np.asarray(rows["action"])[0])
        if obs.shape[1:] != self._data["obs"].shape[1:] or np.shape(rows["next_obs"])[1:] != obs.shape[1:]:
            raise ValueError(f"observations of shape {obs.shape[1:]}, but this capture holds "
                             f"{self._data['obs'].shape[1:]} (set by the first batch)")
        ids = np.arange(self.total_inserted, self.total_inserted + n, dtype=np.int64)
        episode = self._global_episodes(worker, np.asarray(rows["episode"], np.int64))
        keep = slice(max(0, n - self.capacity), n)  # a batch bigger than the ring: only its newest rows land
        slots = ids[keep] % self.capacity
        d = self._data
        for k in ("obs", "next_obs", "action", "reward", "terminated", "truncated", "episode_step"):
            d[k][slots] = np.asarray(rows[k])[keep]
        d["episode"][slots] = episode[keep]
        d["step"][slots] = ids[keep]
        self.total_inserted += n
        return n


class RemoteCapture:
    """Notebook side: owns the sink actor (or uses ``sink``), a :class:`RemoteBuffer` streamed by a
    :class:`~better_rl_widget.TrainingHook`, and a drain thread that polls the sink every ``poll_s`` seconds.

    ``watch(refs)`` registers the workers' task (or actor-call) refs: a worker that raises, is cancelled or is
    killed (``ray.kill``) is reported in ``widget.errors`` and ``failed``, and the others go on. The status line
    carries a ``remote:`` note with workers, rows received and rows dropped. ``hook_kwargs`` go to the hook
    (``projection=``, ``max_fps=``, ``q_network=`` ...). Never raises into the caller from the drain thread.
    """

    def __init__(self, widget: BufferWidget, capacity: int = 50_000, *, sink: Any = None, max_rows: int = 200_000,
                 max_bytes: int = 256 * 2**20, poll_s: float = 0.1, drain_rows: int = 50_000,
                 **hook_kwargs: Any) -> None:
        self.ray = ensure_ray()
        self.widget = widget
        self._own_sink = sink is None
        self.sink = make_sink(max_rows, max_bytes) if sink is None else sink
        self.buffer = RemoteBuffer(capacity)
        self.hook = TrainingHook(widget, self.buffer, every=1, **hook_kwargs)
        self.poll_s, self.drain_rows = float(poll_s), int(drain_rows)
        self.failed: dict[str, str] = {}
        self.finished: list[str] = []
        self.stats: dict[str, Any] = {}
        self._watched: dict[Any, str] = {}
        self._lock = threading.Lock()  # one poll at a time (drain thread, wait(), close())
        self._refs_lock = threading.Lock()  # the watched refs (watch() must not wait for a poll)
        self._stop = threading.Event()
        self._sink_dead = False
        self._note = ""
        self._thread = threading.Thread(target=self._loop, name="better_rl_widget-remote-drain", daemon=True)
        self._thread.start()

    # -- workers -------------------------------------------------------------------------------------------
    def watch(self, refs: Any, names: list[str] | None = None) -> None:
        """Follow worker refs (one ObjectRef or a list), named ``names`` or ``worker-<i>``."""
        refs = list(refs) if isinstance(refs, (list, tuple)) else [refs]
        names = names or [f"worker-{len(self._watched) + len(self.finished) + len(self.failed) + i}"
                          for i in range(len(refs))]
        if len(names) != len(refs):
            raise ValueError(f"{len(refs)} refs but {len(names)} names")
        with self._refs_lock:
            self._watched.update(zip(refs, names))

    def _check_workers(self) -> None:
        with self._refs_lock:
            watched = dict(self._watched)
        if not watched:
            return
        ready, _ = self.ray.wait(list(watched), num_returns=len(watched), timeout=0)
        for ref in ready:
            name = watched[ref]
            with self._refs_lock:
                self._watched.pop(ref, None)
            try:
                self.ray.get(ref)
                self.finished.append(name)
            except Exception as exc:  # noqa: BLE001 - a dead worker is reported; the others go on
                cause = getattr(exc, "cause", None) or exc
                first = (str(cause).strip().splitlines() or [""])[0][:300]
                self.failed[name] = f"{type(cause).__name__}: {first}"
                self.widget.report_error(f"remote worker {name} failed ({self.failed[name]}); the others go on")

    # -- draining ------------------------------------------------------------------------------------------
    def poll(self) -> int:
        """Drain the sink once into the hook; returns the rows taken. Never raises."""
        with self._lock:
            if self._sink_dead:
                return 0
            try:
                batches, self.stats = self.ray.get(self.sink.take.remote(self.drain_rows))
            except Exception as exc:  # noqa: BLE001 - the sink actor died: nothing more can arrive
                self._sink_dead = True
                self.widget.report_error(f"remote capture: the sink actor is gone ({type(exc).__name__}); "
                                         "the map keeps what arrived")
                return 0
            n = 0
            for worker, rows in batches:
                try:
                    n += self.buffer.add_rows(worker, rows)
                except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the stream
                    self.widget.report_error(f"remote capture: a batch from {worker} was skipped: "
                                             f"{type(exc).__name__}: {exc}")
            if n:
                self.hook.on_step(self.buffer.total_inserted)  # the hook's step: rows received so far
            self._check_workers()
            self._show_note()
            return n

    def _show_note(self) -> None:
        s = self.stats
        received = sum(s.get("received", {}).values())
        dropped = sum(s.get("dropped", {}).values())
        workers = len(s.get("received", {}))
        text = (f"{NOTE_PREFIX}{workers} workers, {received:,} rows received, {dropped:,} dropped "
                f"(sink full, oldest first)")
        if self.failed:
            text += f", {len(self.failed)} failed"
        for w, why in s.get("rejected", {}).items():
            text += f"; {w}'s batch rejected: {why}"
        notes = list(self.widget.status.get("notes", []))
        if text == self._note and text in notes:
            return
        self._note = text
        self.widget.update_status(notes=[n for n in notes if not n.startswith(NOTE_PREFIX)] + [text])

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.poll() == 0:
                self._stop.wait(self.poll_s)

    def _drain_all(self) -> None:
        while self.poll() > 0:
            pass

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every watched worker has ended (finished or failed), then draw everything that arrived.
        Returns False if ``timeout`` (seconds) passed first."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._refs_lock:
                pending = list(self._watched)
            if not pending:
                break
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            self.ray.wait(pending, num_returns=len(pending), timeout=min(1.0, left) if left is not None else 1.0)
            with self._lock:
                self._check_workers()
        self._drain_all()
        return self.hook.flush()

    def close(self) -> None:
        """Stop the drain thread, draw what arrived, close the hook; the sink actor ends if it was made here."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self._drain_all()
        self._show_note()
        self.hook.close()
        if self._own_sink and not self._sink_dead:
            self.ray.kill(self.sink)

    def __enter__(self) -> RemoteCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
