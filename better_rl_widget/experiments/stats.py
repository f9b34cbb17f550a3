"""Summaries over instances: mean, standard error and the Student-t interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def confidence_summary(df: pd.DataFrame, value: str, by: list[str], level: float = 0.95) -> pd.DataFrame:
    """Mean, standard error and the Student-t ``level`` interval of ``value`` over instances, per ``by`` group."""
    g = df.groupby(by, sort=True)[value]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    sem = out["std"].fillna(0.0) / np.sqrt(out["n"])
    # t quantile: with 5 instances the normal 1.96 would understate the interval by ~30 %
    half = stats.t.ppf(0.5 + level / 2, np.maximum(out["n"] - 1, 1)) * sem
    out["sem"], out["ci_low"], out["ci_high"] = sem, out["mean"] - half, out["mean"] + half
    return out
