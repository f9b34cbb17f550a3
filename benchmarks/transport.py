"""P3: transport. N points, a fraction changed per tick: delta payload and encode time against a full resend.

The anchor (a full resend: every row encoded, as a keyframe) is measured in the same run on the same state.

    python benchmarks/transport.py            # table
    python benchmarks/transport.py --json     # one JSON object: delta_fraction, encode_ms, ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from better_rl_widget.frames.frame_state import FrameState


def _rows(rng: np.random.Generator, slots: np.ndarray, step0: int) -> dict[str, np.ndarray]:
    n = len(slots)
    return {"step": np.arange(step0, step0 + n), "episode": rng.integers(0, 500, n), "action": rng.integers(0, 4, n),
            "reward": rng.normal(size=n).astype(np.float32), "done": (rng.random(n) < 0.01).astype(np.uint8)}


def run(n: int, changed_fraction: float, ticks: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    fs = FrameState(n)
    slots = np.arange(n)
    fs.upsert(slots, _rows(rng, slots, 0))
    fs.set_coords(slots, rng.normal(size=(n, 2)).astype(np.float32))
    fs.keyframe()
    k = max(1, round(changed_fraction * n))
    step = n
    delta_bytes, delta_ms, full_bytes, full_ms = [], [], [], []
    for _ in range(ticks):
        # a tick: k new transitions overwrite the oldest slots and get coordinates (the worker's job, not timed)
        changed = (np.arange(step, step + k) % n)
        fs.upsert(changed, _rows(rng, changed, step))
        fs.set_coords(changed, rng.normal(size=(k, 2)).astype(np.float32))
        step += k
        t0 = time.perf_counter()
        blob = fs.take_delta()
        delta_ms.append((time.perf_counter() - t0) * 1e3)
        assert blob is not None
        delta_bytes.append(len(blob))
        t0 = time.perf_counter()
        full = fs.keyframe()  # anchor: all rows, same state
        full_ms.append((time.perf_counter() - t0) * 1e3)
        full_bytes.append(len(full))
    med = statistics.median
    return {
        "n": n, "changed_fraction": changed_fraction, "ticks": ticks,
        "delta_bytes": int(med(delta_bytes)), "full_bytes": int(med(full_bytes)),
        "delta_fraction": med(delta_bytes) / med(full_bytes),
        "encode_ms": med(delta_ms), "encode_ms_p95": float(np.percentile(delta_ms, 95)),
        "full_encode_ms": med(full_ms), "encode_speedup": med(full_ms) / med(delta_ms),
        "targets": {"delta_fraction": 0.05, "encode_ms": 5.0},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--changed", type=float, default=0.01, help="fraction of points changed per tick")
    ap.add_argument("--ticks", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = run(args.n, args.changed, args.ticks)
    if args.json:
        print(json.dumps(r))
        return
    print(f"P3 transport: N={r['n']:,}, {r['changed_fraction']:.1%} changed per tick, median of {r['ticks']} ticks")
    print(f"  delta payload   {r['delta_bytes']:>10,} B   full resend {r['full_bytes']:>10,} B   "
          f"ratio {r['delta_fraction']:.4f}  (target <= 0.05)")
    print(f"  delta encode    {r['encode_ms']:>8.2f} ms   full encode {r['full_encode_ms']:>8.2f} ms   "
          f"full/delta {r['encode_speedup']:.1f}x  (target delta <= 5 ms; p95 {r['encode_ms_p95']:.2f} ms)")


if __name__ == "__main__":
    main()
