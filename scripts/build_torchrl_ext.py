#!/usr/bin/env python
"""Build torchrl's prioritized-replay extension against the installed torch, only if it does not load.

Thin entry for scripts/setup.sh; the logic is ``better_rl_widget.adapters.torchrl_ext`` (users run it with
``python -m better_rl_widget.adapters.torchrl_ext``).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from better_rl_widget.adapters.torchrl_ext import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["--constraints", str(ROOT / "constraints.txt"), *sys.argv[1:]]))
