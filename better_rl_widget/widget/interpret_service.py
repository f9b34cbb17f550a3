"""Keeps the widget's interpretability panels current: skills, calibration, value trace, episode paths,
recurring segments, and influence on request. Runs in its own background thread at a bounded cadence, reading
the hook's copy of the buffer; the training thread is never touched.

What it publishes (the ``interpret`` trait, BRW1, see docs/protocol.md): the skill graph (centres, visits,
transition probabilities, scores), calibration points and binned means, the chosen episode's value trace, the
slots of the episode paths drawn over the map, the top recurring segments, and the last influence result. The
skill of every point goes into the map's ``skill`` channel (colour by skill).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from threadpoolctl import threadpool_limits

from ..frames.codec import encode
from .view_messages import INFLUENCE_GROUPS, BadMessage, InfluenceRequest, InterpretRequest, parse_view_message

if TYPE_CHECKING:
    import pandas as pd

    from ..analysis.skills import Skills
    from ..capture.hook import TrainingHook
    from ..frames.frame_state import FrameState
    from .buffer_widget import BufferWidget

log = logging.getLogger("better_rl_widget")
MAX_CAL_POINTS = 1_500
MIN_ROWS = 50
GROUPS = INFLUENCE_GROUPS


def _ragged(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated uint32 slots and the uint32 offsets (len(parts) + 1) that split them."""
    offsets = np.zeros(len(parts) + 1, np.uint32)
    offsets[1:] = np.cumsum([len(p) for p in parts])
    flat = np.concatenate(parts).astype(np.uint32) if parts else np.zeros(0, np.uint32)
    return flat, offsets


class InterpretService:
    """``widget.enable_interpret(hook)`` creates one. ``k``: number of skills; ``last``: episodes drawn as paths
    (or ``episode`` for one); ``every_s``: refresh period. Requests from the view (``{"type": "interpret",
    "k"|"last"|"episode": ...}`` and ``{"type": "influence", "group": "td"|"selection"|"skill", "budget_s"}``)
    wake the thread at once."""

    def __init__(self, widget: BufferWidget, hook: TrainingHook, *, k: int = 4, last: int = 3,
                 every_s: float = 5.0, n_regions: int = 12, segment_length: int = 3, gamma: float | None = None,
                 influence_steps: int = 10, influence_lr: float = 1e-3) -> None:
        if k < 1 or last < 1 or every_s <= 0:
            raise ValueError(f"k and last must be >= 1 and every_s > 0; got k={k}, last={last}, every_s={every_s}")
        self.widget, self.hook = widget, hook
        self.k, self.last = int(k), int(last)
        self.episode: int | None = None
        self.every_s = float(every_s)
        self.n_regions, self.segment_length = int(n_regions), int(segment_length)
        self.gamma = gamma
        self.influence_steps, self.influence_lr = int(influence_steps), float(influence_lr)
        self.refreshes = 0
        self.cpu_s = 0.0  # CPU time this service's thread has spent on refreshes (its cost to training)
        self.last_error = ""
        self.skills: Skills | None = None
        self.table: pd.DataFrame | None = None
        self.influence: pd.DataFrame | None = None
        self._influence_request: dict | None = None
        self._influence_meta: dict = {}
        self._influence_arrays: dict[str, np.ndarray] = {}
        self._cond = threading.Condition()
        self._wake = False
        self._stop = False
        self._seen: tuple[int, int] | None = None  # (seq, newest step) of the map at the last refresh
        widget.route_messages(self._on_message, InterpretRequest, InfluenceRequest)
        self._thread = threading.Thread(target=self._run, name="better_rl_widget-interpret", daemon=True)
        self._thread.start()

    # -- requests -------------------------------------------------------------------------------------------
    def _on_message(self, msg: InterpretRequest | InfluenceRequest) -> None:
        """A request from the view, parsed and checked by the widget. An interpret request with no field (a view
        that opens) refreshes now: the answer tells the view that this service runs."""
        if isinstance(msg, InterpretRequest):
            self.configure(k=msg.k, last=msg.last, episode=msg.episode)
        else:
            self.request_influence(msg.group, msg.budget_s)

    def _on_msg(self, _w: Any, content: Any, _buffers: list) -> None:
        """A raw message as the comm delivers it (the widget itself parses once and calls ``_on_message``)."""
        try:
            msg = parse_view_message(content)
        except BadMessage as exc:
            self.widget.reject_message(str(exc))
            return
        if isinstance(msg, (InterpretRequest, InfluenceRequest)):
            self._on_message(msg)

    def configure(self, *, k: int | None = None, last: int | None = None, episode: int | None = None) -> None:
        """Change what the panels show and refresh now. ``episode`` (or ``last`` = N newest episodes) picks the
        paths drawn and the value trace; ``episode=-1`` goes back to the newest ones."""
        if k is not None and int(k) >= 1:
            self.k = int(k)
        if last is not None and int(last) >= 1:
            self.last, self.episode = int(last), None
        if episode is not None:
            self.episode = None if int(episode) < 0 else int(episode)
        self.refresh()

    def request_influence(self, group: str = "td", budget_s: float = 20.0) -> None:
        """Measure the influence of TD-error or priority quartiles (``"td"``, ``"priority"``), the lasso
        ``"selection"`` or each ``"skill"``
        against random groups, within ``budget_s`` seconds, in this service's thread."""
        if group not in GROUPS:
            self.last_error = f"influence: unknown group {group!r} (use one of {', '.join(GROUPS)})"
            self.widget.report_error(self.last_error)
            return
        with self._cond:
            self._influence_request = {"group": group, "budget_s": max(0.5, float(budget_s))}
        self.refresh()

    def refresh(self) -> None:
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def wait(self, refreshes: int, timeout: float = 60.0) -> bool:
        """Block until at least ``refreshes`` refreshes have been published (tests, notebooks)."""
        deadline = time.monotonic() + timeout
        while self.refreshes < refreshes and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.refreshes >= refreshes

    def close(self) -> None:
        """Stop refreshing and stop answering the view's requests."""
        self.widget.unroute_messages(self._on_message)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    # -- thread ---------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._wake and not self._stop:
                    self._cond.wait(timeout=self.every_s)
                if self._stop:
                    return
                forced, self._wake = self._wake, False
                influence = self._influence_request
                self._influence_request = None
            fs = getattr(self.widget, "frame_state", None)
            if not forced and fs is not None and self._seen == (fs.seq, fs.newest_step):
                continue  # nothing new on the map (training paused or over): no work
            c0 = time.thread_time()
            try:
                with threadpool_limits(limits=1):  # do not compete with training for every core
                    self._update(influence)
            except Exception as exc:  # noqa: BLE001 - shown in the widget, the thread goes on
                self.last_error = f"interpret: {type(exc).__name__}: {exc}"
                log.debug(traceback.format_exc())
                self.widget.report_error(self.last_error)
            finally:
                self.cpu_s += time.thread_time() - c0

    def _update(self, influence: dict | None) -> None:
        from ..analysis.calibration import table_calibration, table_returns
        from ..analysis.skills import table_skills
        from ..analysis.trajectories import (
            buffer_table,
            episodes,
            map_regions,
            recurring_segments,
        )

        fs: FrameState | None = getattr(self.widget, "frame_state", None)
        if fs is None:
            return
        table = buffer_table(self.hook)
        meta: dict[str, Any] = {"kind": "interpret", "n": len(table), "k": self.k, "last": self.last,
                                "episode": self.episode, "message": ""}
        arrays: dict[str, np.ndarray] = {}
        if len(table) < MIN_ROWS or table["episode"].nunique() < 2:
            meta["message"] = f"waiting for data: {len(table)} transitions in {table['episode'].nunique()} episode(s)"
            self._publish(meta, arrays)
            return
        self.table = table
        slots = table["slot"].to_numpy(np.int64)
        # Skills → the map's skill channel and the skill graph.
        k = min(self.k, max(1, len(table) // 10))
        sk = table_skills(table, k=k)
        self.skills = sk
        new = sk.labels.astype(np.float32)
        changed = fs.column("skill", slots) != new  # only changed rows go into the next delta
        if changed.any():
            fs.upsert(slots[changed], {"skill": new[changed]})
        meta.update(k=sk.k, scores={k_: round(float(v), 4) for k_, v in sk.scores().items()})
        arrays.update(skill_centers=sk.centers.astype(np.float32), skill_counts=sk.counts.astype(np.uint32),
                      skill_transitions=sk.transitions.astype(np.float32),
                      skill_extent=np.array(fs.extent, np.float32))
        # Calibration of Q(s, a) (or V) against the return that followed.
        options = getattr(self.hook, "options", None)
        gamma = self.gamma if self.gamma is not None else float(getattr(options, "gamma", 0.99))
        value_col = "q" if "q" in table else ("value" if "value" in table else None)
        table = table.assign(**{"return": table_returns(table, gamma), "skill": sk.labels})
        if value_col is not None:
            cal = table_calibration(table, value_col, gamma=gamma)
            pts = cal.points
            if len(pts) > MAX_CAL_POINTS:
                pts = pts.sample(MAX_CAL_POINTS, random_state=0)
            meta["calibration"] = {"value": value_col, "n": len(cal.points), "bias": _f(cal.bias), "mae": _f(cal.mae),
                                   "corr": _f(cal.corr)}
            arrays.update(cal_predicted=pts["predicted"].to_numpy(np.float32),
                          cal_realised=pts["realised"].to_numpy(np.float32),
                          cal_bin_predicted=cal.bins["predicted"].to_numpy(np.float32),
                          cal_bin_realised=cal.bins["realised"].to_numpy(np.float32))
        else:
            meta["calibration"] = None
            meta["message"] = "calibration needs Q-values: create the hook with q_network="
        # Episode paths (the chosen one, or the last N) and the value trace of the newest finished one shown.
        if self.episode is not None and self.episode in set(table["episode"].tolist()):
            shown = episodes(table[table["episode"] == self.episode])
        else:
            if self.episode is not None:
                meta["message"] = f"episode {self.episode} is no longer in the buffer; showing the newest"
            shown = episodes(table, self.last)
        parts = [g["slot"].to_numpy(np.int64) for _, g in shown.groupby("episode", sort=True)]
        ids = [int(cast(int, e)) for e, _ in shown.groupby("episode", sort=True)]  # groupby keys: episode ids
        arrays["path_slots"], arrays["path_offsets"] = _ragged(parts)
        arrays["path_skill"] = shown["skill"].to_numpy(np.float32)  # the skill timeline of each path
        meta["paths"] = ids
        done_eps: pd.Series | list[int] = shown.loc[shown["done"] > 0, "episode"] if "done" in shown else []
        trace_ep = int(max(done_eps)) if len(done_eps) else (ids[-1] if ids else None)
        if trace_ep is not None:
            tr = table[table["episode"] == trace_ep].sort_values("episode_step")
            meta["trace_episode"] = trace_ep
            arrays["trace_step"] = tr["episode_step"].to_numpy(np.float32)
            arrays["trace_reward"] = tr["reward"].to_numpy(np.float32)
            arrays["trace_return"] = tr["return"].to_numpy(np.float32)
            for col in ("value", "q"):
                if col in tr:
                    arrays[f"trace_{col}"] = tr[col].to_numpy(np.float32)
        # Recurring segments of map regions.
        n_regions = min(self.n_regions, len(table) // 5)
        if n_regions >= 2:
            regions, _ = map_regions(table[["x", "y"]].to_numpy(), n_regions)
            seg = recurring_segments(table, regions, length=self.segment_length, top=10)
            meta["segments"] = [{"label": "→".join(map(str, s)), "count": int(c), "n_episodes": int(e)}
                                for s, c, e in zip(seg["segment"], seg["count"], seg["n_episodes"], strict=True)]
            arrays["segment_slots"], arrays["segment_offsets"] = _ragged(list(seg["slots"]))
        if influence is not None:
            self._run_influence(influence, table)
        meta["influence"] = self._influence_meta
        arrays.update(self._influence_arrays)
        self._publish(meta, arrays)
        self.widget.publish_delta()  # the skill channel reaches the view even when training has stopped
        self._seen = (fs.seq, fs.newest_step)

    def _run_influence(self, req: dict, table: pd.DataFrame) -> None:
        from ..analysis.influence import (
            group_influence,
            hook_batch,
            label_groups,
            quantile_groups,
        )
        from ..analysis.trajectories import labels_for
        from ..capture.estimator import TDEstimator

        est = getattr(self.hook.worker, "estimator", None)
        if not isinstance(est, TDEstimator):  # none, or a continuous-action critic: no greedy action to flip
            why = ("influence needs the Q-network: create the hook with q_network=" if est is None else
                   "influence needs a discrete-action Q-network (greedy actions); this hook estimates a critic")
            self._influence_meta = {"group": req["group"], "message": why}
            self._influence_arrays = {}
            return
        slots, rows = hook_batch(self.hook)
        if req["group"] in ("td", "priority"):
            field = "td_error" if req["group"] == "td" else "priority"
            if field not in rows or np.isfinite(rows[field]).sum() < 4:
                why = "no TD-errors yet" if field == "td_error" else "no priorities: not a prioritized buffer"
                self._influence_meta = {"group": req["group"], "message": why}
                self._influence_arrays = {}
                return
            groups = quantile_groups(rows[field], 4)
        elif req["group"] == "selection":
            picked = np.flatnonzero(np.isin(slots, self.widget.selected_points))
            if len(picked) == 0:
                self._influence_meta = {"group": "selection", "message": "lasso a group on the map first"}
                self._influence_arrays = {}
                return
            groups = {"selection": picked}
        else:
            assert self.skills is not None
            groups = label_groups(labels_for(table, self.skills.labels, slots, rows.get("step")))
        df = group_influence(est.live, rows, groups, target_network=est.live_target, gamma=est.gamma,
                             double=est.double, steps=self.influence_steps, lr=self.influence_lr,
                             budget_s=req["budget_s"], n_random=5)
        self.influence = df
        self._influence_meta = {"group": req["group"], "groups": df["group"].tolist(), "sizes": df["size"].tolist(),
                                "complete": bool(df.attrs.get("complete", False)), "steps": self.influence_steps,
                                "elapsed_s": round(float(df.attrs.get("elapsed_s", 0.0)), 2),
                                "message": "" if len(df) else "the time budget ran out before the first group"}
        self._influence_arrays = {f"influence_{c}": df[c].to_numpy(np.float32)
                                  for c in ("flipped", "flipped_random", "flipped_random_std", "dq", "dq_random",
                                            "dq_random_std")}

    def _publish(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.refreshes += 1
        meta["refresh"] = self.refreshes
        self.widget.interpret = encode(meta, arrays)


def _f(v: float) -> float | None:
    return None if not np.isfinite(v) else round(float(v), 5)
