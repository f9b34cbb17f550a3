"""P1: live t-SNE of a rolling replay buffer, against a full openTSNE fit of the same points in the same run.

A buffer of N slots fills and then rolls at RATE insertions per second of wall-clock time (insertion i goes to slot
i mod N, as in a ring replay buffer), while the engine steps as the capture worker drives it (at most 4 frames/s,
one BLAS/OpenMP thread).
After the buffer has filled, SECONDS of rolling are measured: frames per second, insertion-to-frame latency (from
an insertion's scheduled time to the end of the first frame that shows it), mean displacement of kept points per
frame (fraction of the view width). At the end the live map of the points then in the buffer is compared with
openTSNE's own full fit of exactly those points (same reduced features): kNN-preservation@10 ratio, trustworthiness.
It also times the two affinity strategies: our incremental kNN graph vs rebuilding it (exact, and openTSNE's Annoy).

    python benchmarks/embed_live.py                 # N=20000, 500/s, 60 s, CartPole states and 64-d features
    python benchmarks/embed_live.py --quick         # N=4000, 20 s, 64-d features: about a minute
    python benchmarks/embed_live.py --json          # one JSON object (worst case over the data sets + per run)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from openTSNE import TSNE
from openTSNE.affinity import PerplexityBasedNN
from threadpoolctl import threadpool_limits
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cartpole_stream import cartpole_states, features64

from better_rl_widget.embed import AUTO_MIN_POINTS
from better_rl_widget.embed.knn_graph import KNNGraph
from better_rl_widget.embed.live_tsne import LiveTSNE
from better_rl_widget.embed.quality import knn_preservation_of, trustworthiness

MAX_FPS = 4.0  # the capture worker's default


def run(data: str, n: int, rate: float, seconds: float, seed: int = 0, progress: bool = True) -> dict:
    total = int(n + rate * (seconds + 30)) + 1  # the stream is longer than any run can consume
    states = cartpole_states(total, seed)
    X = states if data == "cartpole" else features64(states, seed)
    # what projection="auto" builds (t-SNE from 500 points; tiny smoke-test buffers switch earlier)
    eng = LiveTSNE(n, seed=seed, min_points=min(AUTO_MIN_POINTS, max(100, n // 4)), name="auto")
    fill_s = n / rate
    slot_row = np.full(n, -1, np.int64)  # which insertion each slot holds
    shown_row = np.full(n, -1, np.int64)  # which insertion the map last showed in each slot
    latencies, frame_times, disp, cpu = [], [], [], []
    prev: tuple[np.ndarray, np.ndarray] | None = None
    done = 0
    t0 = time.perf_counter()
    bar = tqdm(total=int(fill_s + seconds), desc=f"{data} N={n}", unit="s", disable=not progress, file=sys.stderr,
               mininterval=1.0)
    graph_s_at_measure = None
    while True:
        now = time.perf_counter() - t0
        if now >= fill_s + seconds:
            break
        measuring = now >= fill_s
        if measuring and graph_s_at_measure is None:
            graph_s_at_measure = (eng.timings["graph_s"], now)
        due = min(int(now * rate), total)
        if due > done:
            idx = np.arange(done, due)
            slots = idx % n
            # a burst may wrap a slot twice: keep the newest row per slot (what the worker does)
            slots, last = np.unique(slots[::-1], return_index=True)
            idx = idx[::-1][last]
            eng.add(slots, X[idx])
            slot_row[slots] = idx
            done = due
        c = time.process_time()
        with threadpool_limits(limits=1):  # as the capture worker calls the projection
            frame = eng.step(0.1)
        t_frame = time.perf_counter() - t0
        if measuring:
            cpu.append(time.process_time() - c)
        fs = frame.slots.astype(np.int64)
        new = fs[slot_row[fs] != shown_row[fs]]
        if measuring:
            latencies.extend(t_frame - slot_row[new] / rate)
            frame_times.append(t_frame)
            if prev is not None:
                common, ia, ib = np.intersect1d(prev[0], fs, return_indices=True)
                same = slot_row[common] == prev[2][ia]  # the slot still holds the same insertion
                if same.any():
                    width = frame.extent[1] - frame.extent[0]
                    d = np.linalg.norm(frame.coords[ib][same] - prev[1][ia][same], axis=1).mean() / width
                    disp.append(float(d))
        shown_row[new] = slot_row[new]
        prev = (fs, frame.coords.copy(), slot_row[fs].copy())
        bar.n = int(min(now, fill_s + seconds))
        bar.refresh()
        wait = 1.0 / MAX_FPS - (time.perf_counter() - t0 - now)
        if wait > 0:
            time.sleep(wait)
    bar.close()
    end = time.perf_counter() - t0
    stream_s = end - graph_s_at_measure[1] if graph_s_at_measure else seconds
    incr_graph_s = (eng.timings["graph_s"] - graph_s_at_measure[0]) / stream_s if graph_s_at_measure else float("nan")

    # The live map of what is in the buffer now, against openTSNE's full fit of the same points.
    frame = eng.step(0.1)
    slots = frame.slots.astype(np.int64)
    Z = eng.reducer.transform(X[slot_row[slots]])
    t = time.perf_counter()
    full = np.asarray(TSNE(n_jobs=1, random_state=seed).fit(Z))  # 2 threads stall each other on a busy box
    anchor_s = time.perf_counter() - t
    knn_live = knn_preservation_of(Z, frame.coords, k=10, sample=2000, seed=seed)
    knn_full = knn_preservation_of(Z, full, k=10, sample=2000, seed=seed)
    sub = np.sort(np.random.default_rng(seed).choice(len(Z), min(2000, len(Z)), replace=False))
    # Affinity strategies on the same points: a full exact rebuild, and openTSNE's own (Annoy) kNN + affinities.
    g = KNNGraph(n, Z.shape[1], eng.k)
    t = time.perf_counter()
    g.rebuild(slots, Z)
    rebuild_exact_s = time.perf_counter() - t
    t = time.perf_counter()
    PerplexityBasedNN(Z, perplexity=30, method="annoy", n_jobs=1, random_state=seed)
    rebuild_annoy_s = time.perf_counter() - t
    lat = np.asarray(latencies) if latencies else np.asarray([np.nan])
    fps = (len(frame_times) - 1) / (frame_times[-1] - frame_times[0]) if len(frame_times) > 1 else 0.0
    return {
        "data": data, "n": n, "rate": rate, "seconds": seconds, "dim": int(X.shape[1]), "frames": len(frame_times),
        "fps": fps, "latency_p50_s": float(np.percentile(lat, 50)), "latency_p95_s": float(np.percentile(lat, 95)),
        "knn_live": knn_live, "knn_full": knn_full, "knn_ratio": knn_live / knn_full,
        "trust_live": trustworthiness(Z[sub], frame.coords[sub]), "trust_full": trustworthiness(Z[sub], full[sub]),
        "displacement": float(np.mean(disp)) if disp else 0.0, "iterations": eng.iterations,
        # CPU seconds the engine spent per frame: what a frame costs without waiting for a shared core
        "cpu_s_per_frame": float(np.mean(cpu)) if cpu else float("nan"),
        "anchor_fit_s": anchor_s, "engine_timings_s": {k: round(v, 2) for k, v in eng.timings.items()},
        "affinity": {"incremental_graph_s_per_stream_s": incr_graph_s, "rebuild_exact_s": rebuild_exact_s,
                     "rebuild_annoy_openTSNE_s": rebuild_annoy_s, "repaired_rows": int(eng.graph.repaired)},
        "targets": {"fps": 2.0, "latency_p95_s": 1.0, "knn_ratio": 0.9},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quick", action="store_true", help="N=4000, 20 s, features only (about a minute)")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--data", choices=["cartpole", "features", "both"], default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    n = a.n or (4000 if a.quick else 20000)
    seconds = a.seconds or (20.0 if a.quick else 60.0)
    data = a.data or ("features" if a.quick else "both")
    runs = [run(d, n, a.rate, seconds, a.seed, progress=not a.json)
            for d in (["cartpole", "features"] if data == "both" else [data])]
    worst = {"fps": min(r["fps"] for r in runs), "latency_p50_s": max(r["latency_p50_s"] for r in runs),
             "latency_p95_s": max(r["latency_p95_s"] for r in runs), "knn_ratio": min(r["knn_ratio"] for r in runs),
             "displacement": max(r["displacement"] for r in runs), "n": n, "rate": a.rate, "seconds": seconds,
             "runs": runs}
    if a.json:
        print(json.dumps(worst))
        return
    for r in runs:
        print(f"\n{r['data']} ({r['dim']}-d), N={r['n']}, {r['rate']:.0f}/s, {r['seconds']:.0f} s rolling")
        print(f"  frames/s             {r['fps']:.2f}   (target >= 2)")
        print(f"  latency p50 / p95    {r['latency_p50_s']:.2f} / {r['latency_p95_s']:.2f} s   (target p95 <= 1)")
        print(f"  kNN@10 live / full   {r['knn_live']:.3f} / {r['knn_full']:.3f} = ratio {r['knn_ratio']:.2f}"
              "   (target >= 0.9)")
        print(f"  trustworthiness      {r['trust_live']:.3f} / {r['trust_full']:.3f}")
        print(f"  displacement/frame   {r['displacement']:.4f} of the view width")
        print(f"  engine CPU / frame   {r['cpu_s_per_frame']:.3f} s")
        aff = r["affinity"]
        print(f"  affinity strategy    incremental graph {aff['incremental_graph_s_per_stream_s']:.2f} s per "
              f"stream second; rebuild exact {aff['rebuild_exact_s']:.1f} s, openTSNE Annoy "
              f"{aff['rebuild_annoy_openTSNE_s']:.1f} s; anchor fit {r['anchor_fit_s']:.1f} s")


if __name__ == "__main__":
    main()
