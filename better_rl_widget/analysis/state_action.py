"""A map of (state, action) pairs instead of states: where the same state under different actions lands apart.

Two feature sets for a discrete-action Q-network whose output layer is linear (``Q(s, ·) = W h(s) + b``):

- ``"qhead"``: ``h(s) ⊙ W[a]``, each penultimate feature's contribution to ``Q(s, a)`` (they sum to
  ``Q(s, a) − b[a]``). Pairs are close when the network values them for the same reasons.
- ``"append"``: ``[h(s), c · onehot(a)]`` with ``c`` the median norm of ``h``, so the action weighs about as much
  as the state.

``state_action_map`` embeds them with one openTSNE map, fitted on a sample stratified by action
(``embed/aligned.py``), the rest placed into it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

HOWS = ("qhead", "append")


def _penultimate(q_network: torch.nn.Module, obs: np.ndarray,
                 batch: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import torch

    from .network_hooks import default_feature_layer, this_thread_only
    from .td import q_values

    head = default_feature_layer(q_network)
    weight = getattr(head, "weight", None)
    if head is None or not isinstance(weight, torch.Tensor):
        raise ValueError("the q_network has no linear output layer whose input could serve as features")
    feats: list[np.ndarray] = []
    qs: list[np.ndarray] = []
    grab: dict = {}
    handle = head.register_forward_pre_hook(this_thread_only(lambda _m, inp: grab.__setitem__("h", inp[0])))
    try:
        with torch.no_grad():
            for i in range(0, len(obs), batch):
                q = q_values(q_network(torch.as_tensor(np.asarray(obs[i:i + batch]), dtype=torch.float32)))
                feats.append(grab["h"].reshape(len(q), -1).float().numpy())
                qs.append(q.float().numpy())
    finally:
        handle.remove()
    w = weight.detach().float().numpy()
    bias = getattr(head, "bias", None)
    b = bias.detach().float().numpy() if isinstance(bias, torch.Tensor) else np.zeros(len(w), np.float32)
    return np.concatenate(feats), np.concatenate(qs), w, b


def state_action_features(q_network: torch.nn.Module, obs: np.ndarray, action: np.ndarray,
                          how: str = "qhead") -> np.ndarray:
    """Features of (state, action) pairs, one row per transition: see the module docstring."""
    if how not in HOWS:
        raise ValueError(f"how must be one of {HOWS}, got {how!r}")
    a = np.asarray(action).reshape(len(obs), -1)[:, 0].astype(np.int64)
    h, _q, w, _ = _penultimate(q_network, obs)
    if w.shape[1] != h.shape[1]:
        raise ValueError(f"output layer takes {w.shape[1]} inputs but the features have {h.shape[1]}")
    if len(a) and (a.min() < 0 or a.max() >= len(w)):
        raise ValueError(f"actions must lie in 0..{len(w) - 1} for a q_network with {len(w)} outputs")
    if how == "qhead":
        return (h * w[a]).astype(np.float32)
    scale = float(np.median(np.linalg.norm(h, axis=1))) or 1.0
    return np.hstack([h, scale * np.eye(len(w), dtype=np.float32)[a]]).astype(np.float32)


def state_action_map(q_network: torch.nn.Module, obs: np.ndarray, action: np.ndarray, how: str = "qhead", *,
                     per_action: int = 1_000, seed: int = 0) -> np.ndarray:
    """2-D openTSNE coordinates (float32[n, 2]) of the (state, action) pairs."""
    from ..embed.aligned import aligned_tsne

    feats = state_action_features(q_network, obs, action, how)
    a = np.asarray(action).reshape(len(obs), -1)[:, 0]
    xy, _ = aligned_tsne(feats, a, per_group=per_action, seed=seed)
    return xy
