"""Plasticity probes for deep agents: dormant-neuron fraction and effective rank of a layer's features.

* Sokar, Agarwal, Castro & Evci (ICML 2023), "The Dormant Neuron Phenomenon in Deep RL": unit i of a layer is
  τ-dormant when ``s_i = E_x|h_i(x)| / ((1/H) Σ_k E_x|h_k(x)|) ≤ τ`` (H units in the layer, expectation over
  a batch).
* Roy & Vetterli (EUSIPCO 2007), "The effective rank": with singular values σ of the (batch × features)
  matrix and ``p_k = σ_k / Σ σ``, ``erank = exp(-Σ p_k log p_k)``; between 1 and the rank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from .network_hooks import this_thread_only


def dormant_scores(activations: np.ndarray) -> np.ndarray:
    """Per-unit score ``s_i`` of a (batch, units) activation matrix (extra axes are flattened into units)."""
    h = np.abs(np.asarray(activations, dtype=np.float64))
    if h.ndim < 2 or h.shape[0] == 0:
        raise ValueError(f"activations must be (batch, units, ...) with a non-empty batch; got {h.shape}")
    per_unit = h.reshape(h.shape[0], -1).mean(axis=0)
    layer_mean = per_unit.mean()
    if layer_mean == 0:
        return np.zeros_like(per_unit)  # every unit silent: all dormant
    return per_unit / layer_mean


def dormant_fraction(activations: np.ndarray | Sequence[np.ndarray], tau: float = 0.0) -> float:
    """Fraction of τ-dormant units; a list of layers counts units over all of them (as Sokar et al. report)."""
    layers = [activations] if isinstance(activations, np.ndarray) else list(activations)
    scores = np.concatenate([dormant_scores(a) for a in layers])
    return float(np.mean(scores <= tau))


def effective_rank(features: np.ndarray) -> float:
    """Roy & Vetterli's effective rank of a (batch, features) matrix (1.0 for a zero matrix, by convention)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (batch, features); got shape {x.shape}")
    sv = np.linalg.svd(x, compute_uv=False)
    total = sv.sum()
    if total <= 0:
        return 1.0
    p = sv[sv > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def layer_activations(model: torch.nn.Module, inputs: torch.Tensor,
                      layer_types: tuple[type[torch.nn.Module], ...] | None = None) -> dict[str, np.ndarray]:
    """Outputs of every ``layer_types`` module (default: ``torch.nn.ReLU``) of a torch ``model`` on ``inputs``,
    by module name, via forward hooks (removed afterwards)."""
    import torch

    layer_types = layer_types or (torch.nn.ReLU,)
    out: dict[str, np.ndarray] = {}
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, layer_types):
            handles.append(mod.register_forward_hook(this_thread_only(
                lambda _m, _i, o, name=name: out.__setitem__(name, o.detach().reshape(o.shape[0], -1).cpu().numpy()))))
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    if not out:
        raise ValueError(f"model has no {[t.__name__ for t in layer_types]} modules to probe")
    return out


class PlasticityTracker:
    """Records dormant fraction and effective rank per layer over training, with task switches marked.

    Call :meth:`record` every so often with the model and a fixed probe batch; :meth:`frame` gives a tidy
    DataFrame, :meth:`figure` the plotly view. ``on_record`` (e.g. a ``ContinualWidget.push``) gets each row.
    """

    def __init__(self, tau: float = 0.0, on_record: Callable[[list[dict[str, Any]]], Any] | None = None) -> None:
        self.tau = tau
        self.rows: list[dict] = []
        self.task_switches: list[int] = []
        self.on_record = on_record

    def task_switch(self, step: int) -> None:
        self.task_switches.append(int(step))

    def record(self, step: int, model: torch.nn.Module, inputs: torch.Tensor) -> list[dict]:
        acts = layer_activations(model, inputs)
        new = [{"step": int(step), "layer": name, "dormant_fraction": dormant_fraction(a, self.tau),
                "effective_rank": effective_rank(a)} for name, a in acts.items()]
        new.append({"step": int(step), "layer": "all", "dormant_fraction": dormant_fraction(list(acts.values()),
                                                                                             self.tau),
                    "effective_rank": float("nan")})
        self.rows.extend(new)
        if self.on_record is not None:
            self.on_record(new)
        return new

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["step", "layer", "dormant_fraction", "effective_rank"])

    def figure(self):
        from .figures import plasticity_figure

        return plasticity_figure(self.frame(), self.task_switches)
