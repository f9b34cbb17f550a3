"""``BufferWidget``: the live replay-buffer map (anywidget)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from .codec import encode
from .frame_state import FrameState

log = logging.getLogger("better_rl_widget")

_STATIC = Path(__file__).resolve().parent.parent / "static"
MAX_ERRORS = 50


def _bytes_from_json(value: Any, _widget: Any) -> bytes:
    # Binary trait values from the browser arrive as memoryview; traitlets.Bytes wants bytes.
    if value is None:
        return b""
    return value.tobytes() if isinstance(value, memoryview) else bytes(value)


_binary = {"from_json": _bytes_from_json}


class BufferWidget(anywidget.AnyWidget):
    """A WebGL map of the replay buffer with colour-by, fill gauge, status line and inspector.

    Feed it with :class:`better_rl_widget.TrainingHook`. Clicks and lasso selections come back as
    ``clicked`` / :attr:`selection` and fire :meth:`on_click` / :meth:`on_select` callbacks.
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.frame_state: FrameState | None = None
        self._inspect_fn: Callable[[int], tuple[dict, np.ndarray | None]] | None = None
        self._publish_lock = threading.RLock()
        self._select_callbacks: list[Callable[[np.ndarray], None]] = []
        self._click_callbacks: list[Callable[[int], None]] = []
        self.keyframe_requests = 0
        self.status = {"frames_shown": 0, "frames_dropped": 0, "worker_lag_s": 0.0, "nan_skipped": 0,
                       "last_error": "", "projection": "", "running": False, "hook_step": 0, "selected": 0}
        self.gauge = {"size": 0, "capacity": 0, "inserts_per_s": 0.0, "evictions": 0, "total_inserted": 0}
        self.on_msg(self._on_custom_msg)
        self.observe(self._on_clicked, names="clicked")
        self.observe(self._on_selection, names="selection_bytes")

    # -- user API -------------------------------------------------------------------------------------------
    @property
    def selection(self) -> np.ndarray:
        """Slot ids of the last lasso selection (uint32)."""
        return np.frombuffer(self.selection_bytes, dtype="<u4").astype(np.uint32)

    def on_select(self, callback: Callable[[np.ndarray], None]) -> None:
        """Call ``callback(slots)`` on every lasso selection."""
        self._select_callbacks.append(callback)

    def on_click(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(slot)`` whenever a point is clicked."""
        self._click_callbacks.append(callback)

    def enable_saliency(self, q_network: Any, *, r: float | None = None, d: int | None = None) -> Any:
        """Let the inspector show saliency maps for image observations, computed from ``q_network`` (a torch module
        taking frames in the observations' own layout, one output per action) in a background thread. ``r``/``d``:
        perturbation mask radius and grid stride; by default the paper's 5 and 5 scaled to the frame size."""
        from .saliency_service import SaliencyService

        self._saliency = SaliencyService(self, q_network, r=r, d=d)
        return self._saliency

    @classmethod
    def from_run(cls, run: Any, **kwargs: Any) -> BufferWidget:
        """A widget showing a recorded run (``better_rl_widget.open_run(path)``); see docs/store.md."""
        from ..store.replay import widget_from_run

        return widget_from_run(cls, run, **kwargs)

    @property
    def n_points(self) -> int:
        """Number of points in the current state (what a fresh view would draw)."""
        return 0 if self.frame_state is None else self.frame_state.size

    # -- wiring used by the hook / worker ---------------------------------------------------------------------
    def attach(self, capacity: int, inspect_fn: Callable[[int], tuple[dict, np.ndarray | None]]) -> FrameState:
        """Start a fresh map for a buffer of ``capacity`` slots; called by ``TrainingHook``."""
        with self._publish_lock:
            self.frame_state = FrameState(capacity)
            self._inspect_fn = inspect_fn
            self.keyframe = self.frame_state.keyframe()
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
            self.send({"type": "delta"}, buffers=[blob])
            return True

    def publish_keyframe(self) -> None:
        """Refresh the keyframe trait (saved state, re-display, second views and resyncs read it)."""
        with self._publish_lock:
            if self.frame_state is not None:
                self.keyframe = self.frame_state.keyframe()

    def update_status(self, **fields: Any) -> None:
        self.status = {**self.status, **fields}

    def update_gauge(self, **fields: Any) -> None:
        self.gauge = {**self.gauge, **fields}

    def publish_summary(self, blob: bytes | None) -> None:
        if blob is not None and blob != self.summary:
            self.summary = blob

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
    def _on_custom_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        # (not `_handle_msg`: that name is ipywidgets' own comm dispatcher)
        if isinstance(content, dict) and content.get("type") == "request_keyframe":
            self.keyframe_requests += 1
            self.publish_keyframe()
        elif isinstance(content, dict) and content.get("type") == "saliency" and getattr(self, "_saliency", None) is None:
            self.saliency = encode({"slot": int(content.get("slot", -1)), "method": content.get("method"),
                                    "message": "saliency is off: call widget.enable_saliency(q_network)"}, {})

    def _on_clicked(self, change: dict) -> None:
        slot = int(change["new"])
        if slot < 0:
            return
        self._answer_inspection(slot)
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
        self.update_status(selected=int(len(slots)))
        for cb in list(self._select_callbacks):
            self._safe_call(cb, slots)

    def _safe_call(self, cb: Callable, arg: Any) -> None:
        try:
            cb(arg)
        except Exception as exc:  # noqa: BLE001 - a user callback error is shown, not raised into the comm
            self.report_error(f"callback {getattr(cb, '__name__', cb)!r} raised {type(exc).__name__}: {exc}")
