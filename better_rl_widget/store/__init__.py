"""Run records: an append-only, crash-safe store of a run (Parquet tables, NumPy array chunks, JSON manifest),
read back with :func:`open_run`; manifests and seeding for reproduction. See docs/store.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
