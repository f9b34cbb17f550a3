"""Scale-out on Ray (optional extra ``better_rl_widget[ray]``): experiment and rollout tasks, remote capture.

Nothing here imports Ray at module import time; the default (local) path never loads it.
"""

from .backend import BACKENDS, init_local, require_ray, run_tasks

__all__ = ["BACKENDS", "init_local", "require_ray", "run_tasks"]
