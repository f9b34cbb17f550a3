"""P5: what the live map costs real training, as users run it: the quickstart, Stable-Baselines3 with its defaults,
and the reference DQN with TD-errors, each against the same training without the widget, in the same run.

Configurations (``--configs``, comma list, default all three):

- ``quickstart``: reference DQN on CartPole-v1 (20k buffer) with ``TrainingHook(BufferWidget(), agent.buffer,
  every=10)`` and no q_network, exactly as notebooks/quickstart.ipynb builds it.
- ``sb3_default``: Stable-Baselines3 ``DQN("MlpPolicy", "CartPole-v1")`` with all its defaults (a 1,000,000-slot
  buffer) and ``model.learn(steps, callback=BetterRLCallback(widget))``; the plain side is ``model.learn(steps)``.
  The callback used is BetterRLCallback itself, subclassed only to time it: the hook it builds in
  ``_init_callback`` (inside ``learn``, so its start-up, ``hook_init_s``, counts as training, as users pay it;
  ``ratio_excluding_hook_init`` leaves it out) and the ``close()`` its ``_on_training_end`` runs (``close_s``, not
  training). Steps/s use ``model.num_timesteps`` (SB3 steps in whole ``train_freq`` rounds).
- ``td``: the quickstart's agent with ``q_network``, ``target_network``, ``double_dqn`` and ``n_actions``
  (TD-errors, Q/V and features on), as benchmarks/overhead.py builds it.
  Replay counts and policy churn (issue 17) are on by default here too.
- ``td_channels``: ``td`` with a prioritized buffer (both sides) and the map in ``windows`` mode (k = 4): every
  channel of issue 17 on (replays, staleness, churn, the window context read for drawn rows).

Each round runs every configuration as a (hooked, plain) pair with the same seed, the pair's order alternating
and the configurations' order rotating from round to round, so drifts in machine load hit both sides alike.
Models and agents are built outside the timed region, and so are the reference DQN's hooks (as in overhead.py).
Torch runs at its default thread count (recorded). ``ratio`` is the median over pairs of hooked / plain steps per
second (anchor: the plain side of the same pair); ``frames_per_s`` counts frames shown while training ran (not the
final pass of ``close()``), and ``frames_shown`` is the fewest any hooked run showed while training. After each hooked
run ``hook.close()`` settles the map; the last round's settled map is compared with a full openTSNE fit of the
same rows (kNN-preservation@10 ratio, rows subsampled to ``--knn-max`` for the fit; embed_live.py does the same).
``cost_reported`` is the widget's own estimate of its cost (``status["cost"]``) to check against 1 - ratio.

Targets: ratio >= 0.95 for every configuration, frames_per_s >= 1, final_knn_ratio >= 0.9, settle_s <= 10.

    python benchmarks/real_overhead.py                      # table; 3 pairs x 4 configs (about 30 minutes)
    python benchmarks/real_overhead.py --json               # one JSON object on the last stdout line
    python benchmarks/real_overhead.py --configs td --pairs 5 --steps 30000
    python benchmarks/real_overhead.py --quick --json       # smoke test: tiny runs (under a minute)

Hook options the installed TrainingHook may not have yet (``--max-points``, ``--cost-budget``, ``--settle-s``)
are passed only when its signature has them; the output says which were passed.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from openTSNE import TSNE

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.agents.dqn import DQN, DQNConfig
from better_rl_widget.embed.quality import knn_preservation_of

CONFIGS = ("quickstart", "sb3_default", "td", "td_channels")
# Each run is long enough to draw >= 30 frames at the governed rate (~0.7 frames/s on a 2-core machine: 40-60 s of
# training), and for the governor's pause windows to have measured the whole cost (the first minute is start-up).
MIN_FRAMES = 30
DEFAULT_STEPS = {"quickstart": 50_000, "sb3_default": 120_000, "td": 50_000, "td_channels": 40_000}
QUICK_STEPS = 250  # sizes, not speeds: the reference DQN does not update yet (learning_starts 1,000), SB3 does
TARGETS = {"ratio": 0.95, "frames_per_s": 1.0, "final_knn_ratio": 0.9, "settle_s": 10.0}
NEW_HOOK_KWARGS = ("max_points", "cost_budget", "settle_s")


@dataclass
class HookedRun:
    """One hooked training run: its speed, what the widget said at the end of training and after close()."""

    steps_per_s: float
    training_s: float
    frames_shown: int  # while training ran
    frames_shown_total: int  # after close()
    cost_reported: float | None
    map_status: dict
    settle_status: dict
    map_points: int
    capacity: int
    rows_inserted: int  # what the buffer received (SB3 collects train_freq steps at a time: may exceed --steps)
    close_s: float
    hook_init_s: float  # building the hook (it may wait for its worker process to start)
    init_in_training: bool  # SB3 builds the hook inside model.learn(): its start is part of training_s
    worker: str
    errors: list[str]
    snapshot: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (lanes, X, xy) of the settled map
    snapshot_source: str = ""
    notes: list[str] = field(default_factory=list)


# -- hook options ---------------------------------------------------------------------------------------------
def supported_hook_kwargs(wanted: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The options TrainingHook accepts (given ones only), and the names it does not know yet."""
    params = inspect.signature(TrainingHook.__init__).parameters
    given = {k: v for k, v in wanted.items() if v is not None}
    return {k: v for k, v in given.items() if k in params}, sorted(k for k in given if k not in params)


# -- what the widget says ---------------------------------------------------------------------------------------
def frames_shown(hook: TrainingHook) -> int:
    return int(max(hook.widget.status.get("frames_shown", 0), hook.worker.stats.frames_shown))


def training_end_state(hook: TrainingHook) -> dict:
    """Read when training has just ended, before close()."""
    cost = hook.widget.status.get("cost")
    return {"frames_shown": frames_shown(hook), "cost_reported": None if cost is None else float(cost)}


def embedding_snapshot(hook: TrainingHook) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray] | None, str]:
    """(lanes, X, xy) of the settled map: the worker's own snapshot when it has one, else the drawn slots, their
    map coordinates and their observations from the kernel mirror."""
    worker = hook.worker
    if callable(getattr(worker, "embedding_snapshot", None)):
        lanes, X, xy = worker.embedding_snapshot()
        return (np.asarray(lanes, np.int64), np.asarray(X, np.float32), np.asarray(xy, np.float32)), "embedding"
    lanes = worker.frame_state.present_slots().astype(np.int64)
    if len(lanes) == 0:
        return None, "empty map"
    xy = np.asarray(worker.frame_state.coords(lanes), np.float32)
    obs = worker.mirror.rows(lanes, ("obs",))["obs"]
    return (lanes, np.asarray(obs, np.float32).reshape(len(lanes), -1), xy), "mirror_obs"


def after_close(hook: TrainingHook, end: dict, steps: int, training_s: float, close_s: float, init_s: float,
                init_in_training: bool, keep_snapshot: bool) -> HookedRun:
    w = hook.widget
    status = w.status
    map_status = dict(status.get("map") or {})
    settle = dict(status.get("settle") or {})
    run = HookedRun(steps_per_s=steps / training_s, training_s=training_s, frames_shown=end["frames_shown"],
                    frames_shown_total=frames_shown(hook), cost_reported=end["cost_reported"], map_status=map_status,
                    settle_status=settle, map_points=int(map_status.get("points", w.n_points)),
                    capacity=int(map_status.get("capacity", hook.capacity)),
                    rows_inserted=int(hook.buffer.total_inserted), close_s=close_s, hook_init_s=init_s,
                    init_in_training=init_in_training,
                    worker=str(hook.worker.mode), errors=[e.splitlines()[0][:200] for e in w.errors])
    if keep_snapshot:
        try:
            run.snapshot, run.snapshot_source = embedding_snapshot(hook)
        except Exception as exc:  # noqa: BLE001 - reported in the output, the benchmark goes on
            run.notes.append(f"no embedding snapshot: {type(exc).__name__}: {exc}")
    return run


# -- the training runs ----------------------------------------------------------------------------------------
def reference_agent(seed: int, prioritized: bool = False) -> DQN:
    """notebooks/quickstart.ipynb's agent (with a prioritized buffer for td_channels)."""
    return DQN("CartPole-v1", DQNConfig(buffer_size=20_000, prioritized=prioritized), seed=seed)


def run_reference(config: str, steps: int, seed: int, hooked: bool, hook_kwargs: dict,
                  keep_snapshot: bool) -> float | HookedRun:
    """quickstart / td: steps/s of the plain run, or the hooked run's record."""
    agent = reference_agent(seed, prioritized=config == "td_channels")
    if not hooked:
        t0 = time.perf_counter()
        agent.learn(steps)
        return steps / (time.perf_counter() - t0)
    td = dict(q_network=agent.q, target_network=agent.q_target, double_dqn=agent.config.double_dqn,
              n_actions=2) if config in ("td", "td_channels") else {}
    if config == "td_channels":  # issue 17's channels all on: windows of 4 pairs (replays, churn are on anyway)
        td.update(map_mode="windows", window_k=4)
    t = time.perf_counter()
    hook = TrainingHook(BufferWidget(), agent.buffer, every=10, **td, **hook_kwargs)
    t0 = time.perf_counter()
    agent.learn(steps, callback=hook.on_step)
    training_s = time.perf_counter() - t0
    end = training_end_state(hook)
    t1 = time.perf_counter()
    hook.close()
    return after_close(hook, end, steps, training_s, time.perf_counter() - t1, t0 - t, False, keep_snapshot)


def run_sb3(steps: int, seed: int, hooked: bool, hook_kwargs: dict, keep_snapshot: bool) -> float | HookedRun:
    """sb3_default: SB3 DQN with all its default hyperparameters."""
    from stable_baselines3 import DQN as SB3DQN

    from better_rl_widget.adapters.sb3 import BetterRLCallback

    class TimedCallback(BetterRLCallback):
        """BetterRLCallback, noting how long building the hook takes, when training ends and how long its
        close() takes."""

        t_end = 0.0
        close_s = 0.0
        init_s = 0.0
        end: dict = {}  # noqa: RUF012 - a default, replaced (never mutated) when training ends

        def _init_callback(self) -> None:
            t = time.perf_counter()
            super()._init_callback()
            self.init_s = time.perf_counter() - t

        def _on_training_end(self) -> None:
            self.t_end = time.perf_counter()
            if self.hook is not None:
                self.end = training_end_state(self.hook)
            super()._on_training_end()
            self.close_s = time.perf_counter() - self.t_end

    model = SB3DQN("MlpPolicy", "CartPole-v1", seed=seed)
    if not hooked:
        t0 = time.perf_counter()
        model.learn(steps)
        return model.num_timesteps / (time.perf_counter() - t0)  # whole train_freq rounds: may pass steps
    cb = TimedCallback(BufferWidget(), **hook_kwargs)
    t0 = time.perf_counter()
    model.learn(steps, callback=cb)
    if cb.hook is None:
        raise RuntimeError(f"BetterRLCallback started no hook: {cb.widget.errors}")
    return after_close(cb.hook, cb.end, model.num_timesteps, cb.t_end - t0, cb.close_s, cb.init_s, True,
                       keep_snapshot)


def one_run(config: str, steps: int, seed: int, hooked: bool, hook_kwargs: dict,
            keep_snapshot: bool = False) -> float | HookedRun:
    try:
        if config == "sb3_default":
            return run_sb3(steps, seed, hooked, hook_kwargs, keep_snapshot)
        return run_reference(config, steps, seed, hooked, hook_kwargs, keep_snapshot)
    finally:
        gc.collect()  # the previous run's hook, threads and arrays go before the next run starts


# -- map quality --------------------------------------------------------------------------------------------------
def final_knn(snapshot: tuple[np.ndarray, np.ndarray, np.ndarray], knn_max: int, seed: int) -> dict:
    """kNN-preservation@10 of the settled map against openTSNE's full fit of the same rows."""
    lanes, X, xy = snapshot
    n = len(lanes)
    out: dict = {"knn_points": n, "knn_dim": int(X.shape[1]) if X.ndim == 2 else 0}
    if n <= 10:
        return {**out, "final_knn_ratio": None, "knn_note": f"{n} points: too few for kNN@10"}
    if n > knn_max:
        rows = np.sort(np.random.default_rng(seed).choice(n, knn_max, replace=False))
        X, xy = X[rows], xy[rows]
        out["knn_note"] = f"subsampled {knn_max} of {n} points for the full fit (neighbours within the sample)"
    t = time.perf_counter()
    full = np.asarray(TSNE(n_jobs=1, random_state=seed).fit(X))
    out["full_fit_s"] = round(time.perf_counter() - t, 2)
    live = knn_preservation_of(X, xy, k=10, sample=2000, seed=seed)
    ref = knn_preservation_of(X, full, k=10, sample=2000, seed=seed)
    out.update(knn_subsample=len(X), knn_live=round(live, 4), knn_full=round(ref, 4),
               final_knn_ratio=round(live / ref, 4) if ref > 0 else None)
    return out


# -- the benchmark ----------------------------------------------------------------------------------------------
def summarise(config: str, steps: int, hooked: list[HookedRun], plain: list[float], knn: dict) -> dict:
    pairs = [h.steps_per_s / p for h, p in zip(hooked, plain, strict=True)]
    # When the hook is built inside training (SB3), also the ratio without its start-up: steady-state cost.
    steady = [h.steps_per_s * h.training_s / max(h.training_s - h.hook_init_s, 1e-9) / p
              for h, p in zip(hooked, plain, strict=True)]
    last = hooked[-1]
    settle_s = last.settle_status.get("seconds", last.close_s)
    frames = [h.frames_shown for h in hooked]
    return {
        "config": config, "steps": steps,
        "ratio": round(statistics.median(pairs), 4), "pair_ratios": [round(x, 4) for x in pairs],
        "ratio_excluding_hook_init": round(statistics.median(steady), 4) if last.init_in_training else None,
        "hooked_steps_per_s": round(statistics.median(h.steps_per_s for h in hooked), 1),
        "plain_steps_per_s": round(statistics.median(plain), 1),
        "hooked_runs": [round(h.steps_per_s, 1) for h in hooked], "plain_runs": [round(p, 1) for p in plain],
        "frames_per_s": round(statistics.median(h.frames_shown / h.training_s for h in hooked), 3),
        "frames_shown": min(frames), "frames_shown_runs": frames, "enough_frames": min(frames) >= MIN_FRAMES,
        "frames_shown_total": last.frames_shown_total,
        "training_s": [round(h.training_s, 2) for h in hooked],
        "map_points": last.map_points, "capacity": last.capacity, "rows_inserted": last.rows_inserted,
        "map": last.map_status,
        "cost_reported": last.cost_reported, "cost_reported_runs": [h.cost_reported for h in hooked],
        "cost_measured": round(1.0 - statistics.median(pairs), 4),
        "hook_init_s": [round(h.hook_init_s, 2) for h in hooked], "hook_init_in_training": last.init_in_training,
        "settle_s": round(float(settle_s), 2), "settle": last.settle_status,
        "close_s": [round(h.close_s, 2) for h in hooked],
        "worker": last.worker, "errors": len(last.errors), "error_messages": last.errors[:5],
        "snapshot_source": last.snapshot_source, "notes": last.notes, **knn,
    }


def describe(res: float | HookedRun) -> str:
    if isinstance(res, HookedRun):
        return f"{res.steps_per_s:.0f} steps/s hooked, {res.frames_shown} frames, close {res.close_s:.1f} s"
    return f"{res:.0f} steps/s plain"


def run_benchmark(configs: list[str], steps: dict[str, int], pairs: int, seed: int, hook_kwargs: dict,
                  knn_max: int, warmup_steps: int, progress: bool) -> dict:
    hooked: dict[str, list[HookedRun]] = {c: [] for c in configs}
    plain: dict[str, list[float]] = {c: [] for c in configs}
    for c in configs if warmup_steps else ():  # imports, allocator, first torch calls
        for side in (True, False):
            one_run(c, min(steps[c], warmup_steps), seed + 1000, side, hook_kwargs)
    for r in range(pairs):
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        for i, c in enumerate(order):
            sides = (True, False) if (r + i) % 2 == 0 else (False, True)
            for side in sides:
                res = one_run(c, steps[c], seed + r, side, hook_kwargs, keep_snapshot=r == pairs - 1)
                (hooked[c] if side else plain[c]).append(res)  # type: ignore[arg-type]
                if progress:
                    print(f"  round {r + 1}/{pairs} {c:12s} {describe(res)}", file=sys.stderr, flush=True)
    out = {}
    for c in configs:  # after every timed run, so the full t-SNE fits load no training
        snap = hooked[c][-1].snapshot
        knn = final_knn(snap, knn_max, seed) if snap is not None else {"final_knn_ratio": None,
                                                                          "knn_note": "no snapshot"}
        out[c] = summarise(c, steps[c], hooked[c], plain[c], knn)
    return out


def print_table(res: dict) -> None:
    print(f"torch threads {res['torch_threads']}, load {res['load_before']} -> {res['load_after']}, "
          f"{res['pairs']} pairs, hook kwargs {res['hook_kwargs']} "
          f"(not supported yet: {res['hook_kwargs_unsupported']})")
    print(f"{'config':12s} {'ratio':>6s} {'plain/s':>8s} {'hooked/s':>8s} {'frames/s':>8s} {'points':>7s} "
          f"{'capacity':>9s} {'cost rep':>8s} {'knn':>6s} {'settle s':>8s} {'worker':>8s} {'errors':>6s}")
    for c, r in res["configs"].items():
        knn = r.get("final_knn_ratio")
        cost = r.get("cost_reported")
        print(f"{c:12s} {r['ratio']:6.3f} {r['plain_steps_per_s']:8.1f} {r['hooked_steps_per_s']:8.1f} "
              f"{r['frames_per_s']:8.2f} {r['map_points']:7d} {r['capacity']:9d} "
              f"{'-' if cost is None else f'{cost:.3f}':>8s} {'-' if knn is None else f'{knn:.3f}':>6s} "
              f"{r['settle_s']:8.2f} {r['worker']:>8s} {r['errors']:6d}")
        steady = r.get("ratio_excluding_hook_init")
        print(f"{'':12s} pair ratios {r['pair_ratios']}  frames shown {r['frames_shown_runs']}"
              + ("" if steady is None else f"  ratio without the hook's start-up {steady:.3f}")
              + (f"  ({r['knn_note']})" if r.get("knn_note") else ""))
    print(f"min ratio {res['min_ratio']:.3f}; targets {res['targets']}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)}")
    ap.add_argument("--steps", type=int, default=None,
                    help=f"env steps per run (default per config: {DEFAULT_STEPS}; --quick: {QUICK_STEPS})")
    ap.add_argument("--pairs", type=int, default=None, help="(hooked, plain) pairs per config (default 3; --quick 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup-steps", type=int, default=None, help="one warm-up pair per config (default 1000; "
                                                                    "--quick 0)")
    ap.add_argument("--knn-max", type=int, default=None, help="at most this many rows in the full openTSNE fit "
                                                              "(default 5000; --quick 500)")
    ap.add_argument("--max-points", type=int, default=None, help="TrainingHook(max_points=...) if supported")
    ap.add_argument("--cost-budget", type=float, default=None, help="TrainingHook(cost_budget=...) if supported")
    ap.add_argument("--settle-s", type=float, default=None, help="TrainingHook(settle_s=...) if supported "
                                                                 "(--quick: 2)")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny runs, 1 pair, no warm-up")
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last stdout line")
    a = ap.parse_args(argv)
    configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or not configs:
        ap.error(f"unknown config(s) {unknown}; choose from {', '.join(CONFIGS)}")
    steps = {c: a.steps or (QUICK_STEPS if a.quick else DEFAULT_STEPS[c]) for c in configs}
    pairs = a.pairs or (1 if a.quick else 3)
    warmup = a.warmup_steps if a.warmup_steps is not None else (0 if a.quick else 1000)
    knn_max = a.knn_max or (500 if a.quick else 5000)
    settle = a.settle_s if a.settle_s is not None else (2.0 if a.quick else None)
    hook_kwargs, unsupported = supported_hook_kwargs({"max_points": a.max_points, "cost_budget": a.cost_budget,
                                                      "settle_s": settle})
    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    per_config = run_benchmark(configs, steps, pairs, a.seed, hook_kwargs, knn_max, warmup, progress=not a.json)
    res = {
        "configs": per_config, "min_ratio": min(r["ratio"] for r in per_config.values()),
        "torch_threads": torch.get_num_threads(), "pairs": pairs, "seed": a.seed, "quick": a.quick,
        "hook_kwargs": hook_kwargs, "hook_kwargs_unsupported": unsupported,
        "hook_has": {k: k in inspect.signature(TrainingHook.__init__).parameters for k in NEW_HOOK_KWARGS},
        "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "wall_s": round(time.perf_counter() - t0, 1), "targets": TARGETS,
    }
    if a.json:
        print(json.dumps(res))
    else:
        print_table(res)


if __name__ == "__main__":
    main()
