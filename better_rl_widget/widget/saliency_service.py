"""Answers the inspector's saliency requests off the kernel thread, newest request first."""

from __future__ import annotations

import copy
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from .codec import encode

if TYPE_CHECKING:
    import torch

    from .buffer_widget import BufferWidget

log = logging.getLogger("better_rl_widget")
METHODS = ("perturbation", "saliency", "integrated_gradients")


class SaliencyService:
    """``widget.enable_saliency(q_network)`` creates one. A request ``{"type": "saliency", "slot", "method"}``
    from the view is computed in a background thread on a copy of the network taken at request time (the
    training thread keeps updating the original), and the answer lands in the widget's ``saliency`` trait."""

    def __init__(self, widget: BufferWidget, model: torch.nn.Module, *, r: float | None = None,
                 d: int | None = None) -> None:
        self.widget = widget
        self.model = model
        self.r, self.d = r, d
        self._latest = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="better_rl_widget-saliency")
        widget.on_msg(self._on_msg)

    def _on_msg(self, _w: Any, content: Any, _buffers: list) -> None:
        if not (isinstance(content, dict) and content.get("type") == "saliency"):
            return
        with self._lock:
            self._latest += 1
            ticket = self._latest
        self._pool.submit(self._answer, ticket, int(content.get("slot", -1)), str(content.get("method", "perturbation")))

    def request(self, slot: int, method: str = "perturbation") -> None:
        """What a click in the view does; also usable from Python."""
        self._on_msg(None, {"type": "saliency", "slot": slot, "method": method}, [])

    def _answer(self, ticket: int, slot: int, method: str) -> None:
        if ticket != self._latest:  # a newer request came in meanwhile: skip this one
            return
        try:
            meta, arrays = self.compute(slot, method)
        except Exception as exc:  # noqa: BLE001 - shown in the inspector, never raised into the kernel
            log.warning("saliency for slot %s failed: %s", slot, exc)
            meta, arrays = {"slot": slot, "method": method, "message": f"saliency failed: {exc}"}, {}
        if ticket == self._latest:
            self.widget.saliency = encode(meta, arrays)

    def compute(self, slot: int, method: str) -> tuple[dict, dict[str, np.ndarray]]:
        from ..analysis.saliency import SaliencyError, actor_critic_maps, gradient_saliency, scaled_defaults, to_chw

        if method not in METHODS:
            return {"slot": slot, "method": method, "message": f"unknown method {method!r}; use one of {METHODS}"}, {}
        inspect = self.widget._inspect_fn
        info, obs = inspect(slot) if inspect is not None else ({}, None)
        base = {"slot": slot, "method": method, "step": info.get("step")}
        if obs is None:
            return {**base, "message": "this slot holds no observation"}, {}
        layout = info.get("obs_layout", "auto")
        if layout == "vector":
            return {**base, "message": "saliency maps need image observations; this one is a vector"}, {}
        model = copy.deepcopy(self.model).eval()
        try:
            if method == "perturbation":
                _, h, w = to_chw(obs, layout)[0].shape
                r0, d0 = scaled_defaults(h, w)
                maps = actor_critic_maps(model, obs, r=self.r or r0, d=self.d or d0, layout=layout)
            else:
                maps = {"map": gradient_saliency(model, obs, method=method, layout=layout)}
        except SaliencyError as exc:
            return {**base, "message": str(exc)}, {}
        out = {}
        for k, v in maps.items():
            peak = float(np.max(v))
            out[k] = (v / peak if peak > 0 else v).astype(np.float32)  # 0..1 per map, for the overlay
        return {**base, "message": "", "layout": layout}, out
