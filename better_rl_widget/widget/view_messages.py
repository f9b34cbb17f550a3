"""Every custom message between a view and Python (docs/protocol.md), in one place; js/src/messages.ts mirrors it.
Both sides are tested against js/tests/fixtures/messages.json, so neither can add, drop or rename a type or field
alone. Traits carry state; these messages carry requests (view → Python) and the answers that travel with binary
buffers (Python → view).

A message from a view is parsed into one of the frozen dataclasses below before anything acts on it. The front end
is another program: a malformed message is refused with a reason (``BadMessage``), never raised into the kernel."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

MAX_ID = 2**32 - 1  # slots, point ids and snapshot ids travel as uint32
MAX_SEQ = 2**53 - 1  # the view holds seq in a double
INFLUENCE_GROUPS = ("td", "priority", "selection", "skill")
_REQUIRED = object()


class BadMessage(ValueError):
    """A message from a view that does not follow the protocol."""


# -- view → Python --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestKeyframe:
    """The view saw a gap in the delta sequence, or just opened: answered with a fresh ``keyframe`` trait."""

    TYPE: ClassVar[str] = "request_keyframe"
    seq: int = -1

    @classmethod
    def parse(cls, content: dict) -> RequestKeyframe:
        return cls(seq=int_field(content, "seq", -1, MAX_SEQ, default=-1))


@dataclass(frozen=True)
class RequestSnapshot:
    """The time scrubber wants a kept map snapshot: answered by a :class:`Snapshot` message."""

    TYPE: ClassVar[str] = "request_snapshot"
    id: int

    @classmethod
    def parse(cls, content: dict) -> RequestSnapshot:
        return cls(id=int_field(content, "id", 0, MAX_ID))


@dataclass(frozen=True)
class SaliencyRequest:
    """Saliency maps for the inspected slot: answered in the ``saliency`` trait."""

    TYPE: ClassVar[str] = "saliency"
    slot: int = -1
    method: str = "perturbation"

    @classmethod
    def parse(cls, content: dict) -> SaliencyRequest:
        # An unknown method is the saliency service's to answer ("unknown method ...") in the trait.
        return cls(slot=int_field(content, "slot", -1, MAX_ID, default=-1),
                   method=str_field(content, "method", default="perturbation"))


@dataclass(frozen=True)
class ThumbnailSaliency:
    """The influential list's toggle: saliency on its thumbnails, or not."""

    TYPE: ClassVar[str] = "thumbnail_saliency"
    on: bool

    @classmethod
    def parse(cls, content: dict) -> ThumbnailSaliency:
        return cls(on=bool_field(content, "on"))


@dataclass(frozen=True)
class InterpretRequest:
    """Change what the interpretability panels show (None: unchanged); with no field, refresh them now."""

    TYPE: ClassVar[str] = "interpret"
    k: int | None = None
    last: int | None = None
    episode: int | None = None

    @classmethod
    def parse(cls, content: dict) -> InterpretRequest:
        return cls(k=int_field(content, "k", 1, 1000, default=None),
                   last=int_field(content, "last", 1, 10**6, default=None),
                   episode=int_field(content, "episode", -1, MAX_SEQ, default=None))


@dataclass(frozen=True)
class InfluenceRequest:
    """Measure the influence of a group of states on the policy within ``budget_s`` (the ``interpret`` trait)."""

    TYPE: ClassVar[str] = "influence"
    group: str = "td"
    budget_s: float = 20.0

    @classmethod
    def parse(cls, content: dict) -> InfluenceRequest:
        return cls(group=str_field(content, "group", INFLUENCE_GROUPS, default="td"),
                   budget_s=float_field(content, "budget_s", 0.0, 3600.0, default=20.0))


ViewMessage = (RequestKeyframe | RequestSnapshot | SaliencyRequest | ThumbnailSaliency | InterpretRequest
               | InfluenceRequest)
VIEW_MESSAGES: dict[str, type[ViewMessage]] = {
    cls.TYPE: cls for cls in (RequestKeyframe, RequestSnapshot, SaliencyRequest, ThumbnailSaliency, InterpretRequest,
                              InfluenceRequest)
}


def parse_view_message(content: Any) -> ViewMessage:
    """The typed message a view sent, or BadMessage saying what is wrong with it."""
    return VIEW_MESSAGES[message_type(content)].parse(content)


# -- Python → view --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delta:
    """Changed rows of the map; sent with one BRW1 buffer of kind "delta"."""

    TYPE: ClassVar[str] = "delta"

    def content(self) -> dict:
        return {"type": self.TYPE}


@dataclass(frozen=True)
class Snapshot:
    """A kept map snapshot, sent with one BRW1 buffer of kind "snapshot"; ``missing`` (no buffer) when it was
    thinned away meanwhile or cannot be encoded: the view picks another from the new index."""

    TYPE: ClassVar[str] = "snapshot"
    id: int
    missing: bool = False

    def content(self) -> dict:
        return {"type": self.TYPE, "id": self.id, **({"missing": True} if self.missing else {})}


PythonMessage = Delta | Snapshot
PYTHON_MESSAGES: dict[str, type[PythonMessage]] = {cls.TYPE: cls for cls in (Delta, Snapshot)}


def message_fields() -> dict[str, dict[str, list[str]]]:
    """Each message type and its fields, by direction: the table js/tests/fixtures/messages.json holds."""
    def table(classes: dict[str, type]) -> dict[str, list[str]]:
        return {kind: [f.name for f in dataclasses.fields(cls)] for kind, cls in classes.items()}
    return {"view_to_python": table(VIEW_MESSAGES), "python_to_view": table(PYTHON_MESSAGES)}


# -- field checks -----------------------------------------------------------------------------------------------


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
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or not lo <= int(v) <= hi:
        raise BadMessage(f"{content.get('type')!r} message: {key} = {_show(raw)} is not an integer in [{lo}, {hi}]")
    return int(v)


def float_field(content: dict, key: str, lo: float, hi: float, default: Any = _REQUIRED) -> Any:
    if key not in content and default is not _REQUIRED:
        return default
    v = _get(content, key)
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or not lo <= float(v) <= hi:
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


def bool_field(content: dict, key: str, default: Any = _REQUIRED) -> Any:
    if key not in content and default is not _REQUIRED:
        return default
    v = _get(content, key)
    if not isinstance(v, bool):
        raise BadMessage(f"{content.get('type')!r} message: {key} = {_show(v)} is not a boolean")
    return v
