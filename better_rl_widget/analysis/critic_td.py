"""One-step TD-errors, Q(s,a) and V(s) for actor-critic agents with twin Q-critics (SAC, TD3, DDPG).

Critics follow Stable-Baselines3's convention: ``critic(obs, actions)`` returns one ``[n, 1]`` tensor per
Q-network. Policies are callables ``obs -> (actions, log_prob or None)`` that must be deterministic, so the
numbers do not change from one refresh to the next with the same weights:

- ``q = min_i Q_i(s, a)`` (the twin critics' minimum, what both SAC and TD3 bootstrap from);
- ``δ = r + γ·(1 − terminated)·(min_i Q'_i(s', a') − α·log π(a'|s')) − q`` with ``a', log π = next_policy(s')``
  (``α = 0`` or ``log π = None``: the TD3/DDPG target);
- ``V(s) = min_i Q_i(s, ā) − α·log π(ā|s)`` with ``ā, log π = value_policy(s)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .td import TDResult

Policy = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor | None]"]


def min_q(critic: nn.Module, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``min_i Q_i(obs, actions)`` as a ``[n]`` tensor."""
    out = critic(obs, actions)
    qs = list(out) if isinstance(out, (tuple, list)) else [out]
    q = torch.cat([x.reshape(len(obs), -1) for x in qs], dim=1)
    if q.shape[1] != len(qs):
        raise ValueError(f"critic returned {tuple(q.shape)} for {len(obs)} states; expected one value per "
                         f"state from each of its {len(qs)} Q-network(s)")
    return q.min(dim=1).values


@torch.no_grad()
def critic_td_errors(critic: nn.Module, critic_target: nn.Module, next_policy: Policy, value_policy: Policy,
                     obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
                     terminated: np.ndarray, *, gamma: float = 0.99, alpha: float = 0.0) -> TDResult:
    """TD-errors of the stored transitions for continuous actions of shape ``[n, action_dim]``."""
    n = len(obs)
    s = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
    s2 = torch.as_tensor(np.asarray(next_obs), dtype=torch.float32)
    a = torch.as_tensor(np.asarray(action, np.float32).reshape(n, -1))
    r = torch.as_tensor(np.asarray(reward, np.float32).reshape(-1))
    term = torch.as_tensor(np.asarray(terminated).reshape(-1).astype(np.float32))
    a_bar, logp_bar = value_policy(s)
    value = min_q(critic, s, a_bar)
    if logp_bar is not None and alpha:
        value = value - alpha * logp_bar.reshape(-1)
    q_sa = min_q(critic, s, a)
    a2, logp2 = next_policy(s2)
    next_v = min_q(critic_target, s2, a2)
    if logp2 is not None and alpha:
        next_v = next_v - alpha * logp2.reshape(-1)
    delta = r + gamma * (1.0 - term) * next_v - q_sa
    return TDResult(delta.float().numpy(), q_sa.float().numpy(), value.float().numpy())
