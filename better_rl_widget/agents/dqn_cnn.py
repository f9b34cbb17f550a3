"""DQN for image observations (Atari frame stacks ``(4, 84, 84)`` uint8, MinAtar ``(10, 10, k)``).

Same algorithm as :mod:`better_rl_widget.agents.dqn` (Double DQN and PER options included); only the network
differs: the Nature-DQN convolutional torso (Mnih et al. 2015) for large frames, a small one for MinAtar-sized
grids. Frames are stored in the replay buffer in their own dtype (uint8 stays uint8) and scaled in ``forward``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .dqn import DQN


class CNNQNetwork(nn.Module):
    """Conv torso → ``features`` (the penultimate layer the live map embeds) → one Q-value per action."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, channels_last: bool, scale: float) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.scale = scale
        c, h, w = (obs_shape[2], obs_shape[0], obs_shape[1]) if channels_last else obs_shape
        if min(h, w) >= 36:  # Nature DQN torso
            conv = [nn.Conv2d(c, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                    nn.Conv2d(64, 64, 3, 1), nn.ReLU()]
        else:  # MinAtar-sized grids
            conv = [nn.Conv2d(c, 16, 3, 1), nn.ReLU()]
        self.torso = nn.Sequential(*conv, nn.Flatten())
        with torch.no_grad():
            n_flat = self.torso(torch.zeros(1, c, h, w)).shape[1]
        hidden = 256 if min(h, w) >= 36 else 128
        self.body = nn.Sequential(nn.Linear(n_flat, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_actions)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() * self.scale
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.body(self.torso(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class CNNDQN(DQN):
    """``DQN`` with a convolutional Q-network; observation layout (CHW or HWC) is read from the space."""

    def make_network(self) -> nn.Module:
        space = self.env.observation_space
        shape = tuple(int(s) for s in self._obs_shape())
        if len(shape) != 3:
            raise ValueError(f"CNNDQN needs 3-D image observations (C,H,W) or (H,W,C); {self.env_id} has {shape}")
        channels_last = (shape[2] <= 16 and shape[0] > 16) or (shape[0] > 4 and shape[2] <= 4 and shape[0] <= 16)
        scale = 1.0 / 255.0 if np.dtype(space.dtype) == np.uint8 else 1.0
        return CNNQNetwork(shape, self.n_actions, channels_last, scale)
