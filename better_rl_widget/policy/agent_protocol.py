"""The tiny protocol ``PolicyVisualizer`` needs from an agent class, and adapters for the classes we know.

An ``agent_class`` has a class method ``load(path)`` returning an agent, and the agent has ``predict(obs)``
(SB3 style, may return ``(action, state)``; called with ``deterministic=True`` when it accepts it) or
``act(obs)``. Optional: ``q_values(obs_batch) -> (n, n_actions)`` or ``value(obs_batch) -> (n,)``; without them,
values are read from the networks of classes we know (SB3 DQN ``q_net``, SB3 actor-critics ``policy.predict_values``,
the reference DQN ``q``), or left out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .sb3_safe import is_sb3_class, load_sb3


def load_agent(agent_class: Any, path: str, trust: bool = False) -> Any:
    """``agent_class.load(path)``; SB3 algorithms through ``sb3_safe`` (nothing in the file is unpickled) unless
    ``trust``."""
    load = getattr(agent_class, "load", None)
    if not callable(load):
        raise TypeError(f"{getattr(agent_class, '__name__', agent_class)!r} has no load(path) class method")
    if not trust and is_sb3_class(agent_class):
        return load_sb3(agent_class, path)
    return load(path)


def action_fn(agent: Any) -> Callable[[np.ndarray], Any]:
    """A function obs → action for one observation."""
    predict = getattr(agent, "predict", None)
    if callable(predict):
        try:
            deterministic = "deterministic" in inspect.signature(predict).parameters
        except (TypeError, ValueError):
            deterministic = False

        def act(obs: np.ndarray) -> Any:
            out = predict(obs, deterministic=True) if deterministic else predict(obs)
            return out[0] if isinstance(out, tuple) else out

        return act
    act_method = getattr(agent, "act", None)
    if callable(act_method):
        return act_method
    raise TypeError(f"{type(agent).__name__} has neither predict(obs) nor act(obs)")


def value_fn(agent: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function obs_batch → (n,) value estimates (max Q or V), or None when the agent exposes none."""
    if callable(getattr(agent, "value", None)):
        return lambda obs: np.asarray(agent.value(obs), np.float64).reshape(len(obs))
    if callable(getattr(agent, "q_values", None)):
        return lambda obs: np.asarray(agent.q_values(obs), np.float64).max(axis=1)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch comes with every agent we know
        return None
    q_net = getattr(agent, "q_net", None)  # SB3 DQN
    if q_net is None and isinstance(getattr(agent, "q", None), torch.nn.Module):
        q_net = agent.q  # reference DQN
    policy = getattr(agent, "policy", None)
    if isinstance(q_net, torch.nn.Module):
        def q_max(obs: np.ndarray) -> np.ndarray:
            device = next(q_net.parameters()).device
            if device.type == "meta":
                raise ValueError("the agent's Q-network has its parameters on the 'meta' device (no values)")
            with torch.no_grad():
                return q_net(torch.as_tensor(obs, dtype=torch.float32, device=device)).max(dim=1).values.cpu().numpy()
        return q_max
    if policy is not None and callable(getattr(policy, "predict_values", None)):  # SB3 PPO / A2C
        def v(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                t, _ = policy.obs_to_tensor(obs)
                return policy.predict_values(t).cpu().numpy().reshape(len(obs))
        return v
    return None
