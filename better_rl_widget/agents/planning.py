"""Exact planning on tabular models: value iteration and policy evaluation (batched over leading axes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Plan:
    V: np.ndarray        # (..., S) optimal state values
    Q: np.ndarray        # (..., S, A)
    policy: np.ndarray   # (..., S) greedy action (lowest index among ties)
    iterations: int


def value_iteration(P: np.ndarray, R: np.ndarray, gamma: float, tol: float = 1e-10, max_iter: int = 100_000,
                    V0: np.ndarray | None = None) -> Plan:
    """Bellman optimality iteration ``Q = R + γ P V`` until the sup-norm change is below
    ``tol·(1-γ)/(2γ)``, which bounds the error of V by ``tol`` (Puterman 1994, Thm 6.3.1).

    ``P``: (..., S, A, S), ``R``: (..., S, A). Leading axes are independent problems (R-Max plans one per row).
    """
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1) for value iteration; got {gamma}")
    P = np.asarray(P, dtype=float)
    R = np.asarray(R, dtype=float)
    V = np.zeros(R.shape[:-1]) if V0 is None else np.array(V0, dtype=float)
    stop = tol * (1 - gamma) / (2 * gamma) if gamma > 0 else np.inf
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        Q = R + gamma * np.einsum("...sat,...t->...sa", P, V)
        V_new = Q.max(-1)
        delta = np.abs(V_new - V).max() if V.size else 0.0
        V = V_new
        if delta <= stop:
            break
    Q = R + gamma * np.einsum("...sat,...t->...sa", P, V)
    return Plan(V=Q.max(-1), Q=Q, policy=Q.argmax(-1), iterations=it)


def policy_evaluation(P: np.ndarray, R: np.ndarray, policy: np.ndarray, gamma: float) -> np.ndarray:
    """Exact ``V^π`` by solving ``(I - γ P_π) V = R_π``. ``policy``: (..., S) actions or (..., S, A)
    probabilities; leading axes of ``policy`` are batched against one model (P: (S, A, S), R: (S, A))."""
    P = np.asarray(P, dtype=float)
    R = np.asarray(R, dtype=float)
    S, A = R.shape
    policy = np.asarray(policy)
    probs = np.eye(A)[policy] if policy.shape[-1] != A or policy.dtype.kind in "iu" else policy.astype(float)
    P_pi = np.einsum("...sa,sat->...st", probs, P)
    R_pi = (probs * R).sum(-1)
    return np.linalg.solve(np.eye(S) - gamma * P_pi, R_pi[..., None])[..., 0]
