"""Module attributes loaded on first use, so that importing a package does not pull in its heavy dependencies."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_attributes(module: str, lazy: Mapping[str, str], public: Sequence[str]) -> tuple[
        Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``module``: ``lazy`` maps a name to the relative submodule defining it."""
    namespace = importlib.import_module(module).__dict__

    def __getattr__(name: str) -> Any:
        if name in lazy:
            value = getattr(importlib.import_module(lazy[name], module), name)
            namespace[name] = value  # later lookups skip this function
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})  # the lazily loaded names too

    return __getattr__, __dir__
