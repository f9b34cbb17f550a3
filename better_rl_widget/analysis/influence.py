"""How much does a group of states move the policy? A counterfactual few-step update on a copy of the network.

For a group of transitions (a TD-error quantile, a lasso selection, a skill): copy the Q-network, take ``steps``
gradient steps of the TD loss on that group only, and measure on a fixed probe sample how many greedy actions
flipped and the mean |ΔQ|. The same for random groups of the same size gives the baseline: a group whose
effect is far above the random spread shapes the policy more than its size explains.

Everything runs on copies of the networks, on the caller's thread (:func:`start_influence` runs it in a
background thread), within a time budget; the training thread is never touched.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

BATCH_FIELDS = ("obs", "action", "reward", "next_obs", "terminated")
COLUMNS = ["group", "size", "flipped", "dq", "flipped_random", "flipped_random_std", "dq_random", "dq_random_std",
           "n_random", "dq_z", "complete"]


def _clone(net: Any) -> Any:
    out = copy.deepcopy(net).to("cpu")
    for p in out.parameters():
        p.requires_grad_(False)
    return out.eval()


def hook_batch(hook: Any, slots: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(slots, rows)`` of transitions from a hook's copy of the buffer (all drawn slots by default), read in
    one go: ``rows`` holds ``obs, action, reward, next_obs, terminated`` and, where captured, ``td_error``,
    ``priority``, ``step`` and ``episode`` of the same rows (group by those, not by an older table: training moves
    on)."""
    mirror = hook.worker.mirror
    missing = [f for f in BATCH_FIELDS if f != "obs" and f not in mirror.fields]
    if missing:
        raise ValueError(f"the hook has not captured {', '.join(missing)}: pass q_network= to TrainingHook so it "
                         "keeps next observations")
    present = np.flatnonzero(mirror.present)
    slots = present if slots is None else np.asarray(slots, np.int64)
    slots = slots[mirror.present[slots]]
    extra = tuple(f for f in ("td_error", "priority", "step", "episode") if f in mirror.fields)
    return slots, mirror.rows(slots, BATCH_FIELDS + extra)


def quantile_groups(values: np.ndarray, n: int = 4, *, by_magnitude: bool = True) -> dict[str, np.ndarray]:
    """Row indices split into ``n`` equal-count quantile groups of ``values`` (|values| by default), lowest first;
    NaN rows belong to none."""
    v = np.asarray(values, np.float64)
    v = np.abs(v) if by_magnitude else v
    ok = np.flatnonzero(np.isfinite(v))
    if len(ok) < n:
        raise ValueError(f"{len(ok)} finite values cannot form {n} quantile groups")
    order = ok[np.argsort(v[ok], kind="stable")]
    parts = np.array_split(order, n)
    return {f"q{int(100 * i / n)}-{int(100 * (i + 1) / n)}%": np.sort(p) for i, p in enumerate(parts)}


def label_groups(labels: np.ndarray, prefix: str = "skill ") -> dict[str, np.ndarray]:
    """Row indices per label (e.g. per skill); negative labels are left out."""
    labels = np.asarray(labels)
    return {f"{prefix}{int(k)}": np.flatnonzero(labels == k) for k in np.unique(labels) if k >= 0}


class _Trial:
    """The network state before any update, the frozen targets, and the probe's Q before."""

    def __init__(self, q_network: Any, target_network: Any | None, rows: Mapping[str, np.ndarray],
                 probe: np.ndarray, gamma: float, double: bool) -> None:
        import torch

        from .td import q_values

        self.torch = torch
        self.q_values = q_values
        self.net = _clone(q_network)
        target = self.net if target_network is None else _clone(target_network)
        self.obs = torch.as_tensor(np.asarray(rows["obs"]), dtype=torch.float32)
        self.action = torch.as_tensor(np.asarray(rows["action"]).reshape(len(self.obs), -1)[:, 0].astype(np.int64))
        with torch.no_grad():
            nxt = torch.as_tensor(np.asarray(rows["next_obs"]), dtype=torch.float32)
            q_next = q_values(target(nxt))
            if double:
                pick = q_values(self.net(nxt)).argmax(dim=1, keepdim=True)
                v_next = q_next.gather(1, pick).squeeze(1)
            else:
                v_next = q_next.max(dim=1).values
            r = torch.as_tensor(np.asarray(rows["reward"], np.float32).reshape(-1))
            term = torch.as_tensor(np.asarray(rows["terminated"]).reshape(-1).astype(np.float32))
            # Targets are fixed for the whole trial, as between two target-network syncs.
            self.target = r + gamma * (1.0 - term) * v_next
            self.probe = self.obs[probe]
            self.q_probe = q_values(self.net(self.probe))
            self.greedy = self.q_probe.argmax(dim=1)

    def run(self, idx: np.ndarray, steps: int, lr: float, batch_size: int, loss: str,
            rng: np.random.Generator) -> tuple[float, float]:
        torch = self.torch
        net = copy.deepcopy(self.net)
        for p in net.parameters():
            p.requires_grad_(True)
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        loss_fn = torch.nn.functional.smooth_l1_loss if loss == "huber" else torch.nn.functional.mse_loss
        for _ in range(steps):
            b = idx if len(idx) <= batch_size else rng.choice(idx, batch_size, replace=False)
            b = torch.as_tensor(b)
            q = self.q_values(net(self.obs[b])).gather(1, self.action[b].unsqueeze(1)).squeeze(1)
            opt.zero_grad()
            loss_fn(q, self.target[b]).backward()
            opt.step()
        with torch.no_grad():
            q_after = self.q_values(net.eval()(self.probe))
        flipped = float((q_after.argmax(dim=1) != self.greedy).float().mean())
        dq = float((q_after - self.q_probe).abs().mean())
        return flipped, dq


def group_influence(q_network: Any, rows: Mapping[str, np.ndarray], groups: Mapping[str, np.ndarray], *,
                    target_network: Any | None = None, steps: int = 10, lr: float = 1e-3, gamma: float = 0.99,
                    double: bool = False, loss: str = "huber", batch_size: int = 256, n_random: int = 5,
                    probe: np.ndarray | int = 512, budget_s: float = 60.0, seed: int = 0,
                    progress: bool = False) -> pd.DataFrame:
    """Influence of each group in ``groups`` (row indices into ``rows``) against random groups of its size.

    ``rows``: ``obs, action, reward, next_obs, terminated`` arrays, one row per transition. ``probe``: row
    indices to measure on, or how many to draw at random (fixed for every group). ``steps`` SGD steps at ``lr``
    on minibatches of at most ``batch_size`` rows of the group, the TD targets computed once from
    ``target_network`` (the online network when None). Returns one row per group: ``flipped`` (fraction of
    probe states whose greedy action changed), ``dq`` (mean |ΔQ| over probe states and actions), the random
    groups' mean and standard deviation of both, ``n_random`` done, ``dq_z`` = (dq − mean) / std, and
    ``complete`` (False when the budget ran out first; rows not reached are left out).
    """
    if loss not in ("huber", "mse"):
        raise ValueError(f"loss must be 'huber' or 'mse', got {loss!r}")
    if steps < 1 or n_random < 1:
        raise ValueError(f"steps and n_random must be >= 1, got {steps} and {n_random}")
    missing = [f for f in BATCH_FIELDS if f not in rows]
    if missing:
        raise ValueError(f"rows lack {', '.join(missing)}")
    n = len(rows["obs"])
    rng = np.random.default_rng(seed)
    probe_idx = (rng.choice(n, min(int(np.asarray(probe)), n), replace=False) if np.isscalar(probe)
                 else np.asarray(probe, np.int64))
    groups = {str(k): np.asarray(v, np.int64) for k, v in groups.items()}
    for name, idx in groups.items():
        if len(idx) == 0:
            raise ValueError(f"group {name!r} is empty")
        if idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"group {name!r} has row indices outside 0..{n - 1}")
    t0 = time.monotonic()
    trial = _Trial(q_network, target_network, rows, probe_idx, gamma, double)
    random_cache: dict[int, list[tuple[float, float]]] = {}
    out = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(groups) * (1 + n_random), desc="influence", leave=False)
    try:
        for name, idx in groups.items():
            if time.monotonic() - t0 > budget_s:
                break
            flipped, dq = trial.run(idx, steps, lr, batch_size, loss, rng)
            if bar is not None:
                bar.update(1)
            rand = random_cache.setdefault(len(idx), [])
            complete = True
            while len(rand) < n_random:
                if time.monotonic() - t0 > budget_s:
                    complete = False
                    break
                rand.append(trial.run(rng.choice(n, len(idx), replace=False), steps, lr, batch_size, loss, rng))
                if bar is not None:
                    bar.update(1)
            r = np.asarray(rand[:n_random], np.float64).reshape(-1, 2)
            mean = r.mean(axis=0) if len(r) else np.full(2, np.nan)
            std = r.std(axis=0, ddof=1) if len(r) > 1 else np.full(2, np.nan)
            z = (dq - mean[1]) / std[1] if len(r) > 1 and std[1] > 0 else np.nan
            out.append([name, len(idx), flipped, dq, mean[0], std[0], mean[1], std[1], len(r), z, complete])
    finally:
        if bar is not None:
            bar.close()
    df = pd.DataFrame(out, columns=COLUMNS)
    df.attrs.update(probe=len(probe_idx), steps=steps, lr=lr, elapsed_s=time.monotonic() - t0,
                    complete=len(out) == len(groups) and bool(df["complete"].all()) if len(df) else False)
    return df


_EXECUTOR: ThreadPoolExecutor | None = None


def start_influence(*args: Any, **kwargs: Any) -> Future:
    """:func:`group_influence` in a background thread (one at a time, queued): returns a ``Future`` whose
    ``result()`` is the DataFrame. Arguments are those of :func:`group_influence`."""
    global _EXECUTOR  # noqa: PLW0603 - one lazily started executor per process
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="better_rl_widget-influence")
    return _EXECUTOR.submit(group_influence, *args, **kwargs)
