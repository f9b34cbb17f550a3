"""Skills: clusters of the map that respect time, in the spirit of the SAMDP of Zahavy, Ben-Zrihem & Mannor (2016),
"Graying the black box: understanding DQNs".

1. Over-cluster the embedding with k-means (scikit-learn), ``over`` × ``k`` clusters: spatial pieces.
2. Merge the pieces into ``k`` skills along time: a normalised cut (spectral clustering, scikit-learn) of the
   graph whose edge weights are how often the agent steps from one piece to the other. Pieces it moves between
   all the time become one skill; a cut through rare transitions (a doorway, a phase change) is preferred,
   which keeps the entropy of the transitions between skills low.
3. Time-aware refinement: each state takes the most common skill in a window of ±``window`` steps of its own
   episode, so one-step excursions do not flicker between skills.

The skill graph is the chain of skill *changes* along episodes (run-length collapsed, as the SAMDP's skills
last several steps). Scores to compare ``k``: ``transition_entropy`` (mean entropy of where a skill hands over
to, normalised to [0, 1]; the SAMDP paper's inter-cluster entropy criterion, low = a predictable skill graph),
``coherence`` (fraction of steps that stay in their skill) and ``explained_variance`` (how much of the map's
spread the skills' centres explain).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Skills:
    labels: np.ndarray  # int64[n] skill per row, aligned with the input; skills are numbered by first visit
    centers: np.ndarray  # float[k, 2] mean map position of each skill
    counts: np.ndarray  # int64[k] rows per skill (visits)
    transitions: np.ndarray  # float[k, k] P(next skill = j | skill i changes), rows sum to 1 (or 0: never left)
    step_transitions: np.ndarray  # float[k, k] step-level P(skill at t+1 = j | skill at t = i), self included
    transition_entropy: float
    coherence: float
    explained_variance: float
    entropy_rate: float  # bits per step of the step-level skill chain

    @property
    def k(self) -> int:
        return len(self.counts)

    def scores(self) -> dict[str, float]:
        return {"k": self.k, "transition_entropy": self.transition_entropy, "coherence": self.coherence,
                "explained_variance": self.explained_variance, "entropy_rate": self.entropy_rate}


def _order(episode: np.ndarray, episode_step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row order by (episode, step) and a mask of rows whose successor in that order is the next step."""
    order = np.lexsort((episode_step, episode))
    e, s = episode[order], episode_step[order]
    follows = np.zeros(len(order), bool)
    follows[:-1] = (e[1:] == e[:-1]) & (s[1:] == s[:-1] + 1)
    return order, follows


def step_counts(labels: np.ndarray, episode: np.ndarray, episode_step: np.ndarray, k: int) -> np.ndarray:
    """``C[i, j]``: how often a step in cluster ``i`` is followed by one in ``j`` within an episode."""
    order, follows = _order(np.asarray(episode), np.asarray(episode_step))
    lab = np.asarray(labels)[order]
    c = np.zeros((k, k), np.float64)
    np.add.at(c, (lab[:-1][follows[:-1]], lab[1:][follows[:-1]]), 1.0)
    return c


def _entropy_rate(c: np.ndarray) -> float:
    tot = c.sum()
    if tot == 0:
        return 0.0
    row = c.sum(axis=1, keepdims=True)
    p = np.divide(c, row, out=np.zeros_like(c), where=row > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    return float((row[:, 0] / tot) @ h)


def _smooth(labels: np.ndarray, episode: np.ndarray, episode_step: np.ndarray, window: int, k: int) -> np.ndarray:
    """Mode filter of ±``window`` steps along each episode (ties keep the current label)."""
    if window < 1:
        return labels
    order, follows = _order(episode, episode_step)
    lab = labels[order]
    seg = np.concatenate([[0], np.cumsum(~follows[:-1])])  # contiguous run id per ordered row
    n = len(lab)
    votes = np.zeros((n, k), np.int32)
    idx = np.arange(n)
    for d in range(-window, window + 1):
        j = idx + d
        ok = (j >= 0) & (j < n)
        ok[ok] &= seg[j[ok]] == seg[idx[ok]]
        np.add.at(votes, (idx[ok], lab[j[ok]]), 1)
    votes[idx, lab] += 1  # a tie keeps the current label
    out = np.empty_like(labels)
    out[order] = votes.argmax(axis=1)
    return out


def _merge(labels: np.ndarray, c: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Group the pieces into ``k`` skills by a normalised cut of their transition graph (spectral clustering on
    the symmetrised step counts): pieces joined by frequent transitions end up together, and a cut through rare
    transitions is preferred, relative to how much time the agent spends on each side."""
    from sklearn.cluster import SpectralClustering

    w = c + c.T
    np.fill_diagonal(w, 0.0)
    # A tiny uniform affinity keeps the graph connected (pieces never left for one another still get a skill).
    w = w / max(w.max(), 1.0) + 1e-6
    np.fill_diagonal(w, 0.0)
    lut = SpectralClustering(n_clusters=k, affinity="precomputed", random_state=seed,
                             assign_labels="cluster_qr").fit_predict(w)
    return lut.astype(np.int64)[labels]


def _renumber(labels: np.ndarray, episode: np.ndarray, episode_step: np.ndarray) -> np.ndarray:
    """Skill ids by order of first visit (stable across refits of the same data)."""
    order, _ = _order(episode, episode_step)
    seen = pd.unique(labels[order])
    lut = np.full(labels.max() + 1, -1, np.int64)
    lut[seen] = np.arange(len(seen))
    return lut[labels]


def skill_stats(labels: np.ndarray, xy: np.ndarray, episode: np.ndarray, episode_step: np.ndarray,
                k: int | None = None) -> Skills:
    """Transition matrices and scores of a given labelling (e.g. to score plain k-means against SAMDP skills)."""
    labels = np.asarray(labels, np.int64)
    xy = np.asarray(xy, np.float64)
    k = int(labels.max()) + 1 if k is None else k
    counts = np.bincount(labels, minlength=k)
    centers = np.array([xy[labels == i].mean(axis=0) if counts[i] else np.full(2, np.nan) for i in range(k)])
    c = step_counts(labels, episode, episode_step, k)
    row = c.sum(axis=1, keepdims=True)
    step_p = np.divide(c, row, out=np.zeros_like(c), where=row > 0)
    off = c.copy()
    np.fill_diagonal(off, 0.0)
    orow = off.sum(axis=1, keepdims=True)
    p = np.divide(off, orow, out=np.zeros_like(off), where=orow > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    w = orow[:, 0] / orow.sum() if orow.sum() > 0 else np.zeros(k)
    norm = np.log2(k - 1) if k > 2 else 1.0
    total_var = ((xy - xy.mean(axis=0)) ** 2).sum()
    within = sum(((xy[labels == i] - centers[i]) ** 2).sum() for i in range(k) if counts[i])
    return Skills(labels=labels, centers=centers, counts=counts, transitions=p, step_transitions=step_p,
                  transition_entropy=float(w @ h / norm) if k > 2 else 0.0,
                  coherence=float(np.trace(c) / c.sum()) if c.sum() else float("nan"),
                  explained_variance=float(1.0 - within / total_var) if total_var > 0 else float("nan"),
                  entropy_rate=_entropy_rate(c))


def fit_skills(xy: np.ndarray, episode: np.ndarray, episode_step: np.ndarray, k: int = 4, *, over: int = 8,
               window: int = 2, seed: int = 0) -> Skills:
    """SAMDP-style skills of a map: see the module docstring. ``xy``: map coordinates (or any features), one row
    per transition; ``episode``/``episode_step`` order the rows in time."""
    from sklearn.cluster import KMeans

    xy = np.asarray(xy, np.float64)
    episode = np.asarray(episode, np.int64)
    episode_step = np.asarray(episode_step, np.int64)
    if not (len(xy) == len(episode) == len(episode_step)):
        raise ValueError(f"xy, episode and episode_step must have one row per transition; got {len(xy)}, "
                         f"{len(episode)}, {len(episode_step)}")
    if k < 1 or len(xy) < k:
        raise ValueError(f"cannot form {k} skills from {len(xy)} states")
    if k == 1:
        return skill_stats(np.zeros(len(xy), np.int64), xy, episode, episode_step, k=1)
    n0 = int(min(len(xy), max(k, over * k)))
    labels = KMeans(n_clusters=n0, n_init=4, random_state=seed).fit_predict(xy).astype(np.int64)
    c = step_counts(labels, episode, episode_step, n0)
    if n0 > k:
        labels = _merge(labels, c, k, seed)
    labels = _smooth(labels, episode, episode_step, window, k)
    labels = _renumber(labels, episode, episode_step)
    return skill_stats(labels, xy, episode, episode_step, k=int(labels.max()) + 1)


def compare_k(xy: np.ndarray, episode: np.ndarray, episode_step: np.ndarray, ks: Sequence[int] = (2, 3, 4, 6, 8),
              **kw: Any) -> pd.DataFrame:
    """Scores of :func:`fit_skills` for each ``k``: one row per k."""
    return pd.DataFrame([fit_skills(xy, episode, episode_step, k, **kw).scores() for k in ks])


def skill_timeline(table: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per episode, the runs of one skill: ``episode, skill, start, end`` (episode steps, inclusive),
    ``length``, ``slots`` (uint32, for highlighting)."""
    t = table.assign(_skill=np.asarray(labels, np.int64)).sort_values(["episode", "episode_step"], kind="stable")
    rows = []
    ep: Any  # an episode id (the groupby key; pandas' stubs cannot know the column's dtype)
    for ep, g in t.groupby("episode", sort=True):
        sk = g["_skill"].to_numpy()
        st = g["episode_step"].to_numpy()
        sl = g["slot"].to_numpy()
        cut = np.flatnonzero(np.r_[True, (sk[1:] != sk[:-1]) | (st[1:] != st[:-1] + 1)])
        for a, b in zip(cut, np.r_[cut[1:], len(sk)], strict=True):
            rows.append({"episode": int(ep), "skill": int(sk[a]), "start": int(st[a]), "end": int(st[b - 1]),
                         "length": int(b - a), "slots": sl[a:b].astype(np.uint32)})
    return pd.DataFrame(rows, columns=["episode", "skill", "start", "end", "length", "slots"])


def table_skills(table: pd.DataFrame, k: int = 4, **kw: Any) -> Skills:
    """:func:`fit_skills` on a buffer table's map coordinates."""
    return fit_skills(table[["x", "y"]].to_numpy(), table["episode"].to_numpy(), table["episode_step"].to_numpy(),
                      k, **kw)
