"""P5: batched perturbation saliency vs the per-mask loop of Greydanus et al. 2018, same frames, same run.

The network is the Nature-DQN CNN (Mnih et al. 2015) on 84x84x4 frame stacks, randomly initialised with a fixed
seed (speed and map agreement do not depend on training). The anchor blurs each mask and the frame with scipy and
runs one forward pass per mask, as the paper's code does.

    python benchmarks/saliency.py            # table
    python benchmarks/saliency.py --json     # {"speedup": ..., "correlation": ..., ...}
    python benchmarks/saliency.py --thumbnails [--k 20] [--minatar] [--json]

``--thumbnails`` times one refresh of the influential list's thumbnails as the widget computes it (one thread, as
the background service runs): the K image thumbnails, and the K actor + critic maps from one shared perturbed
pass per frame, against the same maps from two separate passes (actor, then critic), same frames, same run.
``--minatar``: 10x10x4 MinAtar-like object planes and the package's small CNN (r = d = 1, as the widget scales them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from better_rl_widget.agents.dqn_cnn import CNNQNetwork
from better_rl_widget.analysis.saliency import (
    actor_critic_maps,
    perturbation_saliency,
    perturbation_saliency_reference,
    scaled_defaults,
)
from better_rl_widget.widget.thumbnails import thumbnail


def nature_cnn(n_actions: int = 6) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
        nn.Linear(512, n_actions)).eval()


def frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """Atari-like stacks: dark background, a few bright moving blocks."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        f = rng.integers(0, 20, (4, 84, 84)).astype(np.uint8)
        for _ in range(5):
            i, j = rng.integers(0, 76, 2)
            for k in range(4):
                f[k, i:i + 6, j + k:j + k + 6] = 200
        out.append(f)
    return out


def run(n_frames: int, r: float, d: int) -> dict:
    net = nature_cnn()
    fs = frames(n_frames)
    perturbation_saliency(net, fs[0], r=r, d=d)  # builds the mask cache once per frame size (reported below)
    t_fast, t_ref, corr = [], [], []
    for f in fs:
        t0 = time.perf_counter()
        a = perturbation_saliency(net, f, r=r, d=d)
        t_fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = perturbation_saliency_reference(net, f, r=r, d=d)
        t_ref.append(time.perf_counter() - t0)
        corr.append(float(np.corrcoef(a.ravel(), b.ravel())[0, 1]))
    med = statistics.median
    return {"frames": n_frames, "r": r, "d": d, "masks": len(range(0, 84, d)) ** 2,
            "torch_threads": torch.get_num_threads(), "batched_s": med(t_fast), "reference_s": med(t_ref),
            "speedup": med(t_ref) / med(t_fast),
            "correlation": min(corr), "targets": {"speedup": 20.0, "correlation": 0.99}}


def minatar_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """(10, 10, 4) bool object planes: paddle, ball, trail, a few rows of bricks."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        f = np.zeros((10, 10, 4), bool)
        f[9, rng.integers(0, 10), 0] = True
        i, j = rng.integers(3, 9, 2)
        f[i, j, 1] = True
        f[i - 1, j, 2] = True
        f[1:3, :, 3] = rng.random((2, 10)) < 0.8
        out.append(f)
    return out


def run_thumbnails(k: int, r: float, d: int, repeats: int = 3, minatar: bool = False) -> dict:
    """One top-K refresh: K image thumbnails, and K actor + critic maps (shared pass vs two separate passes)."""
    if minatar:
        torch.manual_seed(0)
        net = CNNQNetwork((10, 10, 4), 3, channels_last=True, scale=1.0).eval()
        fs, layout = minatar_frames(k, seed=1), "HWC"
        r, d = scaled_defaults(10, 10)
    else:
        net, fs, layout = nature_cnn(), frames(k, seed=1), "CHW"
    critic = lambda x: net(x).max(dim=1, keepdim=True).values  # the critic map's f: V = max Q
    t_img, t_shared, t_separate, worst = [], [], [], 1.0
    with threadpool_limits(limits=1):  # the saliency service computes thumbnails on one thread
        perturbation_saliency(net, fs[0], r=r, d=d, layout=layout)  # mask cache, once per frame size
        for _ in range(repeats):
            t0 = time.perf_counter()
            for f in fs:
                thumbnail(f, layout)
            t_img.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            shared = [actor_critic_maps(net, f, r=r, d=d, layout=layout) for f in fs]
            t_shared.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            separate = [(perturbation_saliency(net, f, r=r, d=d, layout=layout),
                         perturbation_saliency(critic, f, r=r, d=d, layout=layout)) for f in fs]
            t_separate.append(time.perf_counter() - t0)
            for m, (a, c) in zip(shared, separate, strict=True):
                worst = min(worst, float(np.corrcoef(m["actor"].ravel(), a.ravel())[0, 1]),
                            float(np.corrcoef(m["critic"].ravel(), c.ravel())[0, 1]))
    med = statistics.median
    return {"frames": "minatar 10x10x4" if minatar else "84x84x4", "k": k, "r": r, "d": d, "threads": 1,
            "repeats": repeats, "images_ms": med(t_img) * 1e3,
            "saliency_ms": med(t_shared) * 1e3, "saliency_ms_per_row": med(t_shared) * 1e3 / k,
            "separate_passes_ms": med(t_separate) * 1e3, "shared_pass_speedup": med(t_separate) / med(t_shared),
            "correlation": worst}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--r", type=float, default=5.0)
    ap.add_argument("--d", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--thumbnails", action="store_true", help="time one top-K refresh of the influential list")
    ap.add_argument("--k", type=int, default=20, help="rows per refresh with --thumbnails")
    ap.add_argument("--repeats", type=int, default=3, help="refreshes timed with --thumbnails (median)")
    ap.add_argument("--minatar", action="store_true", help="with --thumbnails: MinAtar-sized frames")
    args = ap.parse_args()
    if args.thumbnails:
        res = run_thumbnails(args.k, args.r, args.d, args.repeats, args.minatar)
        if args.json:
            print(json.dumps(res))
            return
        net = "small CNN" if args.minatar else "Nature CNN"
        print(f"top-K refresh, K={res['k']} {res['frames']} frames, {net}, r={res['r']}, d={res['d']}, one thread, "
              f"median of {res['repeats']}")
        print(f"  image thumbnails {res['images_ms']:8.2f} ms")
        print(f"  saliency thumbnails (actor + critic, shared pass) {res['saliency_ms']:8.0f} ms "
              f"({res['saliency_ms_per_row']:.0f} ms per row)   two separate passes (anchor) "
              f"{res['separate_passes_ms']:8.0f} ms   speedup {res['shared_pass_speedup']:.2f}x   "
              f"map correlation {res['correlation']:.6f}")
        return
    res = run(args.frames, args.r, args.d)
    if args.json:
        print(json.dumps(res))
        return
    print(f"P5 perturbation saliency, 84x84x4 frames, r={res['r']}, d={res['d']} ({res['masks']} masks), "
          f"median of {res['frames']} frames, torch threads {res['torch_threads']}")
    print(f"  per-mask loop (anchor) {res['reference_s'] * 1e3:8.1f} ms   batched {res['batched_s'] * 1e3:8.1f} ms   "
          f"speedup {res['speedup']:.1f}x (target >= 20x)")
    print(f"  map correlation (worst frame) {res['correlation']:.6f} (target >= 0.99)")


if __name__ == "__main__":
    main()
