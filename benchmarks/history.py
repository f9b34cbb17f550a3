"""Map history: what a snapshot costs the worker thread, what a scrubber answer costs, and how big an export is.

The anchor is a keyframe build of the same state, which the worker already does every 10 s; the history copy runs
every 2 s by default. All timings are measured in the same run on the same state.

    python benchmarks/history.py                 # table
    python benchmarks/history.py --json          # one JSON object: snapshot_vs_keyframe, export_mb, ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from better_rl_widget.frames.frame_state import FrameState
from better_rl_widget.frames.snapshot_codec import encode_snapshot, snapshot_nbytes
from better_rl_widget.widget.export import export_html


def _state(n: int, rng: np.random.Generator) -> FrameState:
    fs = FrameState(n)
    slots = np.arange(n)
    fs.upsert(slots, {"step": slots, "episode": slots // 200, "action": rng.integers(0, 4, n),
                      "reward": rng.normal(size=n).astype(np.float32), "done": (slots % 200 == 199).astype(np.uint8),
                      "td_error": rng.normal(size=n).astype(np.float32)})
    fs.set_coords(slots, rng.normal(size=(n, 2)).astype(np.float32))
    fs.take_delta()
    return fs


def _ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def run(n: int, snapshots: int, repeats: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    fs = _state(n, rng)
    keyframe_ms = _ms(fs.keyframe, repeats)
    snapshot_ms = _ms(lambda: fs.snapshot(0, 0.0), repeats)
    snap = fs.snapshot(0, 0.0)
    answer_ms = _ms(lambda: encode_snapshot(snap), repeats)
    history = []
    for k in range(snapshots):  # a run whose map drifts a little between snapshots
        moved = snap.xy + np.float32(0.01 * k)
        history.append(type(snap)(step=k * 1000, time_s=5.0 * k, slots=snap.slots, xy=moved, extent=snap.extent,
                                  fields=snap.fields))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        out = export_html(Path(tmp) / "x.html", history, max_bytes=None)
        export_s = time.perf_counter() - t
        export_mb = out.stat().st_size / 2**20
    return {"n": n, "snapshot_ms": snapshot_ms, "keyframe_ms": keyframe_ms,
            "snapshot_vs_keyframe": snapshot_ms / keyframe_ms, "answer_ms": answer_ms,
            "snapshot_mb": snapshot_nbytes(snap) / 2**20, "snapshots": snapshots, "export_s": export_s,
            "export_mb": export_mb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[50_000, 1_000_000])
    ap.add_argument("--snapshots", type=int, default=20, help="snapshots in the export")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = [run(n, args.snapshots, args.repeats) for n in args.n]
    if args.json:
        print(json.dumps({**runs[0], "runs": runs}))
        return
    print(f"{'points':>9} {'snapshot ms':>12} {'keyframe ms':>12} {'ratio':>6} {'answer ms':>10} {'MiB/snap':>9} "
          f"{'export s':>9} {'export MiB':>11}")
    for r in runs:
        print(f"{r['n']:>9,} {r['snapshot_ms']:>12.2f} {r['keyframe_ms']:>12.2f} {r['snapshot_vs_keyframe']:>6.2f} "
              f"{r['answer_ms']:>10.2f} {r['snapshot_mb']:>9.2f} {r['export_s']:>9.2f} {r['export_mb']:>11.1f}")
    print(f"(export: {args.snapshots} snapshots, everything kept; export_html's default max_bytes thins to 64 MiB)")


if __name__ == "__main__":
    main()
