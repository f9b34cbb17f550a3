"""Hooks on a user's network: which layer's input is the agent's representation, and forward hooks that see only
the calling thread's forward passes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


def this_thread_only(fn: Callable[..., Any]) -> Callable[..., None]:
    """Wrap a torch forward (pre-)hook so calls from other threads are ignored. The module is the user's live
    network: a training thread or a background service (the interpretability panels) may run it at the same moment,
    and their activations, of another batch, must not be taken for this one's."""
    me = threading.get_ident()

    def hook(*args: Any) -> None:
        if threading.get_ident() == me:
            fn(*args)

    return hook


def default_feature_layer(net: nn.Module) -> nn.Module | None:
    """The output layer: its *input* is the penultimate representation (what the agent acts on)."""
    from torch import nn

    last = None
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.LazyLinear)):
            last = m
    return last
