"""Run a list of independent jobs locally (in order) or as Ray tasks; the same function computes both."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

log = logging.getLogger("better_rl_widget")
BACKENDS = ("local", "ray")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if backend == "ray":
        require_ray()
    return backend


def require_ray() -> Any:
    """The ``ray`` module, or an ImportError that names the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError("backend='ray' needs Ray, an optional extra: pip install 'better_rl_widget[ray]'") from exc
    return ray


def init_local(tries: int = 3, **kwargs: Any) -> Any:
    """``ray.init(**kwargs)`` for a local cluster (no dashboard unless asked), retried: Ray gives its raylet a
    fixed 30 s to register, which a busy machine can miss ("The current node timed out during startup")."""
    ray = require_ray()
    kwargs.setdefault("include_dashboard", False)
    for attempt in range(tries):
        try:
            return ray.init(**kwargs)
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == tries - 1:
                raise
            log.warning("Ray's local node did not start in time (attempt %d of %d); retrying", attempt + 1, tries)
            ray.shutdown()
    return None


def ensure_ray() -> Any:
    """``ray``, initialised: an existing connection (``ray.init(address=...)`` done by the caller) is used as is;
    otherwise a local cluster on this machine is started, as Ray itself does on first use."""
    ray = require_ray()
    if not ray.is_initialized():
        log.info("starting a local Ray cluster (call ray.init(address=...) first to use an existing one)")
        init_local()
    return ray


def run_tasks(fn: Callable[..., Any], jobs: Sequence[tuple], *, shared: tuple = (), backend: str = "local",
              desc: str = "tasks", progress: bool = True, num_cpus: float = 1) -> list[Any]:
    """``[fn(*shared, *job) for job in jobs]``, in job order.

    ``backend="ray"``: each job is one Ray task (``num_cpus`` each), all submitted at once; ``shared`` arguments
    (an env, a task distribution) go to the object store once and every task reads the same copy. The bar
    advances as tasks finish. A task's exception is raised here, as the local loop would raise it. ``fn`` must
    be importable on the workers (a module-level function of an installed package)."""
    check_backend(backend)
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, leave=False)
    try:
        if backend == "local":
            out = []
            for job in jobs:
                out.append(fn(*shared, *job))
                bar.update(1)
            return out
        ray = ensure_ray()
        remote = ray.remote(num_cpus=num_cpus)(fn)
        shared_refs = [ray.put(x) for x in shared]  # top-level ObjectRef args arrive resolved
        refs = [remote.remote(*shared_refs, *job) for job in jobs]
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            bar.update(len(done))
        return ray.get(refs)
    finally:
        bar.close()
