"""Does the agent expect the reward it gets? Predicted value against realised discounted return-to-go.

For a Q-learner the fair comparison is ``Q(s, a)`` of the action taken against the return that followed
(both follow the same action); ``V(s) = max_a Q(s, a)`` against it measures the greedy policy's optimism on
the behaviour policy's returns. Only finished episodes have a known return (``analysis/returns.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import torch

from .returns import returns_to_go


@dataclass
class Calibration:
    """``points``: one row per transition with a known return (``slot, predicted, realised``);
    ``bins``: binned means (``lo, hi, predicted, realised, count``); ``bias``: mean(predicted − realised)
    (> 0 over-estimates); ``mae``: mean |predicted − realised|; ``corr``: Pearson r."""

    points: pd.DataFrame
    bins: pd.DataFrame
    bias: float
    mae: float
    corr: float

    def __repr__(self) -> str:
        return (f"Calibration(n={len(self.points)}, bias={self.bias:+.3f} "
                f"({'over' if self.bias > 0 else 'under'}-estimates), mae={self.mae:.3f}, r={self.corr:.3f})")


def calibration(predicted: np.ndarray, realised: np.ndarray, *, slots: np.ndarray | None = None,
                n_bins: int = 10) -> Calibration:
    """Compare predictions with realised returns; rows with a NaN in either are left out.

    Bins are quantiles of the prediction, so each holds about the same number of points.
    """
    p = np.asarray(predicted, np.float64).reshape(-1)
    g = np.asarray(realised, np.float64).reshape(-1)
    if p.shape != g.shape:
        raise ValueError(f"predicted has {p.size} values but realised has {g.size}")
    s = np.arange(len(p)) if slots is None else np.asarray(slots, np.int64)
    ok = np.isfinite(p) & np.isfinite(g)
    points = pd.DataFrame({"slot": s[ok], "predicted": p[ok], "realised": g[ok]})
    if not ok.any():
        empty = pd.DataFrame(columns=["lo", "hi", "predicted", "realised", "count"])
        return Calibration(points, empty, float("nan"), float("nan"), float("nan"))
    p, g = p[ok], g[ok]
    edges = np.unique(np.quantile(p, np.linspace(0, 1, max(1, n_bins) + 1)))
    if len(edges) < 2:
        edges = np.array([p[0], p[0]])
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    bins = (pd.DataFrame({"bin": idx, "predicted": p, "realised": g})
            .groupby("bin").agg(predicted=("predicted", "mean"), realised=("realised", "mean"),
                                count=("predicted", "size")).reset_index())
    bins.insert(1, "lo", edges[bins["bin"]])
    bins.insert(2, "hi", edges[bins["bin"] + 1])
    diff = p - g
    corr = float(np.corrcoef(p, g)[0, 1]) if len(p) > 1 and p.std() > 0 and g.std() > 0 else float("nan")
    return Calibration(points, bins.drop(columns="bin"), float(diff.mean()), float(np.abs(diff).mean()), corr)


def table_returns(table: pd.DataFrame, gamma: float = 0.99) -> np.ndarray:
    """Return-to-go per row of a buffer table (NaN for unfinished episodes); uses its ``return`` column when
    the hook computed one."""
    if "return" in table and np.isfinite(table["return"].to_numpy(np.float64)).any():
        return table["return"].to_numpy(np.float64)
    return returns_to_go(table["episode"].to_numpy(), table["episode_step"].to_numpy(),
                         table["reward"].to_numpy(), table["done"].to_numpy(), gamma).astype(np.float64)


def table_calibration(table: pd.DataFrame, value: str = "q", *, gamma: float = 0.99, n_bins: int = 10) -> Calibration:
    """:func:`calibration` of a buffer table's ``value`` column ("q": Q of the taken action, or "value": V)."""
    if value not in table:
        raise ValueError(f"the table has no {value!r} column: pass q_network= to TrainingHook (or use "
                         "predict_values) so Q and V are computed")
    return calibration(table[value].to_numpy(np.float64), table_returns(table, gamma),
                       slots=table["slot"].to_numpy(), n_bins=n_bins)


def predict_values(q_network: torch.nn.Module, obs: np.ndarray, action: np.ndarray,
                   batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """``(Q(s, a), V(s) = max_a Q(s, a))`` from a discrete-action Q-network, under no_grad, in batches."""
    import torch

    from .td import q_values

    obs = np.asarray(obs)
    a = np.asarray(action).reshape(len(obs), -1)[:, 0].astype(np.int64)
    qs, vs = [], []
    with torch.no_grad():
        for i in range(0, len(obs), batch):
            q_all = q_values(q_network(torch.as_tensor(obs[i:i + batch], dtype=torch.float32)))
            qs.append(q_all.gather(1, torch.as_tensor(a[i:i + batch]).unsqueeze(1)).squeeze(1).numpy())
            vs.append(q_all.max(dim=1).values.numpy())
    empty = np.zeros(0, np.float32)
    return (np.concatenate(qs) if qs else empty), (np.concatenate(vs) if vs else empty)


def value_trace(table: pd.DataFrame, episode: int, *, gamma: float = 0.99) -> pd.DataFrame:
    """One episode in step order: ``episode_step, slot, reward, value, q, return`` (columns the table has)."""
    if episode not in set(table["episode"].tolist()):
        raise ValueError(f"episode {episode} is not in the table (it may have been evicted from the buffer)")
    t = table.assign(**{"return": table_returns(table, gamma)})
    t = t[t["episode"] == episode].sort_values("episode_step", kind="stable")
    cols = [c for c in ("episode_step", "slot", "reward", "value", "q", "return", "done") if c in t]
    return t[cols].reset_index(drop=True)
