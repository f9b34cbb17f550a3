"""The messages between the views and Python: one table on each side, the same types and fields (a shared fixture),
the same synced traits; messages from the front end that do not follow docs/protocol.md are refused with a reason,
never raised."""

import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import anywidget
import numpy as np
import pytest

from better_rl_widget import BufferWidget
from better_rl_widget.widget.interpret_service import InterpretService
from better_rl_widget.widget.view_messages import (
    VIEW_MESSAGES,
    BadMessage,
    Delta,
    InfluenceRequest,
    InterpretRequest,
    RequestKeyframe,
    RequestSnapshot,
    SaliencyRequest,
    Snapshot,
    ThumbnailSaliency,
    int_field,
    message_fields,
    parse_view_message,
)

from .conftest import browser_update, from_browser


@pytest.fixture
def quiet(caplog):
    """Fails the test if a handler raised: ipywidgets logs such exceptions on the traitlets logger."""
    caplog.set_level(logging.WARNING)
    yield caplog
    raised = [r.getMessage() for r in caplog.records if r.name == "traitlets"]
    assert not raised, raised


def custom(widget, content):
    from_browser(widget, {"method": "custom", "content": content})


@pytest.mark.parametrize(("content", "reason"), [
    ([1, 2], "not an object"),
    ("request_keyframe", "not an object"),
    ({"no": "type"}, "unknown message type"),
    ({"type": "launch_missiles"}, "unknown message type"),
    ({"type": "request_keyframe", "seq": "7"}, "seq"),
    ({"type": "request_keyframe", "seq": 2**60}, "seq"),
    ({"type": "saliency", "slot": "abc"}, "slot"),
    ({"type": "saliency", "slot": None}, "slot"),
    ({"type": "saliency", "slot": 2**40}, "slot"),
    ({"type": "saliency", "slot": 1.5}, "slot"),
    ({"type": "saliency", "slot": 1, "method": ["x"]}, "method"),
    ({"type": "request_snapshot"}, "no 'id'"),
    ({"type": "request_snapshot", "id": [1]}, "id"),
    ({"type": "request_snapshot", "id": float("nan")}, "id"),
    ({"type": "request_snapshot", "id": float("inf")}, "id"),
    ({"type": "request_snapshot", "id": True}, "id"),
])
def test_malformed_custom_messages_are_reported(widget, quiet, content, reason):
    sent = []
    widget.send = lambda c, buffers=None: sent.append(c)
    custom(widget, content)
    assert widget.keyframe_requests == 0 and widget.saliency == b"" and sent == []
    assert "ignored a message from the view" in widget.errors[-1] and reason in widget.errors[-1]
    assert widget.status["last_error"] == widget.errors[-1]
    assert any(reason in r.getMessage() for r in quiet.records if r.name == "better_rl_widget")


def test_well_formed_custom_messages_still_work(widget, quiet):
    custom(widget, {"type": "request_keyframe", "seq": 3})
    custom(widget, {"type": "saliency", "slot": 4.0})  # JSON numbers may arrive as floats
    custom(widget, {"type": "interpret", "k": 3})  # another handler's message: not refused here
    assert widget.keyframe_requests == 1 and widget.errors == []
    assert b"saliency is off" in widget.saliency


@pytest.mark.parametrize(("update", "reason"), [
    ({"clicked": "x"}, "clicked"),
    ({"clicked": 3.5}, "clicked"),
    ({"clicked": 2**70}, "clicked"),
    ({"clicked": -7}, "clicked"),
    ({"clicked": 100}, "clicked"),  # the attached map has 20 points
    ({"selection_bytes": b"\1\2\3\4\5"}, "not uint32"),
    ({"selection_bytes": np.array([1, 20], "<u4").tobytes()}, "point id"),
    ({"selection_bytes": np.arange(21, dtype="<u4").tobytes()}, "more than the map holds"),
    ({"selection_bytes": 2**62}, "expected binary data"),  # bytes(2**62) would try to allocate it
    ({"selection_bytes": "abcd"}, "expected binary data"),
    ({"color_by": 5}, "color_by"),
])
def test_malformed_trait_updates_are_refused(widget, quiet, update, reason):
    widget.attach(20, lambda slot: ({"slot": slot, "present": False}, None))
    clicks, selections = [], []
    widget.on_click(clicks.append)
    widget.on_select(selections.append)
    browser_update(widget, clicked=3, selection_bytes=np.array([1, 2], "<u4").tobytes())
    inspection = widget.inspection
    browser_update(widget, **update)
    assert widget.clicked == 3 and widget.selection.tolist() == [1, 2] and widget.color_by == "age"
    assert clicks == [3] and len(selections) == 1 and widget.inspection == inspection
    assert "ignored a message from the view" in widget.errors[-1] and reason in widget.errors[-1]


def test_a_large_selection_is_checked_before_it_is_read(widget, quiet):
    widget.attach(1000, lambda slot: ({}, None))
    browser_update(widget, selection_bytes=np.zeros(1001, "<u4").tobytes())
    assert "1001 points" in widget.errors[-1] and widget.selection.tolist() == []
    without_map = type(widget)()
    browser_update(without_map, selection_bytes=np.zeros(2**24 + 1, "<u4").tobytes())
    assert "more than the map holds" in without_map.errors[-1]
    browser_update(without_map, selection_bytes=np.array([2**32 - 1], "<u4").tobytes())  # any id without a map
    assert without_map.selection.tolist() == [2**32 - 1]


def test_saliency_service_refuses_malformed_requests(widget, quiet):
    torch = pytest.importorskip("torch")
    svc = widget.enable_saliency(torch.nn.Linear(4, 2))
    try:
        custom(widget, {"type": "saliency", "slot": "abc"})
        assert "slot" in widget.errors[-1]
        custom(widget, {"type": "thumbnail_saliency", "on": "yes"})
        assert "'on'" in widget.errors[-1] or "on =" in widget.errors[-1]
        assert svc.thumbnails is False
    finally:
        svc.close()


@pytest.mark.parametrize(("content", "reason"), [
    ({"type": "interpret", "k": "many"}, "k ="),
    ({"type": "interpret", "last": 0}, "last ="),
    ({"type": "interpret", "episode": None}, "episode ="),
    ({"type": "influence", "group": 3}, "group ="),
    ({"type": "influence", "group": "everything"}, "group ="),
    ({"type": "influence", "budget_s": float("inf")}, "budget_s ="),
    ({"type": "influence", "budget_s": "20"}, "budget_s ="),
])
def test_interpret_requests_are_checked(widget, content, reason):
    calls = []
    stub = SimpleNamespace(configure=lambda **kw: calls.append(kw), request_influence=lambda *a: calls.append(a))
    widget.route_messages(lambda msg: InterpretService._on_message(stub, msg), InterpretRequest, InfluenceRequest)
    custom(widget, content)
    assert calls == [] and reason in widget.errors[-1]
    custom(widget, {"type": "interpret", "episode": -1})
    custom(widget, {"type": "influence", "group": "td"})
    custom(widget, {"type": "interpret"})  # a view that opens asks for a refresh
    assert calls == [{"k": None, "last": None, "episode": -1}, ("td", 20.0), {"k": None, "last": None, "episode": None}]


def test_int_field():
    assert int_field({"a": 3.0}, "a", 0, 5) == 3 and int_field({}, "a", 0, 5, default=None) is None
    for bad in [True, "3", 3.5, -1, 6, float("nan"), None, [3]]:
        with pytest.raises(BadMessage):
            int_field({"type": "t", "a": bad}, "a", 0, 5)


REPO = Path(__file__).resolve().parents[1]


def test_python_and_the_front_end_list_the_same_message_types():
    """js/tests/messages.test.ts checks js/src/messages.ts against the same fixture."""
    fixture = json.loads((REPO / "js" / "tests" / "fixtures" / "messages.json").read_text())
    assert message_fields() == fixture
    ts = (REPO / "js" / "src" / "messages.ts").read_text()
    declared = set(re.findall(r'^\s+type: "(\w+)";$', ts, flags=re.MULTILINE))  # the interfaces' type literals
    assert declared == set(fixture["view_to_python"]) | set(fixture["python_to_view"])


def test_the_front_end_types_every_synced_trait():
    """WidgetTraits (js/src/traits.ts) names exactly the traits BufferWidget syncs, no more, no fewer."""
    ts = (REPO / "js" / "src" / "traits.ts").read_text()
    body = re.search(r"export interface WidgetTraits \{(.*?)^\}", ts, flags=re.DOTALL | re.MULTILINE).group(1)
    ts_keys = set(re.findall(r"^  (\w+)\??:", body, flags=re.MULTILINE))
    base = set(anywidget.AnyWidget.class_traits(sync=True))
    synced = {name for name in BufferWidget.class_traits(sync=True) if name not in base and not name.startswith("_")}
    assert ts_keys == synced
    assert {"summary", "interpret", "thumbnails", "errors", "history_index"} <= ts_keys


def test_every_view_message_parses_with_its_defaults():
    assert parse_view_message({"type": "request_keyframe"}) == RequestKeyframe(seq=-1)
    assert parse_view_message({"type": "request_snapshot", "id": 4.0}) == RequestSnapshot(id=4)
    assert parse_view_message({"type": "saliency", "slot": 2}) == SaliencyRequest(slot=2, method="perturbation")
    assert parse_view_message({"type": "thumbnail_saliency", "on": False}) == ThumbnailSaliency(on=False)
    assert parse_view_message({"type": "interpret", "k": 3}) == InterpretRequest(k=3)
    assert parse_view_message({"type": "influence", "group": "skill"}) == InfluenceRequest("skill", 20.0)
    assert {cls.TYPE for cls in VIEW_MESSAGES.values()} == set(VIEW_MESSAGES)
    with pytest.raises(BadMessage, match="has no 'on'"):
        parse_view_message({"type": "thumbnail_saliency"})


def test_messages_to_the_view_are_built_from_the_table():
    assert Delta().content() == {"type": "delta"}
    assert Snapshot(3).content() == {"type": "snapshot", "id": 3}
    assert Snapshot(3, missing=True).content() == {"type": "snapshot", "id": 3, "missing": True}


def test_one_listener_routes_each_type_to_the_service_that_answers_it(widget, quiet):
    first, second = [], []
    widget.route_messages(first.append, InterpretRequest, InfluenceRequest)
    widget.route_messages(second.append, InterpretRequest)  # a newer service takes over what it answers
    widget.unroute_messages(first.append)  # the old one stops: the newer one's route stays
    custom(widget, {"type": "interpret", "k": 2})
    custom(widget, {"type": "influence"})  # nobody answers it now: ignored, not an error
    custom(widget, {"type": "request_keyframe", "seq": 1})  # the widget's own
    assert first == [] and second == [InterpretRequest(k=2)]
    assert widget.keyframe_requests == 1 and widget.errors == []
    widget.unroute_messages(second.append)
    custom(widget, {"type": "interpret", "k": 2})
    assert second == [InterpretRequest(k=2)]
