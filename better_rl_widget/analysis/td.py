"""One-step TD-errors, Q(s,a) and V(s) = max_a Q(s,a) for a batch of transitions, under ``torch.no_grad()``.

``δ = r + γ·(1 − terminated)·Q_target(s', a*) − Q(s, a)`` with ``a* = argmax_a' Q_target(s', a')``, or
``a* = argmax_a' Q(s', a')`` for Double DQN (the online network picks, the target network evaluates).
Truncated transitions bootstrap like any non-terminal one (the time limit is not part of the MDP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class TDResult:
    td_error: np.ndarray  # float32[n], signed
    q: np.ndarray  # float32[n], Q(s, a) of the action taken
    value: np.ndarray  # float32[n], max_a Q(s, a)


def q_values(out: object) -> torch.Tensor:
    """The Q tensor of a network's output; Tianshou nets return ``(logits, state)``."""
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"q_network returned {type(out).__name__}; expected a tensor of Q-values")
    return out


@torch.no_grad()
def td_errors(q_net: nn.Module, target_net: nn.Module | None, obs: np.ndarray, action: np.ndarray,
              reward: np.ndarray, next_obs: np.ndarray, terminated: np.ndarray, *, gamma: float = 0.99,
              double: bool = False, device: torch.device | str = "cpu") -> TDResult:
    """TD-errors for discrete-action Q-networks that map a batch of observations to ``[n, n_actions]``."""
    target_net = q_net if target_net is None else target_net
    _check_device(torch.device(device), q_net, target_net)
    s = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)
    s2 = torch.as_tensor(np.asarray(next_obs), dtype=torch.float32, device=device)
    a = torch.as_tensor(np.asarray(action).reshape(len(s), -1)[:, 0].astype(np.int64), device=device)
    r = torch.as_tensor(np.asarray(reward, np.float32).reshape(-1), device=device)
    term = torch.as_tensor(np.asarray(terminated).reshape(-1).astype(np.float32), device=device)
    q_all = q_values(q_net(s))
    if q_all.ndim != 2 or q_all.shape[0] != len(s):
        raise ValueError(f"q_network returned shape {tuple(q_all.shape)} for {len(s)} observations; "
                         f"expected ({len(s)}, n_actions)")
    if len(a) and int(a.max()) >= q_all.shape[1]:
        raise ValueError(f"action {int(a.max())} is out of range for a q_network with {q_all.shape[1]} outputs")
    q_next_target = q_values(target_net(s2))
    if double:
        pick = q_values(q_net(s2)).argmax(dim=1, keepdim=True)
        next_v = q_next_target.gather(1, pick).squeeze(1)
    else:
        next_v = q_next_target.max(dim=1).values
    q_sa = q_all.gather(1, a.unsqueeze(1)).squeeze(1)
    delta = r + gamma * (1.0 - term) * next_v - q_sa
    return TDResult(delta.float().cpu().numpy(), q_sa.float().cpu().numpy(),
                    q_all.max(dim=1).values.float().cpu().numpy())


def _check_device(dev: torch.device, *nets: nn.Module) -> None:
    """A ValueError naming the device, instead of torch's bare AssertionError ("cuda" without CUDA) or a mismatch
    found deep inside the first layer."""
    try:
        torch.empty(0, device=dev)
    except (AssertionError, RuntimeError) as exc:
        raise ValueError(f"device {str(dev)!r} is not available here ({type(exc).__name__}: {exc})") from exc
    for net in nets:
        on = {p.device for p in net.parameters()}
        if "meta" in {d.type for d in on}:
            raise ValueError(f"{type(net).__name__} has parameters on the 'meta' device (no values to compute with)")
        if on and dev not in on and not (dev.type == "cuda" and {d.type for d in on} == {"cuda"}):
            raise ValueError(f"{type(net).__name__}'s parameters are on {sorted(map(str, on))}, but the batch is "
                             f"put on {str(dev)!r}: pass device= the network's device")
