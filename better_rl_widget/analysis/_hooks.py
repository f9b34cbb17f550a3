"""Forward hooks on a user's module that see only the calling thread's forward passes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def this_thread_only(fn: Callable[..., Any]) -> Callable[..., None]:
    """Wrap a torch forward (pre-)hook so calls from other threads are ignored. The module is the user's live
    network: a training thread or a background service (the interpretability panels) may run it at the same moment,
    and their activations, of another batch, must not be taken for this one's."""
    me = threading.get_ident()

    def hook(*args: Any) -> None:
        if threading.get_ident() == me:
            fn(*args)

    return hook
