"""``worker="process"``: the :class:`~.engine.Engine` in a child Python process, so its CPU and GIL time never
compete with the training thread.

The child is started like multiprocessing's "spawn" (a fresh interpreter), but with ``subprocess`` and a module
entry point rather than ``multiprocessing.Process``: spawn re-imports the parent's ``__main__`` in the child, which
re-runs a script that lacks an ``if __name__ == "__main__"`` guard (its training included). Messages travel over a
socket pair as pickles (``multiprocessing.connection.Connection``). Networks are shipped once as CPU copies
(cloudpickle, so classes defined in a notebook travel too) and then as numpy state dicts at a bounded rate.

Lifetime: ``close()`` stops the child; a finaliser kills it when the proxy is garbage-collected or the interpreter
exits; the child exits by itself when its socket reaches EOF or its parent changes (the parent was killed), so no
child outlives the process that started it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from .engine import EngineInput, EngineResult, format_error
from .governor import process_cpu
from .options import LiveOptions

NICE = 5  # the child yields the CPU to the training thread when cores are scarce
# Lower the priority before the imports (they take seconds of CPU on a busy machine). The child runs in its own
# session (Popen start_new_session): a Ctrl-C or a Jupyter interrupt meant for training does not kill it, and where
# the scheduler groups tasks by session (Linux autogroup) it no longer dilutes the training thread's share; there
# the group's own nice value is what counts, so both are set.
_BOOT = (f"import os\ntry: os.nice({NICE})\nexcept OSError: pass\n"
         f"try: open('/proc/self/autogroup', 'w').write('{NICE}')\nexcept OSError: pass\n"
         "import sys, json; sys.path[:0] = json.loads(sys.argv[2]); "
         "from better_rl_widget.capture.engine_process import child_main; child_main(int(sys.argv[1]))")


class EngineDied(RuntimeError):
    """The child is gone (killed, crashed, or stopped); the worker goes on in a thread."""


class EngineFailed(RuntimeError):
    """An exception inside the child; its message carries the child's traceback, ``engine_notes`` what the
    frame had noted before it failed."""

    def __init__(self, message: str, notes: list[str] | None = None) -> None:
        super().__init__(message)
        self.engine_notes = list(notes or [])


@dataclass
class EngineSpec:
    """Everything the child needs to build its Engine (picklable: make one with :meth:`pack`)."""

    capacity: int
    # Cloudpickled when options.projection is a Projection object (its class may live in a notebook cell).
    options: LiveOptions | bytes
    estimator: bytes | None = None  # a cloudpickled TDEstimator.export()
    td_needs_next: bool = True

    @classmethod
    def pack(cls, capacity: int, options: LiveOptions, estimator: Any = None, td_needs_next: bool = True
             ) -> EngineSpec:
        """``estimator``: the live one (its CPU copy, ``export()``, travels). Cloudpickles what plain pickle may
        not carry; raises when even that fails (the worker then stays a thread)."""
        import cloudpickle

        return cls(int(capacity), options if isinstance(options.projection, str) else cloudpickle.dumps(options),
                   None if estimator is None else cloudpickle.dumps(estimator.export()), td_needs_next)

    def load_options(self) -> LiveOptions:
        import pickle

        return self.options if isinstance(self.options, LiveOptions) else pickle.loads(self.options)


class EngineProcess:
    """A proxy with the Engine's ``run``; each call is one round trip (the caller's thread waits without the GIL).
    A round trip in which the child gets no CPU for ``stall_s`` seconds (stopped, deadlocked) or that takes longer
    than ``round_trip_s`` ends with :class:`EngineDied`, like a crash: the worker goes on in a thread."""

    stall_s = 20.0  # a working child always gets some CPU, even niced beside busy cores
    round_trip_s = 600.0  # the longest honest call is the final pass (its TD sweep is bounded at 30 s)

    def __init__(self, spec: EngineSpec | None) -> None:
        """Start a child and wait until it has imported what an engine needs; with ``spec``, build the engine."""
        import cloudpickle  # noqa: F401 - fail here (thread fallback) rather than in the child

        # Safe to unpickle from: an unnamed socket pair (no address, no listener); only our child inherits its end.
        ours, theirs = socket.socketpair()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "NUMBA_NUM_THREADS": "1"}
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", _BOOT, str(theirs.fileno()), json.dumps(sys.path)],
                                         pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self._finalizer = weakref.finalize(self, _kill, self.proc, self.conn)
        self.abandoned = False
        self._recv()  # "booted": torch, openTSNE and scikit-learn are imported
        if spec is not None:
            self.init(spec)

    @classmethod
    def start(cls, spec: EngineSpec) -> EngineProcess:
        """An engine process for ``spec``: the child :func:`prestart` booted if there is one, else a new one."""
        global _SPARE
        spare, _SPARE = _SPARE, None
        if spare is not None and spare.proc.poll() is None:
            try:
                spare.init(spec)
                return spare
            except (EngineDied, EngineFailed):
                spare.close(timeout=1.0)
        return cls(spec)

    def init(self, spec: EngineSpec) -> None:
        self._call(("init", spec))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def run(self, inp: EngineInput) -> EngineResult:
        return self._call(("run", inp))

    def embedding_snapshot(self) -> tuple:
        return self._call(("embedding", None))

    def _call(self, msg: tuple) -> Any:
        try:
            self.conn.send(msg)
        except (EOFError, OSError) as exc:
            raise EngineDied(self._why(exc)) from None
        return self._recv()

    def _recv(self) -> Any:
        watch = _Watchdog(self.proc.pid, self.stall_s, self.round_trip_s)
        try:
            while not self.conn.poll(0.2):
                if self.proc.poll() is not None or self.abandoned:
                    break
                hung = watch.hung()
                if hung:
                    self.proc.kill()  # stopped or stuck: it will not answer; what it holds is in our mirror too
                    self.proc.wait()
                    raise EngineDied(f"the worker process {hung}; it was killed")
            else:
                kind, payload = self.conn.recv()
                if kind == "error":
                    message, notes = payload if isinstance(payload, tuple) else (payload, [])
                    raise EngineFailed(message, notes)
                return payload
        except (EOFError, OSError) as exc:
            raise EngineDied(self._why(exc)) from None
        raise EngineDied(self._why(None))

    def _why(self, exc: BaseException | None) -> str:
        try:  # a socket error can arrive just before the exit status
            rc = self.proc.wait(1.0)
        except subprocess.TimeoutExpired:
            rc = None
        if self.abandoned:
            return "the worker process was stopped"
        if rc is None:
            return f"lost the worker process ({type(exc).__name__}: {exc})"
        return f"the worker process exited with code {rc}" + (" (killed by a signal)" if rc < 0 else "")

    def close(self, timeout: float = 5.0) -> None:
        """Ask the child to exit; kill it if it does not within ``timeout``. Idempotent."""
        if not self._finalizer.alive:
            return
        try:
            self.conn.send(("stop", None))
            self.proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._finalizer()


class _Watchdog:
    """Tells a child that is computing from one that is not: its CPU clock (``/proc``; where there is none, only
    the overall deadline counts)."""

    def __init__(self, pid: int, stall_s: float, limit_s: float) -> None:
        self.pid, self.stall_s, self.limit_s = pid, stall_s, limit_s
        self.t0 = self.t_progress = time.monotonic()
        self.has_clock = os.path.exists(f"/proc/{pid}/stat")
        self.cpu = process_cpu(pid)

    def hung(self) -> str:
        """Why the child is taken for hung, or ""."""
        now = time.monotonic()
        if now - self.t0 > self.limit_s:
            return f"did not answer within {self.limit_s:g} s"
        if self.has_clock:
            cpu = process_cpu(self.pid)
            if cpu != self.cpu:
                self.cpu, self.t_progress = cpu, now
            elif now - self.t_progress > self.stall_s:
                return f"made no progress for {self.stall_s:g} s (stopped or hung)"
        return ""


_SPARE: EngineProcess | None = None


def prestart() -> None:
    """Boot a worker process now (its imports take a few CPU-seconds) for the next hook that asks for one: for
    hooks created inside a training call (SB3's callback), so that start-up is not spent during training. Never
    raises; an unused spare is stopped by :func:`discard_spare` or at interpreter exit."""
    global _SPARE  # noqa: PLW0603 - the one spare process, kept for the next hook
    if _SPARE is not None and _SPARE.proc.poll() is None:
        return
    try:
        _SPARE = EngineProcess(None)
    except Exception:  # noqa: BLE001 - the hook starts its own (or falls back to a thread) as before
        _SPARE = None


def discard_spare() -> None:
    global _SPARE
    spare, _SPARE = _SPARE, None
    if spare is not None:
        spare.close(timeout=1.0)


def _kill(proc: subprocess.Popen, conn: Connection) -> None:
    """Finaliser: runs on close(), garbage collection and interpreter exit; must not reference the proxy."""
    try:
        conn.close()  # the child sees EOF and exits by itself
    except OSError:
        pass
    try:
        proc.wait(1.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the child -------------------------------------------------------------------------------------------------
def child_main(fd: int) -> None:
    conn = Connection(fd)
    parent = os.getppid()
    try:
        _preimport()
        conn.send(("booted", None))
        _, spec = conn.recv()
        engine = _build(spec)
        conn.send(("ok", None))
    except EOFError:
        return
    except Exception as exc:  # noqa: BLE001 - reported in the widget; the worker goes on in a thread
        conn.send(("error", "worker process could not start: " + format_error(exc)))
        return
    while True:
        try:
            while not conn.poll(1.0):
                if os.getppid() != parent:  # the parent died without closing the socket (e.g. SIGKILL)
                    return
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return
        if kind == "stop":
            return
        if kind == "embedding":
            try:
                conn.send(("ok", engine.embedding_snapshot()))
            except Exception as exc:  # noqa: BLE001 - sent to the parent, which reports it
                conn.send(("error", format_error(exc)))
            continue
        if payload.final or payload.settle_s > 0:  # training is over: a fair share (close() waits for it)
            _autogroup_nice(0)
        try:
            reply: tuple = ("ok", engine.run(payload))
        except Exception as exc:  # noqa: BLE001 - the parent reports it like a worker-thread exception
            reply = ("error", (format_error(exc), getattr(exc, "engine_notes", [])))
        try:
            conn.send(reply)
        except OSError:
            return


def _preimport() -> None:
    """What building an engine imports anyway, before the parent asks for one (see :func:`prestart`)."""
    from ..embed import live_tsne, pca  # noqa: F401 - openTSNE, scikit-learn (the package loads them lazily)
    from . import engine  # noqa: F401

    try:
        import torch  # noqa: F401 - estimators are torch networks
    except ImportError:
        pass


def _autogroup_nice(value: int) -> None:
    try:  # raising a session's priority back to 0 needs no privilege (only negative values do)
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(value))
    except OSError:
        pass


def _build(spec: EngineSpec) -> Any:
    import pickle

    from ..embed import make_projection
    from .engine import Engine

    options = spec.load_options()
    if isinstance(options.projection, str):
        name, cap, seed = options.projection, spec.capacity, options.seed
        projection = make_projection(name, cap, seed)
        factory = lambda: make_projection(name, cap, seed)
    else:
        projection, factory = options.projection, None
    estimator = None if spec.estimator is None else pickle.loads(spec.estimator)
    return Engine(spec.capacity, projection, options, estimator=estimator, td_needs_next=spec.td_needs_next,
                  projection_factory=factory)
