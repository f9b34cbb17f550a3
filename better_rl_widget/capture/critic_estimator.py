"""TD-errors, Q and V per slot for actor-critic agents (Stable-Baselines3 SAC, TD3, DDPG), in the hook's worker.

Like :class:`~better_rl_widget.capture.estimator.TDEstimator` (same ``compute``/``features`` interface), it
keeps a CPU copy of the live policy (actor, twin critics and their targets), refreshed from ``state_dict()``
every ``refresh_s`` seconds, and computes under ``torch.no_grad()`` with one thread. Deterministic choices, so
the same weights always give the same numbers (see ``analysis/critic_td.py`` for the formulas):

- ``q = min(Q1, Q2)(s, a)`` of the online critics (what both algorithms bootstrap from);
- TD3/DDPG target: ``a' = actor_target(s')`` *without* target policy smoothing noise;
- SAC target: ``a'`` = the actor's mean action ``tanh(μ(s'))`` with its log-probability ``log π(a'|s')`` and
  the entropy coefficient α read from the live model at each refresh;
- ``V(s)``: SAC ``min(Q1, Q2)(s, ā) − α·log π(ā|s)`` at the mean action ``ā`` (a one-point estimate of the soft
  value); TD3 ``min(Q1, Q2)(s, actor(s))``.

Features are the actor's penultimate layer (the input of its last ``nn.Linear``): what the policy acts on.
Problems (shapes that do not match the policy's spaces, a forward that raises) switch TD-errors off with one
message in the widget; training is never touched.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..analysis.critic_td import critic_td_errors, min_q
from ..analysis.network_hooks import default_feature_layer
from .estimator import BATCH, Estimates

Kind = Literal["sac", "td3"]


class CriticEstimator:
    """Worker-side estimates from an SB3 actor-critic ``policy`` (``actor``, ``critic``, ``critic_target`` and,
    for TD3/DDPG, ``actor_target``). ``alpha()`` returns SAC's current entropy coefficient."""

    def __init__(self, policy: nn.Module, *, kind: Kind, gamma: float = 0.99, alpha: Callable[[], float] | None = None,
                 refresh_s: float = 2.0) -> None:
        if kind not in ("sac", "td3"):
            raise ValueError(f"kind must be 'sac' or 'td3', got {kind!r}")
        need = ("actor", "critic", "critic_target") + (("actor_target",) if kind == "td3" else ())
        missing = [n for n in need if not isinstance(getattr(policy, n, None), nn.Module)]
        if missing:
            raise TypeError(f"{type(policy).__name__} lacks {', '.join(missing)}: expected an SB3 "
                            f"{'SACPolicy' if kind == 'sac' else 'TD3Policy'}")
        self.live = policy
        self.kind = kind
        self.gamma = float(gamma)
        self.live_alpha = alpha
        self.alpha = 0.0
        self.refresh_s = float(refresh_s)
        shape = getattr(getattr(policy, "action_space", None), "shape", None)
        self.action_dim = int(np.prod(shape)) if shape else None
        obs_shape = getattr(getattr(policy, "observation_space", None), "shape", None)
        self.obs_shape = tuple(obs_shape) if obs_shape is not None else None
        self.disabled = ""
        self.features_off = ""
        # A copy of the SB3 policy; its actor, critic, ... are attributes SB3 sets, beyond nn.Module's typing.
        self._policy: Any = None
        self._last_refresh = -np.inf
        self._features: torch.Tensor | None = None
        self._capture = False
        self._checked = False
        self.snapshots = 0
        self._then_policy: Any = None  # an older snapshot, for policy churn (capture/churn.py)
        self._then_state: Any = None

    # -- snapshot -------------------------------------------------------------------------------------------
    def _snapshot(self) -> None:
        now = time.monotonic()
        if self._policy is not None and now - self._last_refresh < self.refresh_s:
            return
        try:
            if self._policy is None:
                torch.set_num_threads(1)  # see TDEstimator._snapshot: idle OpenMP teams spin next to training
                self._policy = _fresh_copy(self.live)
                layer = default_feature_layer(self._policy.actor)
                if layer is not None:
                    layer.register_forward_pre_hook(self._keep_input)
            else:
                self._policy.load_state_dict(self.live.state_dict())
            if self.live_alpha is not None:
                self.alpha = float(self.live_alpha())
        except Exception as exc:  # noqa: BLE001 - becomes a message in the widget
            self.disabled = f"TD-errors off: could not snapshot the policy ({type(exc).__name__}: {exc})"
            self.features_off = self.disabled
            self._policy = None
            return
        self._last_refresh = now
        self.snapshots += 1

    def refresh_now(self) -> None:
        """Take a new snapshot at the next use, whatever its age."""
        self._last_refresh = -np.inf

    def _keep_input(self, _m: nn.Module, inp: tuple) -> None:
        if self._capture:
            self._features = inp[0] if inp and isinstance(inp[0], torch.Tensor) else None

    # -- policies (deterministic) -----------------------------------------------------------------------------
    def _mean_action(self, obs: torch.Tensor, policy: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """SAC: the mean action ``tanh(μ(s))`` and its log-probability under the current policy (or ``policy``)."""
        policy = self._policy if policy is None else policy
        assert policy is not None
        actor = policy.actor
        mean, log_std, kw = actor.get_action_dist_params(obs)
        dist = actor.action_dist.proba_distribution(mean, log_std, **kw)
        a = dist.mode()
        if type(dist).__name__ == "SquashedDiagGaussianDistribution":
            return a, dist.log_prob(a, mean)  # the pre-tanh mean: exact, no atanh of a saturated action
        return a, dist.log_prob(a)

    def _policies(self) -> tuple[Callable, Callable]:
        assert self._policy is not None
        p = self._policy
        nxt: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
        val: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
        if self.kind == "sac":
            nxt = val = self._mean_action
        else:
            def td3_next(s: torch.Tensor) -> tuple[torch.Tensor, None]:
                return p.actor_target(s), None

            def td3_val(s: torch.Tensor) -> tuple[torch.Tensor, None]:
                return p.actor(s), None

            nxt, val = td3_next, td3_val

        def val_with_features(s: torch.Tensor) -> Any:
            self._capture, self._features = True, None
            try:
                return val(s)
            finally:
                self._capture = False

        return nxt, val_with_features

    def _check_shapes(self, rows: dict[str, np.ndarray]) -> str:
        obs, act = np.asarray(rows["obs"]), np.asarray(rows["action"])
        if self.obs_shape is not None and tuple(obs.shape[1:]) != self.obs_shape:
            return (f"TD-errors off: the buffer's observations have shape {tuple(obs.shape[1:])} but the policy "
                    f"expects {self.obs_shape}")
        got = int(np.prod(act.shape[1:])) if act.ndim > 1 else 1
        if self.action_dim is not None and got != self.action_dim:
            return (f"TD-errors off: the buffer's actions have {got} component(s) but the critic expects "
                    f"{self.action_dim}")
        return ""

    # -- computation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, obs: np.ndarray) -> np.ndarray | None:
        """The actor's penultimate-layer rows for ``obs`` (float32[n, d]) or None when unavailable."""
        self._snapshot()
        if self.features_off or self._policy is None:
            return None
        try:
            _, val = self._policies()
            out = []
            for i in range(0, len(obs), BATCH):
                val(torch.as_tensor(np.asarray(obs[i:i + BATCH]), dtype=torch.float32))
                if self._features is None:
                    return None
                out.append(self._features.reshape(len(self._features), -1).float().numpy())
            return np.concatenate(out) if out else None
        except Exception as exc:  # noqa: BLE001 - switches features off, visibly
            self.features_off = f"features off: the actor failed on the buffer's observations ({exc})"
            return None

    def compute(self, slots: np.ndarray, rows: dict[str, np.ndarray], want_features: bool = False) -> Estimates | None:
        """TD-errors, Q and V for ``slots`` from mirrored ``rows`` (obs, next_obs, action, reward, terminated);
        with ``want_features`` also the actor's feature rows of ``obs``."""
        self._snapshot()
        if self.disabled or self._policy is None:
            return None
        if not self._checked:
            self._checked = True
            self.disabled = self._check_shapes(rows)
            if self.disabled:
                return None
        try:
            nxt, val = self._policies()
            parts, feats = [], []
            for i in range(0, len(slots), BATCH):
                sl = slice(i, i + BATCH)
                parts.append(critic_td_errors(self._policy.critic, self._policy.critic_target, nxt, val,
                                              rows["obs"][sl], rows["action"][sl], rows["reward"][sl],
                                              rows["next_obs"][sl], rows["terminated"][sl], gamma=self.gamma,
                                              alpha=self.alpha if self.kind == "sac" else 0.0))
                if want_features and self._features is not None:
                    feats.append(self._features.reshape(len(self._features), -1).float().numpy())
        except Exception as exc:  # noqa: BLE001 - switches TD-errors off, visibly
            self.disabled = f"TD-errors off: {type(exc).__name__}: {exc}"
            return None
        f = np.concatenate(feats) if want_features and feats and sum(map(len, feats)) == len(slots) else None
        return Estimates(np.asarray(slots, np.int64), np.concatenate([p.td_error for p in parts]),
                         np.concatenate([p.q for p in parts]), np.concatenate([p.value for p in parts]), f)

    # -- policy churn (capture/churn.py) --------------------------------------------------------------------
    def churn_state(self) -> tuple[dict[str, torch.Tensor], float] | None:
        """A copy of the current snapshot's weights and α, kept as an older reference; None before the first."""
        if self._policy is None:
            return None
        return {k: v.detach().clone() for k, v in self._policy.state_dict().items()}, self.alpha

    @torch.no_grad()
    def churn_eval(self, obs: np.ndarray, state: tuple[dict[str, torch.Tensor], float] | None = None
                   ) -> tuple[None, np.ndarray]:
        """(None: continuous actions have no greedy flip, V float32[n]) of ``obs`` under the current snapshot or
        under ``state`` (from :meth:`churn_state`); V as in TD-errors (see the module's docstring)."""
        if self._policy is None:
            raise RuntimeError("no policy snapshot yet")
        policy, alpha = (self._policy, self.alpha) if state is None else (self._then(state[0]), state[1])
        out = []
        for i in range(0, len(obs), BATCH):
            s = torch.as_tensor(np.asarray(obs[i:i + BATCH]), dtype=torch.float32)
            if self.kind == "sac":
                a, logp = self._mean_action(s, policy)
            else:
                a, logp = policy.actor(s), None
            v = min_q(policy.critic, s, a)
            if logp is not None and alpha:
                v = v - alpha * logp.reshape(-1)
            out.append(v.float().numpy())
        return None, np.concatenate(out) if out else np.zeros(0, np.float32)

    def _then(self, weights: dict[str, torch.Tensor]) -> Any:
        if self._then_policy is None:
            self._then_policy = _fresh_copy(self._policy)
        if weights is not self._then_state:
            self._then_policy.load_state_dict(weights)
            self._then_state = weights
        return self._then_policy


def _fresh_copy(policy: nn.Module) -> nn.Module:
    """A CPU copy of ``policy`` built the way SB3 loads a saved one: a new policy from its constructor parameters,
    then the live weights. A deepcopy would also copy what training mutates beside the weights (the optimisers,
    the action distribution's cached tensors, mid-step part of an autograd graph that deepcopy refuses) and so
    fail at random when made on the worker thread while training runs."""
    if any(p.device.type == "meta" for p in policy.parameters()):
        raise ValueError("policy has parameters on the 'meta' device (no values to copy)")
    params = getattr(policy, "_get_constructor_parameters", None)
    clone = type(policy)(**params()) if callable(params) else copy.deepcopy(policy)
    clone.load_state_dict(policy.state_dict())
    clone = clone.to("cpu").eval()
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone
