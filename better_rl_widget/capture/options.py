"""``LiveOptions``: every option of the live path (hook, worker, engine, estimator) in one frozen, validated value.

``TrainingHook(widget, buffer, max_fps=2)`` builds one from its keyword arguments; ``TrainingHook(..., options=o)``
takes one as it is. The same object then travels to the worker, to the engine and, pickled, to a worker process,
so an option is named, defaulted and checked here only.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..embed import PROJECTIONS, Projection
from .map_modes import check_map_mode
from .sampler import SAMPLE_BY

WORKERS = ("auto", "thread", "process")
EMBEDS = ("auto", "obs", "features")
# The map draws at most this many buffer slots by default: what keeps a frame of the live t-SNE (and the kernel's
# share of it) within the cost budget at about one frame a second on a 2-core laptop (docs/performance.md).
DEFAULT_MAX_POINTS = 1_000


@dataclass(frozen=True)
class LiveOptions:
    """How the live map is captured, estimated, projected and drawn. Invalid values raise ValueError or
    TypeError naming the option; ``dataclasses.replace(o, max_fps=2)`` makes a changed copy (validated too)."""

    every: int = 10  # the hook copies new rows every this many on_step() calls ...
    copy_every_s: float = 0.2  # ... and at most this often: a copy is training time; frames come ~1 a second
    projection: str | Projection = "auto"  # a name from embed.PROJECTIONS, or a Projection object
    max_fps: float = 4.0  # frames a second, at most
    seed: int = 0  # the projection's and the sample's
    embed: str = "auto"  # "auto" (features when a q_network gives them, else observations), "obs", "features"
    td_budget_s: float = 0.02  # seconds a frame may spend refreshing old rows' TD-errors
    snapshot_every_s: float = 2.0  # the estimator's network snapshot is refreshed this often
    worker: str = "auto"  # where the engine runs: "thread", "process" or "auto" (docs/architecture.md)
    max_points: int = DEFAULT_MAX_POINTS  # buffer slots the map draws, at most (capture/sampler.py)
    sample: str = "age"  # which slots: "age" (even by insertion age) or "priority"
    cost_budget: float = 0.05  # the share of training time the map may cost, measured (capture/governor.py)
    settle_s: float = 10.0  # the final settle pass on close, at most (0: off)
    step_budget_s: float = 0.1  # seconds one projection step may take
    returns_every_s: float = 2.0  # returns-to-go are recomputed this often
    keyframe_interval_s: float = 10.0  # the keyframe trait is refreshed this often while running
    # The TD estimator a q_network turns on (ignored with an estimator object, which has its own):
    gamma: float = 0.99  # also the returns' discount when there is no estimator
    double_dqn: bool = False
    n_actions: int | None = None
    feature_layer: str | None = None
    # Policy churn (capture/churn.py): flips and ΔQ against the snapshot this many hook steps earlier (0: off) ...
    churn_lag_steps: int = 5000
    churn_lag_s: float | None = None  # ... or this many seconds earlier, when set (instead of steps)
    # What a point embeds (capture/map_modes.py): "states", "state-actions" or "windows" of window_k consecutive
    # (state, action) pairs; None: the widget's map_mode / window_k traits (default "states", 4).
    map_mode: str | None = None
    window_k: int | None = None

    def __post_init__(self) -> None:
        # Normalised in place (frozen: object.__setattr__), so every consumer sees plain ints, floats and bools.
        every = _int(self, "every")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        p = self.projection
        if isinstance(p, str):
            if p not in PROJECTIONS:
                raise ValueError(f"unknown projection {p!r}; available: {', '.join(PROJECTIONS)} or a "
                                 "Projection object")
        elif not isinstance(p, Projection):
            raise TypeError(f"projection must be one of {PROJECTIONS} or a Projection, got {type(p).__name__}")
        if not _float(self, "max_fps") > 0:
            raise ValueError(f"max_fps must be positive, got {self.max_fps}")
        _int(self, "seed")
        if self.embed not in EMBEDS:
            raise ValueError(f"embed must be 'auto', 'obs' or 'features', got {self.embed!r}")
        if self.worker not in WORKERS:
            raise ValueError(f"worker must be one of {WORKERS}, got {self.worker!r}")
        if _int(self, "max_points") < 1:
            raise ValueError(f"max_points must be >= 1, got {self.max_points}")
        if self.sample not in SAMPLE_BY:
            raise ValueError(f"sample must be one of {SAMPLE_BY}, got {self.sample!r}")
        if not 0.0 < _float(self, "cost_budget") <= 1.0:
            raise ValueError(f"cost_budget must be in (0, 1], got {self.cost_budget}")
        for name in ("copy_every_s", "td_budget_s", "snapshot_every_s", "settle_s", "step_budget_s", "returns_every_s",
                     "keyframe_interval_s"):
            if not _float(self, name) >= 0:  # NaN fails too
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        if not 0.0 <= _float(self, "gamma") <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        object.__setattr__(self, "double_dqn", bool(self.double_dqn))
        if self.n_actions is not None and _int(self, "n_actions") < 1:
            raise ValueError(f"n_actions must be >= 1 (or None), got {self.n_actions}")
        if _int(self, "churn_lag_steps") < 0:
            raise ValueError(f"churn_lag_steps must be >= 0 (0: churn off), got {self.churn_lag_steps}")
        if self.churn_lag_s is not None and not 0.0 < _float(self, "churn_lag_s") < float("inf"):
            raise ValueError(f"churn_lag_s must be a positive number of seconds (or None), got {self.churn_lag_s}")
        if self.map_mode is not None or self.window_k is not None:
            mode, k = check_map_mode("states" if self.map_mode is None else self.map_mode,
                                     4 if self.window_k is None else self.window_k)
            object.__setattr__(self, "map_mode", None if self.map_mode is None else mode)
            object.__setattr__(self, "window_k", None if self.window_k is None else k)
        if self.feature_layer is not None and not isinstance(self.feature_layer, str):
            raise TypeError(f"feature_layer must be a module name (str) or None, got "
                            f"{type(self.feature_layer).__name__}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def resolve_options(options: LiveOptions | None, overrides: Mapping[str, Any], owner: str = "TrainingHook"
                    ) -> LiveOptions:
    """``options`` (default: all defaults) with ``overrides`` applied; an unknown name raises TypeError naming it."""
    if options is not None and not isinstance(options, LiveOptions):
        raise TypeError(f"options must be a LiveOptions, got {type(options).__name__}")
    unknown = sorted(set(overrides) - set(LiveOptions.names()))
    if unknown:
        raise TypeError(f"{owner} got unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                        f"(options: {', '.join(LiveOptions.names())})")
    if options is None:
        return LiveOptions(**overrides)
    return dataclasses.replace(options, **overrides) if overrides else options


def _whole_number(v: Any) -> bool:
    # A plain predicate, not an isinstance narrowing: typeshed's numbers.Real declares no __int__.
    return not isinstance(v, bool) and isinstance(v, numbers.Real) and float(v).is_integer()


def _int(o: LiveOptions, name: str) -> int:
    v = getattr(o, name)
    if not _whole_number(v):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    object.__setattr__(o, name, int(v))
    return int(v)


def _float(o: LiveOptions, name: str) -> float:
    v = getattr(o, name)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number, got {v!r}")
    object.__setattr__(o, name, float(v))
    return float(v)


__all__ = ["DEFAULT_MAX_POINTS", "EMBEDS", "WORKERS", "LiveOptions", "resolve_options"]
