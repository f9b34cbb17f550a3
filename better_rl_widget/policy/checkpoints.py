"""Finding checkpoint files and ordering them by training step."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("better_rl_widget")

SUFFIXES = (".zip", ".pt", ".pth", ".safetensors")
# SB3's CheckpointCallback: rl_model_<steps>_steps.zip; otherwise the last integer in the file name.
_SB3 = re.compile(r"_(\d+)_steps$")
_LAST_INT = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int | None  # training step parsed from the name, None when the name has no number

    @property
    def label(self) -> str:
        return f"step {self.step:,}" if self.step is not None else self.path.stem


def step_from_name(path: Path) -> int | None:
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    m = _SB3.search(stem) or _LAST_INT.search(stem)
    return int(m.group(1)) if m else None


def find_checkpoints(checkpoint_path: str | Path) -> tuple[list[Checkpoint], list[Path]]:
    """Checkpoints under ``checkpoint_path`` (a folder, searched recursively, or one file), ordered by step;
    and the files that were skipped because they are not checkpoints."""
    root = Path(checkpoint_path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"checkpoint_path {str(root)!r} does not exist")
    if root.is_file():
        if root.suffix not in SUFFIXES:
            raise ValueError(f"{root.name!r} is not a checkpoint: expected one of {', '.join(SUFFIXES)}")
        return [Checkpoint(root, step_from_name(root))], []
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    found = [Checkpoint(p, step_from_name(p)) for p in files if p.suffix in SUFFIXES]
    skipped = [p for p in files if p.suffix not in SUFFIXES]
    some_skipped = ", ".join(p.name for p in skipped[:5])
    if skipped:
        log.info("skipped %d file(s) that are not checkpoints: %s", len(skipped), some_skipped)
    if not found:
        raise ValueError(f"no checkpoints in {str(root)!r}: looked for files ending in {', '.join(SUFFIXES)}"
                         + (f" (found only {some_skipped})" if skipped else " (folder is empty)"))
    # Unnumbered files go last, in name order; numbered ones by step, then name.
    found.sort(key=lambda c: (c.step is None, c.step or 0, c.path.name))
    return found, skipped
