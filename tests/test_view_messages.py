"""Messages from the front end that do not follow docs/protocol.md are refused with a reason, never raised."""

import logging
from types import SimpleNamespace

import numpy as np
import pytest

from better_rl_widget.widget.interpret_service import InterpretService
from better_rl_widget.widget.view_messages import BadMessage, int_field

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


@pytest.mark.parametrize("content, reason", [
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


@pytest.mark.parametrize("update, reason", [
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


@pytest.mark.parametrize("content, reason", [
    ({"type": "interpret", "k": "many"}, "k ="),
    ({"type": "interpret", "last": 0}, "last ="),
    ({"type": "interpret", "episode": None}, "episode ="),
    ({"type": "influence", "group": 3}, "group ="),
    ({"type": "influence", "budget_s": float("inf")}, "budget_s ="),
    ({"type": "influence", "budget_s": "20"}, "budget_s ="),
])
def test_interpret_requests_are_checked(content, reason):
    calls, rejected = [], []
    stub = SimpleNamespace(configure=lambda **kw: calls.append(kw), request_influence=lambda *a: calls.append(a),
                           widget=SimpleNamespace(reject_message=rejected.append))
    InterpretService._on_msg(stub, None, content, [])
    assert calls == [] and len(rejected) == 1 and reason in rejected[0]
    InterpretService._on_msg(stub, None, {"type": "interpret", "episode": -1}, [])
    InterpretService._on_msg(stub, None, {"type": "influence", "group": "td"}, [])
    assert calls == [{"k": None, "last": None, "episode": -1}, ("td", 20.0)]


def test_int_field():
    assert int_field({"a": 3.0}, "a", 0, 5) == 3 and int_field({}, "a", 0, 5, default=None) is None
    for bad in [True, "3", 3.5, -1, 6, float("nan"), None, [3]]:
        with pytest.raises(BadMessage):
            int_field({"type": "t", "a": bad}, "a", 0, 5)
