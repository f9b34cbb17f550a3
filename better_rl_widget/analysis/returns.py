"""Discounted return-to-go per transition, for episodes whose every step is still in the buffer."""

from __future__ import annotations

import numpy as np


def returns_to_go(episode: np.ndarray, episode_step: np.ndarray, reward: np.ndarray, done: np.ndarray,
                  gamma: float = 0.99) -> np.ndarray:
    """``G_t = Σ_{k≥t} γ^{k−t} r_k`` within each episode, NaN where it cannot be known.

    Rows are one per transition in any order. An episode gets returns only when its last step (``done``) is
    present and its steps ``0..L−1`` are all present (an evicted prefix is fine: later steps only need the
    rows after them, so returns are filled for the contiguous run ending at ``done``).
    """
    episode = np.asarray(episode, np.int64)
    step = np.asarray(episode_step, np.int64)
    reward = np.asarray(reward, np.float64)
    done = np.asarray(done, bool)
    out = np.full(len(episode), np.nan, np.float32)
    if len(episode) == 0:
        return out
    order = np.lexsort((step, episode))
    ep, st, rw, dn = episode[order], step[order], reward[order], done[order]
    # Runs of one episode with consecutive steps; a run only counts when it ends with done.
    brk = np.ones(len(ep), bool)
    brk[1:] = (ep[1:] != ep[:-1]) | (st[1:] != st[:-1] + 1)
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], len(ep))
    g = np.full(len(ep), np.nan)
    for a, b in zip(starts, ends, strict=True):
        if not dn[b - 1]:
            continue
        # Backward recursion G_t = r_t + γ G_{t+1}; a Python loop, but only once per finished run.
        acc = 0.0
        for i in range(b - 1, a - 1, -1):
            acc = rw[i] + gamma * acc
            g[i] = acc
    out[order] = g.astype(np.float32)
    return out
