"""TD-errors, Q/V and features per slot, computed in the worker from a snapshot of the user's networks.

The training thread never waits: the worker keeps its own CPU copy of the Q-network (and target network) and
refreshes it from the live modules' ``state_dict`` every ``refresh_s`` seconds. That read races with the
optimiser, which can at worst mix two consecutive updates in one snapshot — harmless for a picture.
Problems (a network on a device it cannot copy from, an output size that does not match the actions, a forward
that raises) switch the estimator off with one message in the widget; training is never touched.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..analysis.network_hooks import default_feature_layer
from ..analysis.td import q_values, td_errors

if TYPE_CHECKING:
    from .options import LiveOptions

BATCH = 1024


@dataclass
class Estimates:
    slots: np.ndarray
    td_error: np.ndarray
    q: np.ndarray
    value: np.ndarray
    features: np.ndarray | None = None


class TDEstimator:
    """Computes per-slot TD-errors/Q/V and penultimate-layer features from mirrored rows (worker thread only)."""

    def __init__(self, q_network: nn.Module, target_network: nn.Module | None = None, *, gamma: float = 0.99,
                 double: bool = False, n_actions: int | None = None, refresh_s: float = 2.0,
                 feature_layer: str | None = None) -> None:
        if not isinstance(q_network, nn.Module):
            raise TypeError(f"q_network must be a torch.nn.Module, got {type(q_network).__name__}")
        if target_network is not None and not isinstance(target_network, nn.Module):
            raise TypeError(f"target_network must be a torch.nn.Module, got {type(target_network).__name__}")
        self.live = q_network
        self.live_target = target_network
        self.gamma = float(gamma)
        self.double = bool(double)
        self.n_actions = n_actions
        self.refresh_s = float(refresh_s)
        self.feature_layer = feature_layer
        self.disabled = ""  # why TD-errors are off (features may still work)
        self.features_off = ""  # why features are off
        self._net: nn.Module | None = None
        self._target: nn.Module | None = None
        self._last_refresh = -np.inf
        self._features: torch.Tensor | None = None
        self.snapshots = 0
        self._checked = False
        self._first_only = False  # during compute(): keep the features of the first forward, Q(s, ·)
        self._then_net: nn.Module | None = None  # an older snapshot's network, for policy churn (capture/churn.py)
        self._then_state: dict[str, torch.Tensor] | None = None

    @classmethod
    def from_options(cls, q_network: nn.Module, target_network: nn.Module | None, options: LiveOptions
                     ) -> TDEstimator:
        """The estimator ``TrainingHook(q_network=...)`` turns on: gamma, double_dqn, n_actions, feature_layer and
        the snapshot period (snapshot_every_s) from ``options``."""
        o = options
        return cls(q_network, target_network, gamma=o.gamma, double=o.double_dqn, n_actions=o.n_actions,
                   refresh_s=o.snapshot_every_s, feature_layer=o.feature_layer)

    # -- snapshot -------------------------------------------------------------------------------------------
    def _snapshot(self) -> None:
        now = time.monotonic()
        if self._net is not None and now - self._last_refresh < self.refresh_s:
            return
        try:
            if self._net is None:
                # Runs on the worker thread. One intra-op thread here (torch keeps OpenMP/MKL thread counts per
                # calling thread): a new thread otherwise gets a team sized to all cores whose threads spin
                # while idle, measured at ~50 ms CPU per small batch next to a training thread.
                torch.set_num_threads(1)
                self._net = self._clone(self.live, "q_network")
                self._target = None if self.live_target is None else self._clone(self.live_target, "target_network")
                self._install_feature_hook()
            else:
                # load_state_dict copies (across devices too) into the worker's own tensors.
                self._net.load_state_dict(self.live.state_dict())
                if self._target is not None and self.live_target is not None:
                    self._target.load_state_dict(self.live_target.state_dict())
        except Exception as exc:  # noqa: BLE001 - becomes a message in the widget
            self.disabled = f"TD-errors off: could not snapshot the network ({type(exc).__name__}: {exc})"
            self.features_off = self.disabled
            self._net = None
            return
        self._last_refresh = now
        self.snapshots += 1

    def refresh_now(self) -> None:
        """Take a new snapshot at the next use, whatever its age."""
        self._last_refresh = -np.inf

    # -- shipping to a worker process (capture/engine_process.py) ------------------------------------------
    def export(self) -> TDEstimator:
        """A copy for another process: same settings, the networks as CPU copies (picklable with cloudpickle,
        so classes defined in a notebook travel too). Raises when a network cannot be copied."""
        twin = copy.copy(self)
        twin.live = self._clone(self.live, "q_network")
        twin.live_target = None if self.live_target is None else self._clone(self.live_target, "target_network")
        for net in (twin.live, twin.live_target):
            for m in () if net is None else net.modules():  # hooks may hold objects that cannot travel
                m._forward_hooks.clear()
                m._forward_pre_hooks.clear()
                m._backward_hooks.clear()
        twin._net = twin._target = twin._features = twin._then_net = twin._then_state = None
        twin._last_refresh = -np.inf
        return twin

    def weights(self) -> dict[str, dict[str, np.ndarray]]:
        """The live networks' parameters and buffers as numpy arrays (read without a lock, like a snapshot)."""
        nets = {"q": self.live, "target": self.live_target}
        return {k: {n: _to_numpy(t) for n, t in net.state_dict().items()} for k, net in nets.items()
                if net is not None}

    def load_weights(self, weights: dict[str, dict[str, np.ndarray]]) -> None:
        """Install shipped weights in this copy's networks; the next compute snapshots them."""
        nets = {"q": self.live, "target": self.live_target}
        for k, state in weights.items():
            net = nets.get(k)
            if net is not None:
                net.load_state_dict({n: torch.from_numpy(v) for n, v in state.items()})
        self.refresh_now()

    @staticmethod
    def _clone(net: nn.Module, name: str) -> nn.Module:
        devices = {p.device.type for p in net.parameters()}
        if "meta" in devices:
            raise ValueError(f"{name} has parameters on the 'meta' device (no values to copy)")
        clone = copy.deepcopy(net).to("cpu").eval()  # the worker runs on CPU, off the training device
        for p in clone.parameters():
            p.requires_grad_(False)
        return clone

    def _install_feature_hook(self) -> None:
        assert self._net is not None
        if self.feature_layer:
            mods = dict(self._net.named_modules())
            if self.feature_layer not in mods:
                raise ValueError(f"feature_layer {self.feature_layer!r} is not a submodule of the q_network; "
                                 f"available: {', '.join(k for k in mods if k)}")
            mods[self.feature_layer].register_forward_hook(self._keep_output)
        else:
            layer = default_feature_layer(self._net)
            if layer is not None:
                layer.register_forward_pre_hook(self._keep_input)

    def _keep_output(self, _m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        if not (self._first_only and self._features is not None):
            self._features = out if isinstance(out, torch.Tensor) else None

    def _keep_input(self, _m: nn.Module, inp: tuple) -> None:
        if not (self._first_only and self._features is not None):
            self._features = inp[0] if inp and isinstance(inp[0], torch.Tensor) else None

    # -- computation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, obs: np.ndarray) -> np.ndarray | None:
        """Feature rows for ``obs`` (float32[n, d]) or None when unavailable."""
        self._snapshot()
        if self.features_off or self._net is None:
            return None
        try:
            out: list[np.ndarray] = []
            for i in range(0, len(obs), BATCH):
                self._features = None
                self._net(torch.as_tensor(np.asarray(obs[i:i + BATCH]), dtype=torch.float32))
                if self._features is None:
                    return None
                out.append(self._features.reshape(len(self._features), -1).float().numpy())
            return np.concatenate(out) if out else None
        except Exception as exc:  # noqa: BLE001 - switches features off, visibly
            self.features_off = f"features off: the q_network failed on the buffer's observations ({exc})"
            return None

    def compute(self, slots: np.ndarray, rows: dict[str, np.ndarray], want_features: bool = False) -> Estimates | None:
        """TD-errors for ``slots`` from mirrored ``rows`` (obs, next_obs, action, reward, terminated); with
        ``want_features`` also the feature rows of ``obs``, taken from the same forward pass."""
        self._snapshot()
        if self.disabled or self._net is None:
            return None
        try:
            with torch.no_grad():
                if self.n_actions is not None and not self._checked:
                    self._checked = True
                    obs1 = torch.as_tensor(np.asarray(rows["obs"][:1]), dtype=torch.float32)
                    n_out = int(q_values(self._net(obs1)).shape[-1])
                    if n_out != self.n_actions:
                        self.disabled = (f"TD-errors off: the q_network outputs {n_out} values per state but the "
                                         f"action space has {self.n_actions} actions")
                        return None
                self._features, self._first_only = None, True
                out = td_errors(self._net, self._target, rows["obs"], rows["action"], rows["reward"],
                                rows["next_obs"], rows["terminated"], gamma=self.gamma, double=self.double)
        except Exception as exc:  # noqa: BLE001 - switches TD-errors off, visibly
            self.disabled = f"TD-errors off: {type(exc).__name__}: {exc}"
            return None
        finally:
            self._first_only = False
        feats = None
        if want_features and self._features is not None and len(self._features) == len(slots):
            feats = self._features.reshape(len(slots), -1).float().numpy()
        return Estimates(np.asarray(slots, np.int64), out.td_error, out.q, out.value, feats)

    # -- policy churn (capture/churn.py) --------------------------------------------------------------------
    def churn_state(self) -> dict[str, torch.Tensor] | None:
        """A copy of the current snapshot's weights, kept as an older reference; None before the first one."""
        if self._net is None:
            return None
        return {k: v.detach().clone() for k, v in self._net.state_dict().items()}

    @torch.no_grad()
    def churn_eval(self, obs: np.ndarray, state: dict[str, torch.Tensor] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(greedy action int64[n], max_a Q float32[n]) of ``obs`` under the current snapshot, or under ``state``
        (from :meth:`churn_state`). Does not refresh the snapshot. Raises when the network fails."""
        if self._net is None:
            raise RuntimeError("no network snapshot yet")
        net = self._net if state is None else self._then(state)
        greedy, value = [], []
        for i in range(0, len(obs), BATCH):
            q = q_values(net(torch.as_tensor(np.asarray(obs[i:i + BATCH]), dtype=torch.float32)))
            if q.ndim != 2:
                raise ValueError(f"q_network returned shape {tuple(q.shape)}; expected (n, n_actions)")
            greedy.append(q.argmax(dim=1).numpy().astype(np.int64))
            value.append(q.max(dim=1).values.float().numpy())
        if not greedy:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(greedy), np.concatenate(value)

    def _then(self, state: dict[str, torch.Tensor]) -> nn.Module:
        assert self._net is not None
        if self._then_net is None:
            # The memo keeps the feature hook's bound method from copying this estimator (and its live network).
            self._then_net = copy.deepcopy(self._net, memo={id(self): self})
            for m in self._then_net.modules():
                m._forward_hooks.clear()
                m._forward_pre_hooks.clear()
        if state is not self._then_state:
            self._then_net.load_state_dict(state)
            self._then_state = state
        return self._then_net


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().to("cpu")
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy().copy()
