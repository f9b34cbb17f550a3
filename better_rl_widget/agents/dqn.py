"""A reference DQN (Mnih et al. 2015) for vector observations, readable top to bottom.

Uses the package's own ``ReplayBuffer`` so the live widget can stream it. Seeded: the same seed gives the same
run on the same machine and torch build.

    agent = DQN("CartPole-v1", seed=0)
    agent.learn(20_000, callback=hook.on_step)
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from ..capture.prioritized import PrioritizedReplayBuffer
from ..capture.replay_buffer import ReplayBuffer


@dataclass
class DQNConfig:
    buffer_size: int = 20_000
    batch_size: int = 64
    gamma: float = 0.99
    learning_rate: float = 5e-4
    learning_starts: int = 1_000
    train_frequency: int = 1
    target_update_interval: int = 500
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.3  # of total steps over which epsilon decays linearly
    double_dqn: bool = True
    prioritized: bool = False  # proportional PER (Schaul et al. 2016)
    per_alpha: float = 0.6
    per_beta: float = 0.4  # annealed linearly to 1 over training
    hidden: tuple[int, ...] = field(default=(128, 128))


class QNetwork(nn.Module):
    """MLP Q-network; ``features(x)`` is the penultimate layer (what the live map can embed)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        last = obs_dim
        for h in hidden:
            layers += [nn.Linear(last, h), nn.ReLU()]
            last = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(last, n_actions)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class DQN:
    def __init__(self, env: str | gym.Env = "CartPole-v1", config: DQNConfig | None = None, seed: int = 0) -> None:
        self.env = gym.make(env) if isinstance(env, str) else env
        self.env_id = env if isinstance(env, str) else getattr(self.env.spec, "id", type(self.env).__name__)
        if not isinstance(self.env.action_space, gym.spaces.Discrete):
            raise ValueError(f"DQN needs a Discrete action space, {self.env_id} has {self.env.action_space}")
        self.n_actions = int(self.env.action_space.n)
        self.config = config or DQNConfig()
        self.seed = seed
        random.seed(seed)
        np.random.seed(seed)  # noqa: NPY002 - for any library drawing from the legacy global generator
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.q = self.make_network()
        self.q_target = self.make_network()
        self.q_target.load_state_dict(self.q.state_dict())
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=self.config.learning_rate)
        c = self.config
        self.buffer: ReplayBuffer = (PrioritizedReplayBuffer(c.buffer_size, alpha=c.per_alpha, beta=c.per_beta,
                                                             seed=seed)
                                     if c.prioritized else ReplayBuffer(c.buffer_size, seed=seed))
        self._beta = c.per_beta
        self.episode_returns: list[float] = []
        self.steps_done = 0

    def make_network(self) -> nn.Module:
        """The Q-network for this env (an MLP here; ``CNNDQN`` overrides it for frames)."""
        obs_dim = int(np.prod(self._obs_shape()))
        return QNetwork(obs_dim, self.n_actions, self.config.hidden)

    def _obs_shape(self) -> tuple[int, ...]:
        shape = self.env.observation_space.shape
        if shape is None:
            raise ValueError(f"DQN needs observations of a fixed shape; {self.env_id} has {self.env.observation_space}")
        return shape

    def epsilon(self, step: int, total: int) -> float:
        c = self.config
        frac = min(1.0, step / max(1.0, c.eps_fraction * total))
        return c.eps_start + frac * (c.eps_end - c.eps_start)

    @torch.no_grad()
    def predict(self, obs: np.ndarray) -> int:
        """Greedy action for one observation."""
        x = torch.as_tensor(np.asarray(obs, np.float32)).unsqueeze(0)
        return int(self.q(x).argmax(dim=1).item())

    def act(self, obs: np.ndarray, epsilon: float) -> int:
        if self.rng.random() < epsilon:
            return int(self.rng.integers(self.n_actions))
        return self.predict(obs)

    def train_step(self) -> float:
        c = self.config
        per = self.buffer if isinstance(self.buffer, PrioritizedReplayBuffer) else None
        b = per.sample(c.batch_size, beta=self._beta) if per is not None else self.buffer.sample(c.batch_size)
        obs = torch.as_tensor(b["obs"], dtype=torch.float32)
        next_obs = torch.as_tensor(b["next_obs"], dtype=torch.float32)
        actions = torch.as_tensor(b["action"], dtype=torch.int64)
        rewards = torch.as_tensor(b["reward"], dtype=torch.float32)
        terminated = torch.as_tensor(b["terminated"], dtype=torch.float32)
        with torch.no_grad():
            if c.double_dqn:  # online net picks, target net evaluates (van Hasselt et al. 2016)
                next_a = self.q(next_obs).argmax(dim=1, keepdim=True)
                next_q = self.q_target(next_obs).gather(1, next_a).squeeze(1)
            else:
                next_q = self.q_target(next_obs).max(dim=1).values
            target = rewards + c.gamma * (1.0 - terminated) * next_q
        q = self.q(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        if per is not None:  # importance weights correct the bias of prioritized sampling
            loss = (torch.as_tensor(b["weights"]) * nn.functional.smooth_l1_loss(q, target, reduction="none")).mean()
            per.update_priorities(b["indices"], (target - q).detach().numpy())
        else:
            loss = nn.functional.smooth_l1_loss(q, target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.item())

    def learn(self, total_steps: int, callback: Callable[[int], None] | None = None,
              stop: threading.Event | None = None, log: Callable[..., None] | None = None,
              log_every: int = 100) -> list[float]:
        """Train for ``total_steps`` env steps; ``callback(step)`` after each stored transition (e.g. a
        ``TrainingHook.on_step``); ``stop`` ends training early when set. ``log(step, **values)`` (e.g.
        ``TrainingHook.log_metrics``) gets each episode's return and length, and every ``log_every`` updates
        their mean loss and the current epsilon. Returns the episode returns."""
        c = self.config
        obs, _ = self.env.reset(seed=self.seed)
        self.env.action_space.seed(self.seed)
        ep_return, ep_length, losses = 0.0, 0, []
        for _ in range(total_steps):
            if stop is not None and stop.is_set():
                break
            eps = self.epsilon(self.steps_done, total_steps)
            action = self.act(obs, eps)
            next_obs, reward, terminated, truncated, _ = self.env.step(action)
            self.buffer.add(obs, action, float(reward), next_obs, bool(terminated), bool(truncated))
            ep_return += float(reward)
            ep_length += 1
            obs = next_obs
            self.steps_done += 1
            if terminated or truncated:
                self.episode_returns.append(ep_return)
                if log is not None:
                    log(self.steps_done, episode_return=ep_return, episode_length=ep_length)
                ep_return, ep_length = 0.0, 0
                obs, _ = self.env.reset()
            self._beta = c.per_beta + (1.0 - c.per_beta) * min(1.0, self.steps_done / max(1, total_steps))
            if self.steps_done > c.learning_starts and self.steps_done % c.train_frequency == 0:
                loss = self.train_step()
                if log is not None:
                    losses.append(loss)
                    if len(losses) >= log_every:
                        log(self.steps_done, loss=float(np.mean(losses)), epsilon=eps)
                        losses = []
            if self.steps_done % c.target_update_interval == 0:
                self.q_target.load_state_dict(self.q.state_dict())
            if callback is not None:
                callback(self.steps_done)
        return self.episode_returns

    def save(self, path: str | Path) -> None:
        """State dict plus config, loadable with ``weights_only=True``."""
        torch.save({"q": self.q.state_dict(), "config": asdict(self.config), "env_id": self.env_id,
                    "steps_done": self.steps_done}, path)

    @classmethod
    def load(cls, path: str | Path, env: str | gym.Env | None = None) -> DQN:
        data = torch.load(path, weights_only=True)
        cfg = data["config"]
        cfg["hidden"] = tuple(cfg["hidden"])
        agent = cls(env or data["env_id"], DQNConfig(**cfg))
        agent.q.load_state_dict(data["q"])
        agent.q_target.load_state_dict(data["q"])
        agent.steps_done = int(data["steps_done"])
        return agent
