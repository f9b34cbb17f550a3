"""Answers the inspector's saliency requests off the kernel thread, newest request first."""

from __future__ import annotations

import copy
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
from threadpoolctl import threadpool_limits

from ..frames.codec import encode
from .view_messages import SaliencyRequest, ThumbnailSaliency

if TYPE_CHECKING:
    import torch

    from ..analysis.saliency import Layout
    from .buffer_widget import BufferWidget
    from .thumbnails import Thumbnails

log = logging.getLogger("better_rl_widget")
METHODS = ("perturbation", "saliency", "integrated_gradients")


@dataclass
class _Job:
    """One top-K refresh's saliency work: compute time spent so far and rows already tried."""

    spent_s: float = 0.0
    tried: set = field(default_factory=set)


class SaliencyService:
    """``widget.enable_saliency(q_network)`` creates one. A request ``{"type": "saliency", "slot", "method"}``
    from the view is computed in a background thread on a copy of the network taken at request time (the
    training thread keeps updating the original), and the answer lands in the widget's ``saliency`` trait.

    With ``thumbnails`` on (off by default: it costs CPU while training runs), the same thread also computes
    actor/critic perturbation maps for the influential-states list whenever its top-K set changes: one thread,
    newest top-K wins, at most ``thumbnail_budget_s`` of compute per refresh, rows cached by (slot, insert step), an
    inspector click always goes first, and the thread rests between rows so that it is busy at most
    ``thumbnail_duty`` of the time (the top-K set changes often while training runs)."""

    def __init__(self, widget: BufferWidget, model: torch.nn.Module, *, r: float | None = None,
                 d: int | None = None, thumbnails: bool = False, thumbnail_budget_s: float = 5.0) -> None:
        self.widget = widget
        self.model = model
        self.r, self.d = r, d
        self.thumbnails = bool(thumbnails)
        self.thumbnail_budget_s = float(thumbnail_budget_s)
        self.thumbnail_duty = 0.5
        self._latest = 0
        self._thumb_ticket = 0
        self._clicks_waiting = 0
        self._click = threading.Event()  # cuts a thumbnail rest short: a click is answered at once
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="better_rl_widget-saliency")
        widget.route_messages(self._on_message, SaliencyRequest, ThumbnailSaliency)

    def _on_message(self, msg: SaliencyRequest | ThumbnailSaliency) -> None:
        """A request from the view, parsed and checked by the widget."""
        if isinstance(msg, ThumbnailSaliency):
            self.set_thumbnails(msg.on)
        else:
            self._request(msg.slot, msg.method)

    def _request(self, slot: int, method: str) -> None:
        with self._lock:
            self._latest += 1
            self._clicks_waiting += 1
            ticket = self._latest
        self._click.set()
        self._pool.submit(self._answer, ticket, slot, method)

    # -- the influential list's thumbnails ----------------------------------------------------------------------
    def set_thumbnails(self, on: bool) -> None:
        """Turn saliency thumbnails for the influential list on or off (the list's toggle does this)."""
        self.thumbnails = bool(on)
        thumbs = getattr(self.widget, "_thumbnails", None)
        if thumbs is None:
            return
        thumbs.publish(message="")
        if on:
            self.request_thumbnails(thumbs)

    def request_thumbnails(self, thumbs: Thumbnails) -> None:
        """The top-K rows changed: compute the maps they lack (a newer request abandons an older one)."""
        if not self.thumbnails:
            return
        with self._lock:
            self._thumb_ticket += 1
            ticket = self._thumb_ticket
        self._pool.submit(self._thumbnail_job, ticket, thumbs, _Job())

    def _thumbnail_job(self, ticket: int, thumbs: Thumbnails, job: _Job) -> None:
        try:
            with threadpool_limits(limits=1):  # at most one core away from training
                self._thumbnail_rows(ticket, thumbs, job)
        except Exception as exc:  # noqa: BLE001 - shown in the list, never raised into the kernel
            log.warning("saliency thumbnails failed: %s", exc)
            thumbs.publish(message=f"saliency failed: {exc}")

    def _thumbnail_rows(self, ticket: int, thumbs: Thumbnails, job: _Job) -> None:
        model, last_publish = None, time.monotonic()
        while ticket == self._thumb_ticket and self.thumbnails:
            if self._clicks_waiting:  # an inspector click is queued: answer it first, then carry on
                thumbs.publish()
                self._pool.submit(self._thumbnail_job, ticket, thumbs, job)
                return
            todo = [k for k in thumbs.missing_maps() if k not in job.tried]
            if not todo:
                thumbs.publish(message="")
                return
            if job.spent_s > self.thumbnail_budget_s:  # (so at least one row per refresh: progress)
                thumbs.publish(message=f"saliency for {len(todo)} rows left out (over the "
                                       f"{self.thumbnail_budget_s:g} s budget); they come with the next refresh")
                return
            slot, step = todo[0]
            job.tried.add((slot, step))
            info, obs = self._inspect(slot)
            if obs is None or info.get("step") != step:
                continue  # evicted since the list was built
            t0 = time.monotonic()
            model = model if model is not None else copy.deepcopy(self.model).eval()
            maps = self._perturbation(model, obs, info.get("obs_layout", "auto"))
            thumbs.add_maps(slot, step, maps["actor"], maps["critic"])
            spent = time.monotonic() - t0
            job.spent_s += spent
            if 0 < self.thumbnail_duty < 1:  # leave the CPU to training for a while
                self._click.clear()
                if not self._clicks_waiting:
                    self._click.wait(spent * (1 / self.thumbnail_duty - 1))
            if time.monotonic() - last_publish > 0.5:  # partial results show up while the rest is computed
                thumbs.publish()
                last_publish = time.monotonic()

    def _inspect(self, slot: int) -> tuple[dict, np.ndarray | None]:
        inspect = self.widget._inspect_fn
        return inspect(slot) if inspect is not None else ({}, None)

    def _perturbation(self, model: torch.nn.Module, obs: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
        """The inspector's actor/critic maps: the paper's r, d scaled to the frame unless given."""
        from ..analysis.saliency import actor_critic_maps, scaled_defaults, to_chw

        _, h, w = to_chw(obs, layout)[0].shape
        r0, d0 = scaled_defaults(h, w)
        return actor_critic_maps(model, obs, r=self.r or r0, d=self.d or d0, layout=layout)

    def close(self) -> None:
        """Stop taking requests; thumbnail work is abandoned, clicks already queued are still answered."""
        self.widget.unroute_messages(self._on_message)
        with self._lock:
            self._thumb_ticket += 1
        self._pool.shutdown(wait=False)  # queued clicks are still answered; thumbnail jobs see the ticket and stop

    def request(self, slot: int, method: str = "perturbation") -> None:
        """What a click in the view does; also usable from Python."""
        self._request(int(slot), str(method))

    def _answer(self, ticket: int, slot: int, method: str) -> None:
        with self._lock:
            self._clicks_waiting -= 1
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
        from ..analysis.saliency import SaliencyError, gradient_saliency

        if method not in METHODS:
            return {"slot": slot, "method": method, "message": f"unknown method {method!r}; use one of {METHODS}"}, {}
        info, obs = self._inspect(slot)
        base = {"slot": slot, "method": method, "step": info.get("step")}
        if obs is None:
            return {**base, "message": "this slot holds no observation"}, {}
        obs_layout = info.get("obs_layout", "auto")
        if obs_layout == "vector":
            return {**base, "message": "saliency maps need image observations; this one is a vector"}, {}
        layout = cast("Layout", obs_layout)  # to_chw refuses a layout it does not know
        model = copy.deepcopy(self.model).eval()
        try:
            if method == "perturbation":
                maps = self._perturbation(model, obs, layout)
            else:
                gradient = cast(Literal["saliency", "integrated_gradients"], method)  # one of METHODS (checked above)
                maps = {"map": gradient_saliency(model, obs, method=gradient, layout=layout)}
        except SaliencyError as exc:
            return {**base, "message": str(exc)}, {}
        out = {}
        for k, v in maps.items():
            peak = float(np.max(v))
            out[k] = (v / peak if peak > 0 else v).astype(np.float32)  # 0..1 per map, for the overlay
        return {**base, "message": "", "layout": layout}, out
