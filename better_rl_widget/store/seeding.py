"""``seed_everything``: one seed for Python, NumPy, torch and an env, plus deterministic torch settings."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np


def seed_everything(seed: int, env: Any = None, *, deterministic: bool = True) -> dict[str, Any]:
    """Seed ``random``, NumPy's global generator, torch (when installed) and, given ``env``, its reset and its
    action and observation spaces. ``deterministic``: make torch pick deterministic kernels (an error, not a
    silent difference, where an op has none) and switch off cuDNN autotuning.

    Returns what was seeded, for the run's manifest. ``PYTHONHASHSEED`` cannot be changed from inside a running
    interpreter; it is recorded so a rerun can be started with the same value.
    """
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global generator is what third-party code draws from
    done: dict[str, Any] = {"seed": seed, "python": seed, "numpy": seed,
                            "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED")}
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.manual_seed(seed)  # also seeds every CUDA device
        done["torch"] = seed
        if deterministic:
            # cuBLAS needs a fixed workspace to be deterministic; must be set before the first CUDA matmul.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            done["torch_deterministic"] = True
    if env is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        env.observation_space.seed(seed)
        done["env"] = seed
    return done
