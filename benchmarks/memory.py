"""P6: the live map's memory is bounded by what it draws, not by the replay buffer. RSS the widget adds to the
kernel process (plus its engine child process, when it has one) for a 1,000,000-slot buffer of 4x84x84 uint8 frame
stacks (an Atari DQN's), after 50,000 insertions, with the hook's default ``max_points``.

The buffer itself would hold 28 GB, so it is not stored: ``SyntheticFrames`` is a BufferSource (see
better_rl_widget/capture/hook.py) that draws each frame stack on read, deterministically from the insertion index
(a few Gaussian blobs moving on per-episode paths), and a loop counts insertions and calls ``hook.on_step()``.
Anchor: the same process's RSS after the source is built and everything is imported (torch too when installed,
as in a training process), before the widget and hook exist. ``overhead_mb_1m`` = kernel RSS delta + child RSS,
read after the insertions and ``hook.flush()`` (from /proc/<pid>/status VmRSS, or psutil off Linux). ``valid`` is
false (and ``problems`` says why) when the flush timed out, nothing was drawn or the widget reported errors.
Target: overhead_mb_1m <= 1536.

    python benchmarks/memory.py                  # table: 1,000,000 slots, 50,000 insertions
    python benchmarks/memory.py --json           # one JSON object on the last stdout line
    python benchmarks/memory.py --capacity 200000 --insertions 20000 --worker process
    python benchmarks/memory.py --quick --json   # smoke test: 20,000 slots, 2,000 insertions (seconds)

``--max-points`` is passed to TrainingHook only when its signature has it (the output says so).
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import platform
import sys
import time
from collections.abc import Sequence

import numpy as np

from better_rl_widget import BufferWidget, TrainingHook

try:  # a training process has torch loaded: part of the baseline, not of the widget's overhead
    import torch  # noqa: F401 - loaded, not used

    TORCH_IN_BASELINE = True
except ImportError:  # the widget itself does not need it
    TORCH_IN_BASELINE = False

FIELDS = ("obs", "next_obs", "action", "reward", "terminated", "truncated", "step", "episode", "episode_step")
TARGET_MB = 1536
EPISODE_LEN = 200


class SyntheticFrames:
    """A ring buffer of ``capacity`` slots whose rows are computed on read: insertion ``i`` lives in slot
    ``i % capacity`` and its observation is a stack of the 4 frames ``i-3 .. i`` (uint8, 4x84x84)."""

    def __init__(self, capacity: int, stack: int = 4, size: int = 84, blobs: int = 3, seed: int = 0) -> None:
        self.capacity = int(capacity)
        self.total_inserted = 0
        self.stack, self.size = stack, size
        rng = np.random.default_rng(seed)
        self.period = rng.uniform(60, 240, blobs)  # steps per lap of each blob
        self.phase = rng.uniform(0, 2 * np.pi, blobs)
        self.sigma = rng.uniform(3.0, 7.0, blobs)
        self.grid = np.arange(size, dtype=np.float32)

    def insert(self, n: int = 1) -> None:
        self.total_inserted += n

    def insertion_of(self, slots: np.ndarray) -> np.ndarray:
        """The newest insertion index each slot holds (slots must have been written)."""
        slots = np.asarray(slots, np.int64)
        return slots + self.capacity * ((self.total_inserted - 1 - slots) // self.capacity)

    def frames(self, idx: np.ndarray) -> np.ndarray:
        """uint8[n, stack, size, size]: blob b of frame t sits on a circle whose radius depends on t's episode."""
        t = np.maximum(idx[:, None] - np.arange(self.stack - 1, -1, -1), 0).astype(np.float64)  # (n, stack)
        episode = t // EPISODE_LEN
        radius = 10.0 + (episode % 7)[..., None] * 4.0  # (n, stack, 1)
        angle = 2 * np.pi * t[..., None] / self.period + self.phase + episode[..., None]  # (n, stack, blobs)
        c = self.size / 2
        cx, cy = c + radius * np.cos(angle), c + radius * np.sin(angle)
        g = self.grid
        gx = np.exp(-((g - cx[..., None]) ** 2) / (2 * self.sigma[:, None] ** 2)).astype(np.float32)
        gy = np.exp(-((g - cy[..., None]) ** 2) / (2 * self.sigma[:, None] ** 2)).astype(np.float32)
        img = np.einsum("nsbi,nsbj->nsij", gy, gx)  # sum of separable blobs, (n, stack, size, size)
        return (np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)

    def read(self, slots: np.ndarray, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        if self.total_inserted == 0:
            return {}
        idx = self.insertion_of(slots)
        step_in_ep = idx % EPISODE_LEN
        out: dict[str, np.ndarray] = {}
        for name in fields or FIELDS:
            if name == "obs":
                out[name] = self.frames(idx)
            elif name == "next_obs":
                out[name] = self.frames(idx + 1)
            elif name == "action":
                out[name] = (idx % 4).astype(np.int64)
            elif name == "reward":
                out[name] = (step_in_ep % 25 == 0).astype(np.float32)
            elif name == "terminated":
                out[name] = step_in_ep == EPISODE_LEN - 1
            elif name == "truncated":
                out[name] = np.zeros(len(idx), bool)
            elif name == "step":
                out[name] = idx
            elif name == "episode":
                out[name] = idx // EPISODE_LEN
            elif name == "episode_step":
                out[name] = step_in_ep
        return out


# -- memory ----------------------------------------------------------------------------------------------------
def rss_mb(pid: int | None = None, key: str = "VmRSS") -> float:
    """Resident set size (``VmHWM``: its peak) of a process in MiB."""
    path = f"/proc/{pid or 'self'}/status"
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024  # kB
    import psutil

    info = psutil.Process(pid).memory_info()
    return (info.peak_wset if key == "VmHWM" and hasattr(info, "peak_wset") else info.rss) / 2**20


def reset_peak() -> None:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux), so the peak counts from the baseline."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def child_pid(hook: TrainingHook) -> int | None:
    if hook.worker.mode != "process":
        return None
    proc = getattr(hook.worker.engine, "proc", None)
    return None if proc is None or proc.poll() is not None else int(proc.pid)


# -- the benchmark ----------------------------------------------------------------------------------------------
def run(capacity: int, insertions: int, every: int, worker: str, hook_kwargs: dict, flush_timeout: float,
        progress: bool) -> dict:
    source = SyntheticFrames(capacity)
    gc.collect()
    reset_peak()
    base = rss_mb()
    hook = TrainingHook(BufferWidget(), source, every=every, worker=worker, **hook_kwargs)
    t0 = time.perf_counter()
    for i in range(insertions):
        source.insert()
        hook.on_step()
        if progress and (i + 1) % 10_000 == 0:
            print(f"  {i + 1} insertions, kernel +{rss_mb() - base:.0f} MiB", file=sys.stderr, flush=True)
    insert_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    flushed = hook.flush(flush_timeout)
    flush_s = time.perf_counter() - t1
    gc.collect()
    kernel = rss_mb() - base
    kernel_peak = rss_mb(key="VmHWM") - base
    pid = child_pid(hook)
    child = rss_mb(pid) if pid else 0.0
    child_peak = rss_mb(pid, "VmHWM") if pid else 0.0
    status = hook.widget.status
    map_status = dict(status.get("map") or {})
    out = {
        "overhead_mb_1m": round(kernel + child, 1), "kernel_mb": round(kernel, 1), "child_mb": round(child, 1),
        "kernel_peak_mb": round(kernel_peak, 1), "child_peak_mb": round(child_peak, 1),
        "baseline_rss_mb": round(base, 1), "map_points": int(map_status.get("points", hook.widget.n_points)),
        "map": map_status, "insertions": int(source.total_inserted), "capacity": capacity,
        "obs_shape": [source.stack, source.size, source.size], "obs_dtype": "uint8",
        "buffer_gb_if_stored": round(capacity * source.stack * source.size ** 2 / 1e9, 2),
        "worker": hook.worker.mode, "child_pid_found": pid is not None, "flushed": flushed,
        "insert_s": round(insert_s, 2), "flush_s": round(flush_s, 2),
        "frames_shown": int(max(status.get("frames_shown", 0), hook.worker.stats.frames_shown)),
        "errors": [e.splitlines()[0][:200] for e in hook.widget.errors],
    }
    # A figure is only meaningful when every row reached the map and nothing failed on the way.
    problems = ([] if flushed else ["flush timed out"]) + (["nothing drawn"] if out["map_points"] == 0 else []) \
        + (["widget errors"] if out["errors"] else [])
    out.update(valid=not problems, problems=problems)
    hook.close()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capacity", type=int, default=None, help="buffer slots (default 1,000,000; --quick 20,000)")
    ap.add_argument("--insertions", type=int, default=None, help="default 50,000; --quick 2,000")
    ap.add_argument("--every", type=int, default=10, help="TrainingHook(every=...)")
    ap.add_argument("--worker", default="auto", help="TrainingHook(worker=...): auto, thread or process")
    ap.add_argument("--max-points", type=int, default=None, help="TrainingHook(max_points=...) if supported "
                                                                 "(default: the hook's own)")
    ap.add_argument("--flush-timeout", type=float, default=600.0, help="seconds hook.flush() may wait")
    ap.add_argument("--quick", action="store_true", help="smoke test: 20,000 slots, 2,000 insertions")
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last stdout line")
    a = ap.parse_args(argv)
    capacity = a.capacity or (20_000 if a.quick else 1_000_000)
    insertions = a.insertions if a.insertions is not None else (2_000 if a.quick else 50_000)
    params = inspect.signature(TrainingHook.__init__).parameters
    wanted = {"max_points": a.max_points} if a.max_points is not None else {}
    hook_kwargs = {k: v for k, v in wanted.items() if k in params}
    res = run(capacity, insertions, a.every, a.worker, hook_kwargs, a.flush_timeout, progress=not a.json)
    res.update(target_mb=TARGET_MB, quick=a.quick, torch_in_baseline=TORCH_IN_BASELINE, hook_kwargs=hook_kwargs,
               hook_kwargs_unsupported=sorted(set(wanted) - set(hook_kwargs)),
               hook_has_max_points="max_points" in params,
               machine={"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
               load=[round(x, 2) for x in os.getloadavg()])
    if a.json:
        print(json.dumps(res))
        return
    print(f"{capacity:,} slots of {res['obs_shape']} uint8 ({res['buffer_gb_if_stored']} GB if stored), "
          f"{res['insertions']:,} insertions, worker {res['worker']}, {res['map_points']:,} points drawn")
    print(f"  overhead        {res['overhead_mb_1m']:8.1f} MiB   (target <= {TARGET_MB})")
    print(f"  kernel / child  {res['kernel_mb']:8.1f} / {res['child_mb']:.1f} MiB   "
          f"(peaks {res['kernel_peak_mb']:.1f} / {res['child_peak_mb']:.1f})")
    flushed = "done" if res["flushed"] else "TIMED OUT"
    print(f"  insert {res['insert_s']:.1f} s, flush {res['flush_s']:.1f} s ({flushed}), "
          f"frames shown {res['frames_shown']}, errors {len(res['errors'])}")
    for e in res["errors"][:3]:
        print(f"    error: {e}")
    if not res["valid"]:
        print(f"  NOT A VALID FIGURE: {', '.join(res['problems'])}")


if __name__ == "__main__":
    main()
