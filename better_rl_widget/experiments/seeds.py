"""Many seeds of one experiment: each seed's whole run is one job, locally in turn or as Ray tasks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from .results import Results


def _one_seed(experiment: Callable[..., Results], args: tuple, kwargs: dict, seed: int) -> Results:
    return experiment(*args, seed=seed, progress=False, backend="local", **kwargs)


def run_seeds(experiment: Callable[..., Results], *args: Any, seeds: Sequence[int], backend: str = "local",
              progress: bool = True, **kwargs: Any) -> dict[int, Results]:
    """``experiment(*args, seed=s, **kwargs)`` for every ``s`` in ``seeds`` (``run_agents_on_mdp`` or
    ``run_agents_lifelong``), keyed by seed. ``backend="ray"``: one Ray task per seed, so a cluster runs the
    seeds side by side; each seed's result is the one the local backend gives. :func:`seeds_frame` stacks them."""
    from ..scale.backend import run_tasks

    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be distinct and not empty; got {seeds}")
    outs = run_tasks(_one_seed, [(s,) for s in seeds], shared=(experiment, args, kwargs), backend=backend,
                     desc="seeds", progress=progress)
    return dict(zip(seeds, outs))


def seeds_frame(results: dict[int, Results]) -> pd.DataFrame:
    """One tidy frame with a ``seed`` column."""
    return pd.concat([r.df.assign(seed=s) for s, r in results.items()], ignore_index=True)
