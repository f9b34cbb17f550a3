"""Field checks for custom messages from the views (docs/protocol.md, JS → Py). The front end is another program:
a malformed message is refused with a reason (``BadMessage``), never raised into the kernel."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

# Every custom message type a view sends; other types are refused.
VIEW_MESSAGES = frozenset({"request_keyframe", "saliency", "thumbnail_saliency", "request_snapshot", "interpret",
                           "influence"})
MAX_ID = 2**32 - 1  # slots, point ids and snapshot ids travel as uint32
MAX_SEQ = 2**53 - 1  # the view holds seq in a double
_REQUIRED = object()


class BadMessage(ValueError):
    """A message from a view that does not follow the protocol."""


def message_type(content: Any) -> str:
    """The ``type`` of a view message, or BadMessage when it is not an object with a known type."""
    if not isinstance(content, dict):
        raise BadMessage(f"message is a {type(content).__name__}, not an object")
    kind = content.get("type")
    if not isinstance(kind, str) or kind not in VIEW_MESSAGES:
        raise BadMessage(f"unknown message type {_show(kind)}")
    return kind


def _show(v: Any) -> str:
    try:
        return repr(v)[:40]
    except ValueError:  # an int too long to print
        return type(v).__name__


def _get(content: dict, key: str) -> Any:
    if key not in content:
        raise BadMessage(f"{content.get('type')!r} message has no {key!r}")
    return content[key]


def int_field(content: dict, key: str, lo: int, hi: int, default: Any = _REQUIRED) -> Any:
    """``content[key]`` as an int in [lo, hi] (``default`` when absent); 3.0 counts, bools and strings do not."""
    if key not in content and default is not _REQUIRED:
        return default
    raw = _get(content, key)
    v = int(raw) if isinstance(raw, float) and raw.is_integer() else raw
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or not lo <= v <= hi:
        raise BadMessage(f"{content.get('type')!r} message: {key} = {_show(raw)} is not an integer in [{lo}, {hi}]")
    return int(v)


def float_field(content: dict, key: str, lo: float, hi: float, default: Any = _REQUIRED) -> Any:
    if key not in content and default is not _REQUIRED:
        return default
    v = _get(content, key)
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or not lo <= v <= hi:
        raise BadMessage(f"{content.get('type')!r} message: {key} = {_show(v)} is not a number in [{lo}, {hi}]")
    return float(v)


def str_field(content: dict, key: str, choices: Collection[str] | None = None, default: Any = _REQUIRED) -> Any:
    if key not in content and default is not _REQUIRED:
        return default
    v = _get(content, key)
    if not isinstance(v, str) or (choices is not None and v not in choices):
        allowed = f" (one of {', '.join(sorted(choices))})" if choices is not None else ""
        raise BadMessage(f"{content.get('type')!r} message: {key} = {_show(v)} is not a string{allowed}")
    return v
