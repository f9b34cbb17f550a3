"""Continual-RL metrics as Continual World defines them (Wołczyk, Zając, Pascanu, Kuciński & Miłoś, NeurIPS 2021).

Tasks are trained one after another; ``p_j(t)`` ∈ [0, 1] is the performance on task j after training step t.

* average performance ``P(t) = mean_j p_j(t)``, reported at the end: ``P(T)``;
* forgetting of the task trained in segment k (task j, steps [b_k, b_{k+1})): ``F_k = p_j(b_{k+1}) - p_j(T)``;
* forward transfer ``FT_k = (AUC_k - AUC_k^ref) / (1 - AUC_k^ref)`` with ``AUC_k`` the mean of ``p_j`` over
  segment k and ``AUC_k^ref`` the same for a reference agent trained on task j alone, from scratch.

Here "step" is whatever the rows of the performance matrix index (episodes in the lifelong runner).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


@dataclass
class ContinualMetrics:
    average_performance: float      # P(T)
    average_curve: np.ndarray       # P(t) for every row
    forgetting: np.ndarray          # (segments,)
    forward_transfer: np.ndarray    # (segments,), NaN without a reference
    sequence: np.ndarray            # task of each segment
    boundaries: np.ndarray          # first row of each segment, plus the end

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"segment": np.arange(len(self.sequence)), "task": self.sequence,
                             "forgetting": self.forgetting, "forward_transfer": self.forward_transfer})

    @property
    def mean_forgetting(self) -> float:
        return float(np.mean(self.forgetting))

    @property
    def mean_forward_transfer(self) -> float:
        return float(np.nanmean(self.forward_transfer)) if np.isfinite(self.forward_transfer).any() else float("nan")


def continual_metrics(perf: np.ndarray, sequence: ArrayLike, boundaries: ArrayLike, reference: np.ndarray | None = None
                      ) -> ContinualMetrics:
    """``perf``: (T, N) performance on each of N tasks after each of T steps. ``sequence``: task index trained in
    each segment. ``boundaries``: first row of each segment (length = segments) — the last segment runs to T.
    ``reference``: (T, N) performance of single-task learners on the same segments (each segment trained from
    scratch), for forward transfer."""
    perf = np.asarray(perf, dtype=float)
    if perf.ndim != 2:
        raise ValueError(f"perf must be (steps, tasks); got shape {perf.shape}")
    T, N = perf.shape
    sequence = np.asarray(sequence, dtype=np.int64)
    starts = np.asarray(boundaries, dtype=np.int64)
    if starts.shape != sequence.shape or len(starts) == 0:
        raise ValueError("need one boundary (first row) per segment of the sequence")
    if starts[0] != 0 or (np.diff(starts) <= 0).any() or starts[-1] >= T:
        raise ValueError(f"boundaries must start at 0, increase, and stay below {T}; got {starts.tolist()}")
    if sequence.min() < 0 or sequence.max() >= N:
        raise ValueError(f"sequence names tasks outside [0, {N})")
    if reference is not None and np.shape(reference) != perf.shape:
        raise ValueError(f"reference must have the shape of perf {perf.shape}; got {np.shape(reference)}")
    ends = np.append(starts[1:], T)
    forgetting = np.array([perf[e - 1, j] - perf[T - 1, j] for e, j in zip(ends, sequence)])
    ft = np.full(len(sequence), np.nan)
    if reference is not None:
        reference = np.asarray(reference, dtype=float)
        for k, (b, e, j) in enumerate(zip(starts, ends, sequence)):
            auc, auc_ref = perf[b:e, j].mean(), reference[b:e, j].mean()
            ft[k] = (auc - auc_ref) / (1 - auc_ref) if auc_ref < 1 else 0.0
    curve = perf.mean(axis=1)
    return ContinualMetrics(float(curve[-1]), curve, forgetting, ft, sequence, np.append(starts, T))


def performance_matrix(results: Any, agent: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From a lifelong ``Results``: the instance-mean (rows, tasks) performance matrix of ``agent``, the task
    sequence and the first row of each segment — the arguments :func:`continual_metrics` takes."""
    if results.performance is None:
        raise ValueError("these results have no performance evaluations (run_agents_lifelong records them)")
    p = results.performance[results.performance["agent"] == agent]
    if p.empty:
        raise ValueError(f"no agent named {agent!r}; have {sorted(results.performance['agent'].unique())}")
    wide = p.groupby(["global_episode", "eval_task_id"])["performance"].mean().unstack("eval_task_id").sort_index()
    seg = p.groupby("global_episode")["task"].first().sort_index()
    starts = np.flatnonzero(np.r_[True, np.diff(seg.to_numpy()) != 0])
    seq = np.asarray(results.manifest["env"]["sequence"])[seg.to_numpy()[starts]]
    return wide.to_numpy(), seq, starts
