"""The worker's heavy part: TD-errors/Q/V/features, returns and the projection, fed with checked rows.

An :class:`Engine` knows nothing about widgets or threads: each :meth:`Engine.run` takes the rows that arrived
(and the slots that left), does one frame's work and returns what changed (per-slot values, coordinates, notes).
``LiveWorker`` calls it directly (``worker="thread"``) or through :class:`~.engine_process.EngineProcess`, which
runs the same class in a child process (``worker="process"``).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..analysis.returns import returns_to_go
from ..embed.base import Projection, ProjectionFrame
from .churn import ChurnTracker
from .map_modes import CONTEXT_FIELDS, ActionCode, describe, flat_states, pair_rows, state_scale, window_rows
from .mirror import BufferMirror
from .options import LiveOptions

if TYPE_CHECKING:  # torch is optional: only a hook with a q_network imports it
    from collections.abc import Callable

    from .estimator import Estimates, TDEstimator

SWEEP_CHUNK = 4096
NEW_ROWS_BATCH = 2048
# What the engine reads from a row: the estimator's inputs and the returns' bookkeeping.
ENGINE_FIELDS = ("obs", "next_obs", "action", "reward", "terminated", "episode", "episode_step", "done",
                 *CONTEXT_FIELDS)


@dataclass
class EngineInput:
    """One frame's input: rows that arrived (already checked by the kernel-side mirror) and slots that left."""

    slots: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # valid new rows
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # their ENGINE_FIELDS (process mode only)
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    drain: bool = False  # flush/close: place every pending row before returning
    force_new: bool = False  # compute new rows' estimates now, not at the next batch
    final: bool = False  # close: fresh networks, full TD-error sweep, returns, every row placed
    weights: Any = None  # process mode: the live networks' state, shipped at a bounded rate
    frame_cpu_s: float | None = None  # the CPU this frame may take (cost governor); None: the projection's own pace
    settle_s: float = 0.0  # > 0: one round (about this long) of the final settle pass instead of a frame
    n_jobs: int = 1  # threads the settle pass may use (training is over)
    map_mode: tuple[str, int] | None = None  # switch what a point embeds (capture/map_modes.py): (mode, k)
    hook_step: int = -1  # the hook's step count when the rows were copied (policy churn's clock; -1: unknown)


@dataclass
class EngineResult:
    """What a frame changed. ``fields``: per-slot values (td_error, q, value, return) as (slots, values)."""

    fields: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    frame: ProjectionFrame | None = None
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    new_rows: int = 0  # rows waiting for their batched estimates
    new_due_in: float = 0.0  # seconds until that batch is due
    map_mode: tuple[str, int] = ("states", 4)  # what the map embeds after this frame
    map_rebuilt: bool = False  # the projection was rebuilt for a new map mode this frame
    # Policy churn passes completed this frame: (step, then_step, flipped fraction, median |dq|, rows) each.
    churn: list[tuple] = field(default_factory=list)


class Engine:
    """Estimates and projection for one map. ``mirror`` is shared with the kernel side in a thread (rows are
    already in it) and private in a process (``run`` applies the shipped rows first)."""

    def __init__(self, capacity: int, projection: Projection, options: LiveOptions, *,
                 mirror: BufferMirror | None = None, estimator: TDEstimator | None = None, td_needs_next: bool = True,
                 projection_factory: Callable[[], Projection] | None = None) -> None:
        """Reads ``options``' step_budget_s, embed, td_budget_s, returns_every_s and gamma (the returns' discount
        when there is no estimator; an estimator's own gamma wins). ``projection``: the built projection;
        ``projection_factory`` builds a fresh one when the embedded rows change width (None: it cannot)."""
        self.capacity = int(capacity)
        self.options = options
        self.projection = projection
        self.shared_mirror = mirror is not None
        self.mirror = mirror if mirror is not None else BufferMirror(capacity)
        self.step_budget_s = options.step_budget_s
        self.estimator = estimator
        self.projection_factory = projection_factory
        self.embed = options.embed
        self.td_budget_s = options.td_budget_s
        self.td_needs_next = td_needs_next
        self._td_cursor = 0
        self.td_sweep_s = 2.0
        self.new_rows_every_s = 1.0
        self._new: list[np.ndarray] = []
        self._new_rows = 0
        self._last_new = 0.0
        self._last_sweep = 0.0
        self._rows_per_s = 5_000.0  # first guess; measured from then on
        self._embedding: str | None = None  # "features" or "obs", fixed by the first rows
        self._reported_disabled = False
        self.returns_every_s = options.returns_every_s
        self.gamma = estimator.gamma if estimator is not None else options.gamma
        self._last_returns = 0.0
        # What the map's "return" column holds (NaN until set; a new row in a slot does not change it).
        self.returns_shown = np.full(self.capacity, np.nan, np.float32)
        self._out: EngineResult = EngineResult()
        # Work per frame under the cost governor: a t-SNE iteration's CPU and a frame's other CPU, measured.
        self._iter_cpu: float | None = None
        self._fixed_cpu: float | None = None
        self._max_iter = getattr(projection, "max_iter_per_step", None)
        # What a point embeds (capture/map_modes.py); the action code and its scale are fixed per projection.
        self.map_mode = options.map_mode or "states"
        self.window_k = options.window_k or 4
        self._code: ActionCode | None = None
        self._scale: float | None = None
        # Flips/ΔQ against an older snapshot (capture/churn.py), for estimators that offer churn_eval. Looked up on
        # the class: a wrapper that forwards attributes (sb3.VecNormalized) must define its own (its inputs differ).
        self.churn = ChurnTracker.from_options(self.capacity, options) \
            if estimator is not None and callable(getattr(type(estimator), "churn_eval", None)) else None
        self._hook_step = -1

    # -- one frame -----------------------------------------------------------------------------------------
    def run(self, inp: EngineInput) -> EngineResult:
        """Apply ``inp`` and do one frame's work. Exceptions propagate (the caller reports them) carrying the
        frame's notes so far as ``engine_notes`` (e.g. why TD-errors switched off just before)."""
        self._out = EngineResult()
        try:
            return self._run(inp)
        except Exception as exc:
            # whatever was raised carries the notes to the worker; no exception type declares the attribute
            exc.engine_notes = [*self._out.notes, *self._out.errors]  # type: ignore[attr-defined]
            raise

    def _run(self, inp: EngineInput) -> EngineResult:
        out = self._out
        if inp.hook_step >= 0:
            self._hook_step = inp.hook_step
        if inp.weights is not None and self.estimator is not None:
            self.estimator.load_weights(inp.weights)
        if len(inp.removed):
            if not self.shared_mirror:
                self.mirror.present[inp.removed] = False
            self.projection.remove(inp.removed)
        if len(inp.slots) and not self.shared_mirror:
            self.mirror.apply(inp.slots, inp.rows)
        if inp.map_mode is not None:  # after the rows: a switch to windows brings every drawn row's context
            self.set_map_mode(*inp.map_mode, placing=inp.slots)
        out.map_mode = (self.map_mode, self.window_k)
        if len(inp.slots):
            self._ingest(inp.slots)
        if inp.final:
            return self._final(placed=len(inp.slots) > 0)
        if inp.settle_s > 0:
            settle = getattr(self.projection, "settle", None)
            out.frame = settle(inp.settle_s, n_jobs=inp.n_jobs) if settle is not None else \
                self._step_projection(drain=True)
            out.frame.info.setdefault("settled", True)
            out.frame.info.setdefault("settle_progress", 1.0)
            return out
        self._flush_new(force=inp.force_new)
        self._estimate()
        self._churn()
        self._returns()
        self._fit_work(inp.frame_cpu_s)
        out.frame = self._step_projection(drain=inp.drain)
        self._waiting(out)
        return out

    def embedding_snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lanes, the rows the projection embedded for them, their map coordinates): for measuring the map's
        quality against a full fit of the same rows (benchmarks/real_overhead.py)."""
        p = self.projection
        embedded = getattr(p, "embedded", None)
        got = embedded() if embedded is not None else None
        if got is not None:  # live t-SNE: its reduced rows, as its optimisation saw them
            return got
        frame = p.step(0.0)
        lanes = np.asarray(frame.slots, np.int64)
        if len(lanes) == 0:  # an empty map
            return lanes, np.zeros((0, 0), np.float32), np.zeros((0, 2), np.float32)
        obs = self.mirror.rows(lanes, ("obs",))["obs"]
        rows = self._mode_rows(lanes, flat_states(obs, self.map_mode, self.window_k))
        return lanes, rows.astype(np.float32), np.asarray(frame.coords, np.float32)

    def _fit_work(self, frame_cpu_s: float | None) -> None:
        """Fewer t-SNE iterations per frame when the governor's share of CPU for one frame is small, so frames
        keep coming (about one a second) instead of stalling; each is then cheaper, the map converges slower."""
        p = self.projection
        if hasattr(p, "refine_in_step"):  # governed frames leave new points' refinement to the settle pass
            p.refine_in_step = frame_cpu_s is None
        if self._max_iter is None or not hasattr(p, "max_iter_per_step"):
            return
        if frame_cpu_s is None or self._iter_cpu is None or self._fixed_cpu is None:
            p.max_iter_per_step = self._max_iter
            return
        k = int((frame_cpu_s - self._fixed_cpu) / max(self._iter_cpu, 1e-4))
        p.max_iter_per_step = int(np.clip(k, 1, self._max_iter))
        if hasattr(p, "min_iter_per_step"):
            p.min_iter_per_step = min(p.min_iter_per_step, p.max_iter_per_step)

    def _final(self, placed: bool) -> EngineResult:
        """A last complete pass so the final state has every slot's TD-error and return."""
        out = self._out
        if self.estimator is not None:
            self.estimator.refresh_now()  # the final state reflects the final networks
        if self._new or placed:  # rows that arrived after the last flush
            self._flush_new(force=True)
            out.frame = self._step_projection(drain=True)
        budget, self.td_budget_s = self.td_budget_s, 30.0
        try:
            self._estimate(force=True)
        finally:
            self.td_budget_s = budget
        self._churn(force=True)
        self._returns(force=True)
        self._waiting(out)
        return out

    def _waiting(self, out: EngineResult) -> None:
        out.new_rows = self._new_rows
        out.new_due_in = max(0.0, self._last_new + self.new_rows_every_s - time.monotonic())

    def _set(self, slots: np.ndarray, fields: dict[str, np.ndarray]) -> None:
        for name, v in fields.items():
            prev = self._out.fields.get(name)
            self._out.fields[name] = (slots, v) if prev is None else \
                (np.concatenate([prev[0], slots]), np.concatenate([prev[1], v]))

    def _note(self, message: str) -> None:
        if message not in self._out.notes:
            self._out.notes.append(message)

    def _step_projection(self, drain: bool = False, max_steps: int = 200) -> ProjectionFrame:
        """One projection step; when draining (flush/close), more until no row is pending placement, so that
        everything inserted so far is on the map."""
        p = self.projection
        it0, opt0, c0 = getattr(p, "iterations", 0), getattr(p, "timings", {}).get("optimize_s", 0.0), \
            time.thread_time()
        frame = p.step(self.step_budget_s)
        spent = time.thread_time() - c0
        d_it = getattr(p, "iterations", 0) - it0
        if d_it > 0:  # measured, smoothed: what one iteration and the rest of a frame cost
            opt = max(getattr(p, "timings", {}).get("optimize_s", 0.0) - opt0, 0.0)
            per, fixed = min(opt, spent) / d_it, max(spent - opt, 0.0)
            self._iter_cpu = per if self._iter_cpu is None else 0.7 * self._iter_cpu + 0.3 * per
            self._fixed_cpu = fixed if self._fixed_cpu is None else 0.7 * self._fixed_cpu + 0.3 * fixed
        for _ in range(max_steps if drain else 0):
            if not frame.info.get("pending", 0):
                break
            frame = self.projection.step(self.step_budget_s)
        return frame

    # -- new rows ---------------------------------------------------------------------------------------------
    def _ingest(self, valid: np.ndarray) -> None:
        if self.churn is not None:
            self.churn.invalidate(valid)
        if self.estimator is not None and not self.estimator.disabled:
            # Batched: TD-errors and features of new rows are computed together about once a second
            # (_flush_new); many small forward passes cost far more CPU per row next to a training thread.
            self._new.append(valid)
            self._new_rows += len(valid)
            if self.embed != "obs" and self._embedding != "obs":
                return  # placed once their features exist
        self._place(valid)

    def _flush_new(self, force: bool = False) -> None:
        if not self._new:
            return
        now = time.monotonic()
        if not force and self._new_rows < NEW_ROWS_BATCH and now - self._last_new < self.new_rows_every_s:
            return
        self._last_new = now
        slots = np.unique(np.concatenate(self._new))
        self._new, self._new_rows = [], 0
        slots = slots[self.mirror.present[slots]]
        if len(slots) == 0:
            return
        want = self.embed != "obs" and self._embedding != "obs"
        est = self.estimator
        out = self._compute(slots, want) if est is not None and not est.disabled else None
        if not want:
            return  # already placed from observations
        if out is not None and out.features is not None:
            if not np.isfinite(out.features).all(axis=1).any():
                self._features_diverged()  # re-places every row, these too, from observations
                return
            self._embedding = "features"
            self.projection.add(slots, self._mode_rows(slots, out.features))
        else:
            self._place(slots)

    def _features_diverged(self) -> None:
        """Every feature row is NaN/inf (a diverged q_network): the projection would reject them all and the map
        would stop growing, so the map embeds observations instead, as when the network fails."""
        self._note("features off: the q_network's features are NaN or inf for every new row (diverged weights?)")
        self._switch_to_obs()

    def _compute(self, chunk: np.ndarray, want_features: bool = False) -> Estimates | None:
        assert self.estimator is not None
        names = ("obs", "action", "reward", "terminated") + (("next_obs",) if self.td_needs_next else ())
        rows = self.mirror.rows(chunk, names)
        if not self.td_needs_next:
            rows["next_obs"] = rows["obs"]  # Q and V only; TD-errors stay NaN
        out = self.estimator.compute(chunk, rows, want_features)
        if out is None:
            self._note_disabled()
            return None
        fields = {"q": out.q, "value": out.value}
        if self.td_needs_next:
            fields["td_error"] = out.td_error
        if not np.isfinite(out.q).all():  # the mirror holds finite observations only: the network itself diverged
            self._note("the q_network returns NaN or inf Q-values for some of the buffer's observations (diverged "
                       "weights?): those rows' TD-errors, Q and V are NaN")
        self.mirror.set_fields(out.slots, fields)
        self._set(out.slots, fields)
        return out

    # -- what the projection embeds -----------------------------------------------------------------------
    def _place(self, slots: np.ndarray) -> None:
        # The rows first, then `self.projection`: computing them can replace the projection (_switch_to_obs).
        rows = self._embedding_rows(self.mirror.rows(slots, ("obs",))["obs"])
        if rows is not None:
            self.projection.add(slots, self._mode_rows(slots, rows))

    def _embedding_rows(self, obs: np.ndarray) -> np.ndarray | None:
        """The rows the projection embeds for ``obs``; None when features just became unavailable (the switch to
        observations re-placed every row in the mirror, these too)."""
        if self._embedding is None:
            use = self.embed != "obs" and self.estimator is not None
            self._embedding = "features" if use else "obs"
        if self._embedding == "none":  # features went away and the user's projection cannot be rebuilt
            return None
        if self._embedding == "features":
            assert self.estimator is not None
            feats = self.estimator.features(obs)
            if feats is not None and len(feats) and not np.isfinite(feats).all(axis=1).any():
                self._features_diverged()
                return None
            if feats is not None:
                return feats
            if self.estimator.features_off:
                self._note(self.estimator.features_off)
            self._switch_to_obs()
            return None
        return flat_states(obs, self.map_mode, self.window_k)

    def _switch_to_obs(self) -> None:
        """Features became unavailable: re-embed everything from observations (dimensions differ)."""
        self._embedding = "obs"
        present = np.flatnonzero(self.mirror.present)
        if self.projection_factory is None:
            self._embedding = "none"
            self._out.errors.append("features became unavailable and the projection object cannot be rebuilt; "
                                    "new points are not placed")
            return
        self.projection = self.projection_factory()
        self._code = self._scale = None
        if len(present):
            obs = self.mirror.rows(present, ("obs",))["obs"]
            self.projection.add(present, self._mode_rows(present, flat_states(obs, self.map_mode, self.window_k)))
        self._note("the map embeds observations: the q_network's features are unavailable")

    # -- map modes: states, (state, action) pairs, windows of k pairs ---------------------------------------
    def set_map_mode(self, mode: str, k: int, placing: np.ndarray | None = None) -> bool:
        """Embed ``mode`` from now on: a fresh projection, every drawn row re-embedded (except ``placing``, rows
        this frame places anyway). False when nothing changed or the projection cannot be rebuilt (said)."""
        if mode == self.map_mode and (mode != "windows" or k == self.window_k):
            self.window_k = k  # k counts in windows mode only: nothing to re-embed
            return False
        if self.projection_factory is None:
            self._out.errors.append(f"the map mode stays {self.map_mode!r}: a Projection object of yours cannot be "
                                    "rebuilt for other features (pass projection='auto', 'tsne' or 'pca')")
            return False
        self.map_mode, self.window_k = mode, k
        self.projection = self.projection_factory()
        self._code = self._scale = None
        self._out.map_rebuilt = True
        self._note(f"map: {describe(mode, k)} (projection rebuilt)")
        present = np.flatnonzero(self.mirror.present)
        if self._new:  # rows waiting for their batched features are placed when those exist
            present = present[~np.isin(present, np.concatenate(self._new))]
        if placing is not None and len(placing):
            present = present[~np.isin(present, placing)]
        if len(present) and self._embedding is not None:
            rows = self._embedding_rows(self.mirror.rows(present, ("obs",))["obs"])
            if rows is not None:  # None: features went away and every row was re-placed from observations
                self.projection.add(present, self._mode_rows(present, rows))
        return True

    def _mode_rows(self, slots: np.ndarray, states: np.ndarray) -> np.ndarray:
        """The rows the projection embeds for ``slots`` whose state rows are ``states``, by the map mode."""
        if self.map_mode == "states" or len(slots) == 0:
            return states
        if self._code is None or self._scale is None:  # fixed until the next rebuild: every row the same width
            present = np.flatnonzero(self.mirror.present)
            n_actions = self.options.n_actions or getattr(self.estimator, "n_actions", None)
            self._code = ActionCode.fit(self.mirror.rows(present, ("action",))["action"], n_actions)
            self._scale = state_scale(states)
        code, scale = self._code, self._scale
        clipped = code.clipped
        actions = self.mirror.rows(slots, ("action",))["action"]
        k = self.window_k
        if self.map_mode == "state-actions" or k == 1:
            out = pair_rows(states, actions, code, scale)
        else:
            ctx_states, ctx_actions = self._context(slots, states, actions)
            out = window_rows(states, actions, ctx_states, ctx_actions, code, scale)
        if code.clipped > clipped:
            self._note(f"map: actions beyond {code.width - 1} share the action code's last column")
        return out

    def _context(self, slots: np.ndarray, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The k-1 earlier (state rows, actions) of ``slots``, oldest first, from the context the hook read with
        each row; rows without one (not read yet) repeat their own pair (as at an episode's start)."""
        n, km1 = len(slots), self.window_k - 1
        f = self.mirror.fields
        have = "ctx_valid" in f and f["ctx_valid"].shape[1:] == (km1,) and "ctx_obs" in f
        if not have:
            return (np.repeat(states[:, None], km1, axis=1),
                    np.repeat(np.asarray(actions)[:, None], km1, axis=1))
        got = self.mirror.rows(slots, ("ctx_obs", "ctx_action"))
        cobs = got["ctx_obs"]
        flat = cobs.reshape(n * km1, *cobs.shape[2:])
        rows: np.ndarray | None = None
        if self._embedding == "features" and self.estimator is not None:
            rows = self.estimator.features(flat)
        if rows is None or rows.shape[1:] != states.shape[1:]:
            rows = flat_states(flat, self.map_mode, self.window_k)
            if rows.shape[1:] != states.shape[1:]:  # features for the row, none for its context: repeat the row
                rows = np.repeat(states, km1, axis=0)
        return rows.reshape(n, km1, -1), got["ctx_action"]

    # -- TD-errors, Q, V and returns ---------------------------------------------------------------------
    def _estimate(self, force: bool = False) -> None:
        est = self.estimator
        if est is None:
            return
        if est.disabled:
            self._note_disabled()
            return
        t0 = time.perf_counter()
        present = np.flatnonzero(self.mirror.present)
        if len(present) == 0:
            return
        # New rows got theirs on arrival (_flush_new); old slots are refreshed at most every `td_sweep_s` (their
        # values drift slowly as the network learns, and on a busy machine the worker's CPU time is taken from
        # training), in large chunks: fewer GIL hand-offs with the training thread.
        if not (force or time.monotonic() - self._last_sweep >= self.td_sweep_s):
            return
        self._last_sweep = time.monotonic()
        n_sweep = 0
        while time.perf_counter() - t0 < self.td_budget_s and n_sweep < len(present):
            # Size the chunk so one compute fits the budget (measured rows per CPU-second), since a chunk
            # cannot be interrupted; forced passes (close) use the largest chunks.
            size = SWEEP_CHUNK if force else int(min(SWEEP_CHUNK, max(64, self._rows_per_s * self.td_budget_s)))
            start = self._td_cursor % len(present)
            chunk = present[start:start + size]
            self._td_cursor = start + len(chunk)
            n_sweep += len(chunk)
            c0 = time.thread_time()
            if self._compute(chunk) is None:
                return
            spent = max(time.thread_time() - c0, 1e-4)
            self._rows_per_s = 0.5 * self._rows_per_s + 0.5 * len(chunk) / spent

    def _churn(self, force: bool = False) -> None:
        """Policy churn of the drawn rows, within the TD budget: a pass per snapshot change (capture/churn.py)."""
        ch, est = self.churn, self.estimator
        if ch is None or est is None or est.disabled or ch.off:
            return
        ch.on_snapshot(est, self._hook_step)
        res = ch.work(est, np.flatnonzero(self.mirror.present), lambda lanes: self.mirror.rows(lanes, ("obs",))["obs"],
                      self.td_budget_s, force=force)
        if res.error:
            self._note(res.error)
        if len(res.slots):
            self._set(res.slots, res.fields)
        if res.point is not None:
            self._out.churn.append(res.point)

    def _note_disabled(self) -> None:
        if self.estimator is not None and self.estimator.disabled and not self._reported_disabled:
            self._reported_disabled = True
            self._note(self.estimator.disabled)

    def _returns(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_returns < self.returns_every_s:
            return
        self._last_returns = now
        present = np.flatnonzero(self.mirror.present)
        names = ("episode", "episode_step", "reward", "done")
        if len(present) == 0 or not all(n in self.mirror.fields for n in names):
            return
        r = self.mirror.rows(present, names)
        g = returns_to_go(r["episode"], r["episode_step"], r["reward"], r["done"], self.gamma).astype(np.float32)
        old = self.returns_shown[present]
        changed = ~((old == g) | (np.isnan(old) & np.isnan(g)))
        if changed.any():
            self.returns_shown[present[changed]] = g[changed]
            self._set(present[changed], {"return": g[changed]})


def format_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
