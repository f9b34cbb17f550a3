"""Run records: an append-only, crash-safe store of a run (Parquet tables, NumPy array chunks, JSON manifest),
read back with :func:`open_run`; manifests and seeding for reproduction. See docs/store.md."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .manifest import run_manifest
from .seeding import seed_everything

if TYPE_CHECKING:
    from .reader import Run, RunIndexError, open_run
    from .recorder import Recorder
    from .writer import RunWriter

# The record's reader and writers need pandas and pyarrow: loaded on first use, so seeding (and the manifest)
# stays light.
_LAZY = {"Run": ".reader", "RunIndexError": ".reader", "open_run": ".reader", "Recorder": ".recorder",
         "RunWriter": ".writer"}

__all__ = ["Recorder", "Run", "RunIndexError", "RunWriter", "open_run", "run_manifest", "seed_everything"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # the lazily loaded names too
