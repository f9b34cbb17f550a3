"""Run records: an append-only, crash-safe store of a run (Parquet tables, NumPy array chunks, JSON manifest),
read back with :func:`open_run`; manifests and seeding for reproduction. See docs/store.md."""

from .manifest import run_manifest
from .reader import Run, RunIndexError, open_run
from .recorder import Recorder
from .seeding import seed_everything
from .writer import RunWriter

__all__ = ["Recorder", "Run", "RunIndexError", "RunWriter", "open_run", "run_manifest", "seed_everything"]
