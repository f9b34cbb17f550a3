"""``PolicyVisualizer``: checkpoints → policy performance and one aligned state-action t-SNE across training.

    from better_rl_widget import PolicyVisualizer
    viz = PolicyVisualizer(checkpoint_path="runs/ckpts", env_name="CartPole-v1", agent_class=stable_baselines3.DQN)
    viz.plot_all()

See ``better_rl_widget.policy.agent_protocol`` for what ``agent_class`` must offer.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .embed.aligned import aligned_tsne
from .policy import figures
from .policy.checkpoints import Checkpoint, find_checkpoints
from .policy.rollouts import Rollouts, make_env, rollout_all

log = logging.getLogger("better_rl_widget")

# 30 seeded episodes per checkpoint: the 95 % t-interval of the mean return is then ±0.37 standard deviations of the
# episode returns (t(0.975, 29)/sqrt(30)), against ±1.24 at 5 episodes, where it is wider than the spread itself and
# says little about which checkpoint is better. Below 10 (±0.72) a warning says so.
DEFAULT_EPISODES = 30
MIN_EPISODES_FOR_CI = 10


class PolicyVisualizer:
    """Roll out every checkpoint under ``checkpoint_path`` for ``episodes`` seeded episodes and plot what changed.

    The same ``seed`` gives the same episodes' start states for every checkpoint, and the same figures on every
    call. Rollouts and the t-SNE are computed once, on first use.

    ``episodes`` defaults to 30 so that the 95 % interval on a checkpoint's mean return means something: with a
    Student-t interval its half-width is t(0.975, n-1)/sqrt(n) standard deviations of the episode returns, 0.37 at
    n=30, 0.72 at n=10, 1.24 at n=5 (wider than the spread itself). Fewer than 10 is allowed (for quick looks and
    tests) but logs a warning.
    """

    def __init__(self, checkpoint_path: str | Path, env_name: str, agent_class: Any, *,
                 episodes: int = DEFAULT_EPISODES, seed: int = 0,
                 max_steps: int = 1000, tsne_per_checkpoint: int = 300, perplexity: float = 30.0,
                 progress: bool = True, env_kwargs: dict | None = None, backend: str = "local",
                 trust_checkpoints: bool = False) -> None:
        """``backend="ray"`` rolls the checkpoints out as Ray tasks, one per checkpoint (``pip install
        'better_rl_widget[ray]'``; the checkpoint files must be readable where the tasks run). The same
        ``seed`` gives the same rows and figures on either backend.

        Stable-Baselines3 checkpoints are read without unpickling anything from them (a crafted ``.zip`` could
        run code); ``trust_checkpoints=True`` loads them with SB3's own ``load`` instead, for trusted files whose
        objects the safe reader refuses (e.g. a custom policy class)."""
        from .scale.backend import check_backend

        self.backend = check_backend(backend)
        if episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {episodes}")
        if episodes < MIN_EPISODES_FOR_CI:
            log.warning("PolicyVisualizer: episodes=%d gives a 95%% interval of ±%.2f standard deviations of the "
                        "episode returns (±%.2f at %d, the default); use at least %d episodes to compare checkpoints",
                        episodes, figures.ci95_half_width(int(episodes)), figures.ci95_half_width(DEFAULT_EPISODES),
                        DEFAULT_EPISODES, MIN_EPISODES_FOR_CI)
        make_env(env_name, **(env_kwargs or {})).close()  # fail early on an unknown id, with close matches
        self.checkpoints: list[Checkpoint]
        self.checkpoints, self.skipped_files = find_checkpoints(checkpoint_path)
        self.env_name = env_name
        self.agent_class = agent_class
        self.episodes = int(episodes)
        self.seed = int(seed)
        self.max_steps = int(max_steps)
        self.tsne_per_checkpoint = int(tsne_per_checkpoint)
        self.perplexity = float(perplexity)
        self.progress = progress
        self.env_kwargs = env_kwargs
        self.trust_checkpoints = bool(trust_checkpoints)

    @cached_property
    def rollouts(self) -> Rollouts:
        r = rollout_all(self.checkpoints, self.agent_class, self.env_name, episodes=self.episodes, seed=self.seed,
                        max_steps=self.max_steps, progress=self.progress, env_kwargs=self.env_kwargs,
                        backend=self.backend, trust=self.trust_checkpoints)
        for name, why in r.failed.items():
            log.warning("PolicyVisualizer: checkpoint %s was skipped: %s", name, why)
        return r

    @property
    def failed(self) -> dict[str, str]:
        """Checkpoint files that could not be loaded or rolled out, with the reason."""
        return self.rollouts.failed

    @cached_property
    def tsne_coords(self) -> np.ndarray:
        r = self.rollouts
        onehot = (np.eye(int(r.actions[:, 0].max()) + 1, dtype=np.float32)[r.actions[:, 0].astype(int)]
                  if r.discrete else r.actions)
        X = np.hstack([r.obs, onehot])  # state-action pairs
        coords, _ = aligned_tsne(X, r.steps["checkpoint"].to_numpy(), per_group=self.tsne_per_checkpoint,
                                 perplexity=self.perplexity, seed=self.seed)
        return coords

    # -- numbers --------------------------------------------------------------------------------------------
    def to_dataframe(self, level: str = "episodes") -> pd.DataFrame:
        """``"episodes"``: one row per episode (return, length); ``"steps"``: one row per step, with the t-SNE
        coordinates."""
        if level == "episodes":
            return self.rollouts.episodes.copy()
        if level == "steps":
            df = self.rollouts.steps.copy()
            df["tsne_x"], df["tsne_y"] = self.tsne_coords[:, 0], self.tsne_coords[:, 1]
            return df
        raise ValueError(f"level must be 'episodes' or 'steps', got {level!r}")

    # -- figures ----------------------------------------------------------------------------------------------
    def plot_returns(self) -> go.Figure:
        """Mean return per checkpoint with its 95 % Student-t interval (error bars), and every episode's return."""
        return figures.returns_figure(self.rollouts)

    def plot_lengths(self) -> go.Figure:
        return figures.lengths_figure(self.rollouts)

    def plot_actions(self) -> go.Figure:
        return figures.actions_figure(self.rollouts)

    def plot_values(self) -> go.Figure:
        return figures.values_figure(self.rollouts)

    def plot_tsne(self, color_by: str = "checkpoint") -> go.Figure:
        """The aligned state-action map coloured by ``"checkpoint"`` (discrete, one legend entry per training step),
        ``"action"`` (discrete actions: one colour each), ``"return_to_go"`` (realised discounted return from the
        step on, with the agent's gamma) or ``"value"`` (the network's max Q or V on the state)."""
        return figures.tsne_figure(self.rollouts, self.tsne_coords, color_by)

    def figures(self) -> dict[str, go.Figure]:
        return {"returns": self.plot_returns(), "lengths": self.plot_lengths(), "actions": self.plot_actions(),
                "values": self.plot_values(), "tsne": self.plot_tsne()}

    def plot_all(self, show: bool = True) -> dict[str, go.Figure]:
        """Every figure; shown (in a notebook, or the default plotly renderer) unless ``show=False``."""
        figs = self.figures()
        if show:
            for fig in figs.values():
                fig.show()
        return figs

    def save(self, folder: str | Path) -> list[Path]:
        """Write each figure as self-contained HTML (plotly.js inlined: opens offline), plus PNG when an offline
        image exporter (kaleido) is installed, and the episode table as CSV."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for name, fig in self.figures().items():
            p = out / f"{name}.html"
            fig.write_html(p, include_plotlyjs=True, full_html=True)
            written.append(p)
            try:
                import kaleido  # noqa: F401 - plotly's PNG export needs it

                fig.write_image(out / f"{name}.png")
                written.append(out / f"{name}.png")
            except Exception as exc:  # noqa: BLE001 - PNG is optional
                log.info("PNG export skipped for %s: %s", name, exc)
        csv = out / "episodes.csv"
        self.to_dataframe().to_csv(csv, index=False)
        written.append(csv)
        return written
