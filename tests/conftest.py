import numpy as np
import pytest

from better_rl_widget import BufferWidget
from better_rl_widget.frames.codec import decode


class RecordingView:
    """Stands in for a browser view: records every delta the widget sends and replays keyframes + deltas
    into a slot → row dict with the same seq/gap rules as js/src/state.ts."""

    def __init__(self, widget: BufferWidget) -> None:
        self.widget = widget
        self.deltas: list[bytes] = []
        self.rows: dict[int, tuple] = {}
        self.seq = -1
        original = widget.send

        def send(content, buffers=None):
            if content.get("type") == "delta":
                self.deltas.append(bytes(buffers[0]))
            return original(content, buffers)

        widget.send = send

    def sync(self) -> None:
        """Apply the current keyframe and every later delta."""
        meta, a = decode(self.widget.keyframe)
        self.rows = {int(s): (float(a["x"][i]), float(a["y"][i]), int(a["step"][i])) for i, s in enumerate(a["slots"])}
        self.seq = meta["seq"]
        for blob in self.deltas:
            m, d = decode(blob)
            if m["seq"] <= self.seq:
                continue
            assert m["seq"] == self.seq + 1, f"gap: view at {self.seq}, delta {m['seq']}"
            for s in d["removed"]:
                self.rows.pop(int(s), None)
            for i, s in enumerate(d["slots"]):
                self.rows[int(s)] = (float(d["x"][i]), float(d["y"][i]), int(d["step"][i]))
            self.seq = m["seq"]


def from_browser(widget: BufferWidget, data: dict, buffers: list[bytes] | None = None) -> None:
    """Deliver a comm message exactly as the kernel does for a message from the front end."""
    widget.comm.handle_msg({"content": {"comm_id": widget.comm.comm_id, "data": data},
                            "buffers": [memoryview(b) for b in (buffers or [])]})


def browser_update(widget: BufferWidget, **state) -> None:
    """A trait update from the browser; bytes values travel as binary buffers, like DataViews do."""
    paths, buffers = [], []
    for k, v in list(state.items()):
        if isinstance(v, bytes):
            paths.append([k])
            buffers.append(v)
            state.pop(k)
    from_browser(widget, {"method": "update", "state": state, "buffer_paths": paths}, buffers)


@pytest.fixture
def widget():
    return BufferWidget()


@pytest.fixture
def view(widget):
    return RecordingView(widget)


def keyframe_arrays(widget):
    return decode(widget.keyframe)


def fill(buffer, n, dim=4, seed=0, start=0):
    rng = np.random.default_rng(seed)
    for i in range(start, start + n):
        o = rng.normal(size=dim).astype(np.float32)
        buffer.add(o, i % 2, float(i % 3), o, terminated=(i % 25 == 24))
