"""``BufferWidget``: the live replay-buffer map (anywidget)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..capture.map_modes import check_map_mode
from ..frames.codec import encode
from ..frames.frame_state import FrameState
from ..frames.snapshot import MapSnapshot
from ..frames.snapshot_codec import check_snapshot, encode_snapshot
from ..frames.summary import build_summary
from .assets import asset
from .history import MapHistory, replay_traits
from .thumbnails import Thumbnails
from .view_messages import (
    MAX_ID,
    BadMessage,
    Delta,
    RequestKeyframe,
    RequestSnapshot,
    SaliencyRequest,
    Snapshot,
    ViewMessage,
    parse_view_message,
)

log = logging.getLogger("better_rl_widget")

MAX_ERRORS = 50
MAX_SELECTION = 2**24  # points a lasso may send when no map is attached (a replay); else the map's capacity


def _bytes_from_json(value: Any, _widget: Any) -> bytes:
    # Binary trait values from the browser arrive as memoryview; traitlets.Bytes wants bytes.
    if value is None:
        return b""
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    # Not bytes(value): a JSON number there would allocate that many bytes.
    raise traitlets.TraitError(f"expected binary data, got a JSON {type(value).__name__}")


_binary = {"from_json": _bytes_from_json}


def _map_mode_trait(mode: object, k: object) -> tuple[str, int]:
    # A TraitError (not ValueError): traitlets rolls back a refused update from the view only for TraitError.
    try:
        return check_map_mode(mode, k)
    except (TypeError, ValueError) as exc:
        raise traitlets.TraitError(str(exc)) from None


class BufferWidget(anywidget.AnyWidget):
    """A WebGL map of the replay buffer with colour-by, fill gauge, status line and inspector.

    Feed it with :class:`better_rl_widget.TrainingHook`. Clicks and lasso selections come back as
    ``clicked`` / :attr:`selection` and fire :meth:`on_click` / :meth:`on_select` callbacks.
    """

    _esm = asset("widget.js")
    _css = asset("widget.css")

    keyframe = traitlets.Bytes(b"").tag(sync=True, **_binary)
    inspection = traitlets.Bytes(b"").tag(sync=True, **_binary)
    status = traitlets.Dict().tag(sync=True)
    gauge = traitlets.Dict().tag(sync=True)
    color_by = traitlets.Unicode("age").tag(sync=True)
    clicked = traitlets.Int(-1).tag(sync=True)
    selection_bytes = traitlets.Bytes(b"").tag(sync=True, **_binary)
    errors = traitlets.List(traitlets.Unicode()).tag(sync=True)
    saliency = traitlets.Bytes(b"").tag(sync=True, **_binary)
    # Priority histogram + influential states (BRW1, see docs/protocol.md); empty until a channel exists.
    summary = traitlets.Bytes(b"").tag(sync=True, **_binary)
    # Skill graph, calibration, value trace, episode paths, segments, influence (BRW1); see enable_interpret.
    interpret = traitlets.Bytes(b"").tag(sync=True, **_binary)
    # uint8 thumbnails (+ saliency maps) of the influential states, image observations only (docs/protocol.md).
    thumbnails = traitlets.Bytes(b"").tag(sync=True, **_binary)
    # Map history for the time scrubber: BRW1 index of kept snapshots (ids, steps); snapshots travel on request.
    history_index = traitlets.Bytes(b"").tag(sync=True, **_binary)
    # What a point embeds: "states", "state-actions" or "windows" of window_k (state, action) pairs (both ways;
    # a TrainingHook follows them and rebuilds the projection, docs/map_modes.md).
    map_mode = traitlets.Unicode("states").tag(sync=True)
    window_k = traitlets.Int(4).tag(sync=True)

    def __init__(self, *, history: MapHistory | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history = history if history is not None else MapHistory()
        self.history.on_note = self.add_note
        self._replay = False
        self._t0 = time.monotonic()
        self.title = ""
        self.frame_state: FrameState | None = None
        self._inspect_fn: Callable[[int], tuple[dict, np.ndarray | None]] | None = None
        self._slot_of: Callable[[np.ndarray], np.ndarray] | None = None
        self._publish_lock = threading.RLock()
        self._select_callbacks: list[Callable[[np.ndarray], None]] = []
        self._click_callbacks: list[Callable[[int], None]] = []
        self._saliency: Any = None
        self._interpret: Any = None
        self._thumbnails = Thumbnails(self)
        self.keyframe_requests = 0
        self.status = {"frames_shown": 0, "frames_dropped": 0, "worker_lag_s": 0.0, "nan_skipped": 0,
                       "last_error": "", "projection": "", "running": False, "hook_step": 0, "selected": 0}
        self.gauge = {"size": 0, "capacity": 0, "inserts_per_s": 0.0, "evictions": 0, "total_inserted": 0}
        # One listener parses every message from the views; services take the types they answer (route_messages).
        self._message_routes: dict[type, Callable[[Any], None]] = {}
        self.on_msg(self._on_custom_msg)
        self.observe(self._on_clicked, names="clicked")
        self.observe(self._on_selection, names="selection_bytes")
        self._map_mode_callbacks: list[Callable[[str, int], None]] = []
        self.observe(self._on_map_mode, names=["map_mode", "window_k"])

    # -- user API -------------------------------------------------------------------------------------------
    @property
    def selection(self) -> np.ndarray:
        """Buffer slot ids of the last lasso selection (uint32)."""
        return self.buffer_slots(self.selected_points)

    @property
    def selected_points(self) -> np.ndarray:
        """The map's point ids of the last lasso selection (uint32); equal to :attr:`selection` unless the map
        draws a sample of a larger buffer (``TrainingHook(max_points=...)``)."""
        return np.frombuffer(self.selection_bytes, dtype="<u4").astype(np.uint32)

    @property
    def clicked_slot(self) -> int:
        """Buffer slot of the last clicked point (-1: none). ``clicked`` holds the map's point id."""
        return -1 if self.clicked < 0 else int(self.buffer_slots(np.array([self.clicked]))[0])

    @property
    def churn_trace(self) -> np.ndarray:
        """Policy churn over training, float64[n, 3]: (hook step, fraction of drawn states whose greedy action
        flipped, median |ΔQ|) per pass; NaN where a value is unavailable (capture/churn.py). Empty until churn
        has data (``churn_lag_steps`` hook steps into training)."""
        trace = (self.status.get("churn") or {}).get("trace", [])
        return np.array([[p[0], np.nan if p[2] is None else p[2], np.nan if p[3] is None else p[3]]
                         for p in trace], np.float64).reshape(-1, 3)

    def buffer_slots(self, points: np.ndarray) -> np.ndarray:
        """Buffer slots of map point ids (uint32); points of a sampled map that hold no row are left out."""
        pts = np.asarray(points, np.int64)
        if self._slot_of is None:
            return pts.astype(np.uint32)
        slots = self._slot_of(pts)
        return slots[slots >= 0].astype(np.uint32)

    def on_select(self, callback: Callable[[np.ndarray], None]) -> None:
        """Call ``callback(slots)`` (buffer slot ids) on every lasso selection."""
        self._select_callbacks.append(callback)

    def on_click(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(slot)`` (the buffer slot) whenever a point is clicked."""
        self._click_callbacks.append(callback)

    def on_map_mode(self, callback: Callable[[str, int], None]) -> Callable[[], None]:
        """Call ``callback(map_mode, window_k)`` whenever either trait changes (from Python or the view); returns
        a function that removes it. ``TrainingHook`` uses this to follow the view's map-mode select."""
        self._map_mode_callbacks.append(callback)
        return lambda: self._map_mode_callbacks.remove(callback) if callback in self._map_mode_callbacks else None

    def show_map_mode(self, mode: str, window_k: int) -> None:
        """Set both map-mode traits as one change (the callbacks see the pair once it is complete)."""
        with self.hold_trait_notifications():
            self.map_mode, self.window_k = mode, window_k

    def enable_saliency(self, q_network: Any, *, r: float | None = None, d: int | None = None,
                        thumbnails: bool | None = None, thumbnail_budget_s: float = 5.0) -> Any:
        """Let the inspector show saliency maps for image observations, computed from ``q_network`` (a torch module
        taking frames in the observations' own layout, one output per action) in a background thread. ``r``/``d``:
        perturbation mask radius and grid stride; by default the paper's 5 and 5 scaled to the frame size.

        ``thumbnails=True`` also overlays actor/critic maps on the influential list's thumbnails, recomputed (at
        most ``thumbnail_budget_s`` per change) whenever the top-K set changes; off by default because it costs
        CPU while training runs (docs/saliency.md); ``None`` keeps the previous setting. The list's "saliency"
        toggle switches it too."""
        from .saliency_service import SaliencyService

        if self._saliency is not None:  # one service answers the view, not one per call
            self._saliency.close()
            thumbnails = self._saliency.thumbnails if thumbnails is None else thumbnails
        self._saliency = SaliencyService(self, q_network, r=r, d=d, thumbnails=bool(thumbnails),
                                         thumbnail_budget_s=thumbnail_budget_s)
        self._thumbnails.publish()  # the list learns that saliency is available
        if thumbnails:
            self._saliency.request_thumbnails(self._thumbnails)
        return self._saliency

    @classmethod
    def from_run(cls, run: Any, **kwargs: Any) -> BufferWidget:
        """A widget showing a recorded run (``better_rl_widget.open_run(path)``); see docs/store.md."""
        from .run_replay import widget_from_run

        return widget_from_run(cls, run, **kwargs)

    def enable_interpret(self, hook: Any, **kwargs: Any) -> Any:
        """Turn on the interpretability panels (skills, calibration, value trace, episode paths, recurring
        segments, influence) for the map fed by ``hook``; refreshed in a background thread. Keyword arguments go
        to :class:`~better_rl_widget.widget.interpret_service.InterpretService` (``k``, ``last``, ``every_s``...)."""
        from .interpret_service import InterpretService

        new = InterpretService(self, hook, **kwargs)  # raises on bad arguments before the old one stops
        old, self._interpret = getattr(self, "_interpret", None), new
        if old is not None:
            old.close()
        return new

    def close(self) -> None:
        """Close the widget and stop its services (saliency, interpretability): their threads end with it."""
        for service in (self._saliency, getattr(self, "_interpret", None)):
            if service is not None:
                try:
                    service.close()
                except Exception as exc:  # noqa: BLE001 - closing goes on; the log keeps it
                    log.warning("better_rl_widget: closing %s: %s", type(service).__name__, exc)
        self._saliency = self._interpret = None
        super().close()

    @property
    def n_points(self) -> int:
        """Number of points in the current state (what a fresh view would draw)."""
        return 0 if self.frame_state is None else self.frame_state.size

    def table(self) -> Any:
        """What the map holds now as a pandas DataFrame, one row per drawn point: ``point``, ``slot`` (buffer
        slot), ``x``, ``y`` and every per-row field (step, episode, action, reward, done, td_error, ...); a
        replayed run gives its newest snapshot. See :func:`better_rl_widget.widget.table.map_table`."""
        from .table import (
            widget_table,  # pandas loads on first use, not with the widget
        )

        return widget_table(self.frame_state, self.history, self._slot_of)

    def selection_dataset(self, *, as_frame: bool = False) -> Any:
        """The lassoed transitions as numpy arrays (``as_frame=True``: a pandas DataFrame): buffer ``slot``,
        ``obs``, ``next_obs`` (when held), ``action``, ``reward``, ``done``, ``episode``, ``step`` and, where
        known, ``td_error``, ``priority``, ``replays``; read from the map, never from the training buffer.
        ValueError when nothing is selected. See :func:`better_rl_widget.widget.selection_data.selection_dataset`."""
        from .selection_data import selection_dataset

        return selection_dataset(self, as_frame=as_frame)

    # -- history, replay and export ------------------------------------------------------------------------
    @classmethod
    def replay(cls, snapshots: Sequence[MapSnapshot], *, capacity: int | None = None, title: str = "",
               **kwargs: Any) -> BufferWidget:
        """A widget showing a recorded map history with the time scrubber (no training attached); clicks show the
        snapshot's per-row fields. ``capacity``: the buffer size for the gauge (default: the smallest one
        consistent with the slots seen); ``title``: the default title of :meth:`to_html`."""
        snaps = sorted(snapshots, key=lambda s: s.step)  # stable: equal steps keep their order
        if not snaps:
            raise ValueError("replay needs at least one MapSnapshot")
        for snap in snaps:
            check_snapshot(snap)
        widget = cls(history=MapHistory(max_snapshots=max(2, len(snaps)), max_bytes=2**62, every_s=None), **kwargs)
        for snap in snaps:
            widget.history.add(snap)
        widget._replay = True
        widget.title = title
        widget.history_index = widget.history.index_blob()
        widget.status, widget.gauge = replay_traits(snaps, capacity)
        return widget

    def snapshots(self) -> list[MapSnapshot]:
        """The kept map history, plus the current map when it changed since the last kept snapshot."""
        if self.frame_state is not None and not self._replay:
            self.record_history(force=True)
        return list(self.history)

    def to_html(self, path: str | Path, *, title: str | None = None, **kwargs: Any) -> Path:
        """Write one self-contained HTML file (bundle and data inlined, no network) showing this map's history
        with the scrubber, colour-by, gauge and inspector; ``kwargs`` go to :func:`export.export_html` (e.g.
        ``max_bytes``). See docs/export.md."""
        from .export import export_html

        snaps = self.snapshots()
        if not snaps:
            raise ValueError("nothing to export yet: the map has no points")
        kwargs.setdefault("capacity", int(self.gauge.get("capacity", 0)) or None)
        kwargs.setdefault("color_by", self.color_by)
        return export_html(path, snaps, title=self.title if title is None else title, **kwargs)

    # -- wiring used by the hook / worker (capture.sink.MapSink) -----------------------------------------------
    def attach(self, capacity: int, inspect_fn: Callable[[int], tuple[dict, np.ndarray | None]], *,
               slot_of: Callable[[np.ndarray], np.ndarray] | None = None) -> FrameState:
        """Start a fresh map of ``capacity`` points; called by ``TrainingHook``. ``slot_of`` maps the map's point
        ids to buffer slots when the map draws a sample of a larger buffer (None: a point id is its slot)."""
        with self._publish_lock:
            self._slot_of = slot_of
            self.frame_state = FrameState(capacity)
            self._inspect_fn = inspect_fn
            self._thumbnails.reset()
            self.keyframe = self.frame_state.keyframe()
            self.history.clear()  # a new run: old slots mean other transitions
            self._t0 = time.monotonic()
            self.history_index = self.history.index_blob()
        self.update_status(running=True)
        self.update_gauge(capacity=int(capacity))
        return self.frame_state

    def publish_delta(self) -> bool:
        """Send the rows changed since the last delta; True when something was sent."""
        with self._publish_lock:
            if self.frame_state is None:
                return False
            blob = self.frame_state.take_delta()
            if blob is None:
                return False
            self.send(Delta().content(), buffers=[blob])
            return True

    def publish_keyframe(self) -> None:
        """Refresh the keyframe trait (saved state, re-display, second views and resyncs read it)."""
        with self._publish_lock:
            if self.frame_state is not None:
                self.keyframe = self.frame_state.keyframe()

    def record_history(self, step: int | None = None, *, force: bool = False) -> None:
        """Keep a MapSnapshot of the current map when one is due (worker thread, after a frame); never raises."""
        fs = self.frame_state
        if fs is None:
            return
        try:
            step = int(self.status.get("hook_step", 0)) if step is None else int(step)
            if self.history.take(fs, step, time.monotonic() - self._t0, force=force) is not None:
                self.history_index = self.history.index_blob()
        except Exception as exc:  # noqa: BLE001 - history is a convenience; training and the live map go on
            self.report_error(f"map history: {type(exc).__name__}: {exc}")

    def update_status(self, **fields: Any) -> None:
        self.status = {**self.status, **fields}

    def update_gauge(self, **fields: Any) -> None:
        self.gauge = {**self.gauge, **fields}

    def publish_summary(self) -> None:
        """Rebuild the summary from the map's state (worker thread, after a frame); the influential list's
        thumbnails follow when its top-K set changed."""
        fs = self.frame_state
        if fs is None:
            return
        blob = build_summary(fs)
        if blob is not None and blob != self.summary:
            self.summary = blob
            try:
                self._thumbnails.refresh(blob, self._inspect_fn, lambda slots: fs.column("step", slots))
            except Exception as exc:  # noqa: BLE001 - a thumbnail problem must not stop the map
                self.report_error(f"thumbnails: {type(exc).__name__}: {exc}")

    def add_note(self, message: str) -> None:
        """A visible remark that is not an error (a degraded mode, a flattening); shown once."""
        notes = list(self.status.get("notes", []))
        if message not in notes:
            log.info("better_rl_widget: %s", message)
            self.update_status(notes=[*notes, message])

    def report_error(self, message: str) -> None:
        """Show a worker/capture problem in the status line and ``errors``; never raises."""
        log.warning("better_rl_widget: %s", message)
        self.errors = [*self.errors[-(MAX_ERRORS - 1):], message]
        self.update_status(last_error=message)

    # -- messages from the views --------------------------------------------------------------------------
    def reject_message(self, reason: str) -> None:
        """A message from a view that does not follow the protocol: logged and shown, never raised."""
        self.report_error(f"ignored a message from the view: {reason}")

    def set_state(self, sync_data: dict) -> None:
        # Trait updates from a view: a malformed one is refused whole (traitlets rolls it back) and reported.
        try:
            super().set_state(sync_data)
        except Exception as exc:  # noqa: BLE001 - the view is another program; the kernel must go on
            self.reject_message(f"trait update {sorted(map(str, sync_data))[:8]}: {type(exc).__name__}: {exc}")

    def _point_limit(self) -> int:
        """Map point ids are below this: the attached map's capacity, else any uint32."""
        return MAX_ID + 1 if self.frame_state is None else self.frame_state.capacity

    @traitlets.validate("clicked")
    def _check_clicked(self, proposal: dict) -> int:
        slot = proposal["value"]
        if slot != -1 and not 0 <= slot < self._point_limit():
            raise traitlets.TraitError(f"clicked point {slot} is not -1 or in [0, {self._point_limit()})")
        return slot

    @traitlets.validate("map_mode")
    def _check_map_mode(self, proposal: dict) -> str:
        return _map_mode_trait(proposal["value"], 4)[0]

    @traitlets.validate("window_k")
    def _check_window_k(self, proposal: dict) -> int:
        return _map_mode_trait("states", proposal["value"])[1]

    def _on_map_mode(self, _change: dict) -> None:
        mode, k = self.map_mode, self.window_k
        for cb in list(self._map_mode_callbacks):
            try:
                cb(mode, k)
            except Exception as exc:  # noqa: BLE001 - e.g. the view switched while a hook closed: shown, not raised
                self.report_error(f"map mode {mode!r}, k={k}: {type(exc).__name__}: {exc}")

    @traitlets.validate("selection_bytes")
    def _check_selection(self, proposal: dict) -> bytes:
        raw = proposal["value"]
        limit = self._point_limit()
        if len(raw) % 4:
            raise traitlets.TraitError(f"selection of {len(raw)} bytes is not uint32 point ids")
        if len(raw) // 4 > (MAX_SELECTION if self.frame_state is None else limit):  # checked before reading it
            raise traitlets.TraitError(f"selection of {len(raw) // 4} points is more than the map holds")
        if raw and int(np.frombuffer(raw, "<u4").max()) >= limit:
            raise traitlets.TraitError(f"selection holds a point id >= {limit}, the map's capacity")
        return raw

    def route_messages(self, handler: Callable[[Any], None], *kinds: type[ViewMessage]) -> None:
        """Send the view's messages of these types (parsed, checked) to ``handler`` instead of the widget's own
        answer; a service (saliency, interpretability panels) calls this when it starts."""
        for kind in kinds:
            self._message_routes[kind] = handler

    def unroute_messages(self, handler: Callable[[Any], None]) -> None:
        """Stop routing to ``handler``; types another handler has taken since stay with it."""
        self._message_routes = {kind: h for kind, h in self._message_routes.items() if h != handler}

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: list) -> None:
        # (not `_handle_msg`: that name is ipywidgets' own comm dispatcher)
        try:
            msg = parse_view_message(content)
            routed = self._message_routes.get(type(msg))
            if routed is not None:
                routed(msg)
            elif isinstance(msg, RequestKeyframe):
                self.keyframe_requests += 1
                self.publish_keyframe()
            elif isinstance(msg, SaliencyRequest):
                self.saliency = encode({"slot": msg.slot, "method": msg.method,
                                        "message": "saliency is off: call widget.enable_saliency(q_network)"}, {})
            elif isinstance(msg, RequestSnapshot):
                self._send_snapshot(msg.id)
            # Other requests (thumbnail saliency, interpret, influence) need a service; without one, nothing answers.
        except BadMessage as exc:
            self.reject_message(str(exc))

    def _send_snapshot(self, sid: int) -> None:
        snap = self.history.get(sid)
        blob = None
        if snap is not None:
            try:
                blob = encode_snapshot(snap, snapshot_id=sid)
            except ValueError as exc:  # e.g. a recorded snapshot with a reserved field name: say so, keep the kernel
                self.report_error(f"map history: snapshot at step {snap.step} cannot be shown: {exc}")
        if blob is None:  # thinned away meanwhile (the view picks another from the new index), or unencodable
            self.send(Snapshot(sid, missing=True).content())
            return
        self.send(Snapshot(sid).content(), buffers=[blob])

    def _on_clicked(self, change: dict) -> None:
        slot = int(change["new"])
        if slot < 0:
            return
        if not self._replay:  # a replay has no buffer: the view shows the snapshot's own row
            self._answer_inspection(slot)
        if self._click_callbacks:
            slot = self.clicked_slot if self._slot_of is not None else slot
        for cb in list(self._click_callbacks):
            self._safe_call(cb, slot)

    def _answer_inspection(self, slot: int) -> None:
        if self._inspect_fn is None:
            meta, obs = {"slot": slot, "present": False, "message": "no buffer attached"}, None
        else:
            try:
                meta, obs = self._inspect_fn(slot)
            except Exception as exc:  # noqa: BLE001 - the inspector must never take the kernel down
                meta, obs = {"slot": slot, "present": False, "message": f"inspection failed: {exc}"}, None
        meta["hook_step"] = int(self.status.get("hook_step", 0))  # how far training was when Python answered
        arrays = {} if obs is None else {"obs": np.asarray(obs, np.float32)}
        self.inspection = encode(meta, arrays)

    def _on_selection(self, _change: dict) -> None:
        slots = self.selection
        self.update_status(selected=len(self.selected_points))  # the view compares it with its own count
        for cb in list(self._select_callbacks):
            self._safe_call(cb, slots)

    def _safe_call(self, cb: Callable, arg: Any) -> None:
        try:
            cb(arg)
        except Exception as exc:  # noqa: BLE001 - a user callback error is shown, not raised into the comm
            self.report_error(f"callback {getattr(cb, '__name__', cb)!r} raised {type(exc).__name__}: {exc}")
