"""The self-contained HTML export: one file, data that round-trips, nothing fetched, every run string inert."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from better_rl_widget import BufferWidget
from better_rl_widget.frames.codec import decode
from better_rl_widget.frames.snapshot import MapSnapshot
from better_rl_widget.frames.snapshot_codec import decode_snapshot
from better_rl_widget.widget.export import _inline_script, export_html

XSS_TITLE = '<img src=x onerror=alert(1)></script><script>alert("t")</script><!--'
XSS_FIELD = "<img src=x onerror=alert(2)>"


def snaps(k: int = 3, n: int = 30) -> list[MapSnapshot]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(k):
        slots = np.arange(n, dtype=np.uint32)
        out.append(MapSnapshot(step=100 * i, time_s=float(i), slots=slots,
                               xy=rng.normal(size=(n, 2)).astype(np.float32), extent=(-3.0, 3.0, -3.0, 3.0),
                               fields={"step": slots + 100 * i, "reward": rng.normal(size=n).astype(np.float32),
                                       XSS_FIELD: np.ones(n, np.float32), "env</script>id": slots % 2}))
    return out


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        if self._open:
            self.text[self._open[-1]] = self.text.get(self._open[-1], "") + data


def parse(path) -> tuple[str, Tags]:
    page = path.read_text(encoding="utf-8")
    p = Tags()
    p.feed(page)
    return page, p


def test_export_is_one_file_whose_data_round_trips(tmp_path):
    given = snaps()
    out = export_html(tmp_path / "sub" / "map.html", given, title="CartPole-v1 run")
    page, tags = parse(out)
    scripts = [a for t, a in tags.tags if t == "script"]
    assert len(scripts) == 2
    data_b64 = re.search(r'<script type="application/octet-stream" id="brw-data">([A-Za-z0-9+/=]+)</script>',
                         page).group(1)
    meta, arrays = decode(base64.b64decode(data_b64))
    assert meta["kind"] == "export" and meta["title"] == "CartPole-v1 run"
    assert meta["status"]["replay"] is True and meta["gauge"]["size"] == 30
    _idx_meta, idx = decode(arrays["index"].tobytes())
    assert idx["steps"].tolist() == [0, 100, 200]
    for i, s in enumerate(given):
        back = decode_snapshot(arrays[f"snap_{i}"].tobytes())
        assert back.step == s.step and np.array_equal(back.xy, s.xy) and np.array_equal(back.slots, s.slots)
        assert set(back.fields) == set(s.fields)
    # the whole front end is inline: the bundle's render code is there, nothing is loaded from anywhere
    assert len(page) > 100_000
    assert not [a for t, a in tags.tags if "src" in a or "href" in a]
    assert not re.search(r"https?://(?!www\.w3\.org)", page.split('id="brw-data">')[0])


def test_a_hostile_run_name_and_field_names_stay_text(tmp_path):
    out = export_html(tmp_path / "x.html", snaps(), title=XSS_TITLE)
    page, tags = parse(out)
    names = [t for t, _ in tags.tags]
    assert "img" not in names  # the title did not become markup
    assert names.count("script") == 2 and page.count("</script>") == 2  # nothing closed the page's scripts early
    assert "<!--" not in page
    assert tags.text["title"] == XSS_TITLE and tags.text["h1"] == XSS_TITLE  # shown as text, exactly
    # field names travel only inside the base64 data
    assert XSS_FIELD not in page and "env</script>id" not in page
    # a nonce-only script policy: even an injected inline handler would not run
    csp = next(a["content"] for t, a in tags.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    nonce = next(a["nonce"] for t, a in tags.tags if t == "script" and "nonce" in a)
    assert f"script-src 'nonce-{nonce}'" in csp and "connect-src 'none'" in csp and "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_inline_script_cannot_close_its_element():
    assert _inline_script('a="</SCRIPT>";b=/<\\/script>/') == 'a="<\\/SCRIPT>";b=/<\\/script>/'
    with pytest.raises(RuntimeError, match="inlined safely"):
        _inline_script('a="<!--"')


def test_empty_export_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        export_html(tmp_path / "x.html", [])


def test_to_html_of_a_replay_and_of_a_live_widget(tmp_path):
    from better_rl_widget import ReplayBuffer, TrainingHook

    w = BufferWidget.replay(snaps(), title="replayed")
    page, tags = parse(w.to_html(tmp_path / "r.html"))
    assert tags.text["h1"] == "replayed"

    live = BufferWidget()
    buf = ReplayBuffer(100)
    rng = np.random.default_rng(1)
    with TrainingHook(live, buf, projection="pca") as hook:
        for i in range(150):
            o = rng.normal(size=3).astype(np.float32)
            buf.add(o, i % 2, 0.5, o, False)
        hook.flush()
    out = live.to_html(tmp_path / "live.html", title="live run")
    page = out.read_text()
    meta, arrays = decode(base64.b64decode(re.search(r'id="brw-data">([^<]+)<', page).group(1)))
    last = decode_snapshot(arrays[f"snap_{len(live.history) - 1}"].tobytes())
    present = live.frame_state.present_slots()
    assert np.array_equal(last.slots, present) and len(present) == 100  # the export ends at the map shown now
    assert meta["gauge"]["capacity"] == 100 and meta["title"] == "live run"


def test_a_large_history_is_thinned_to_max_bytes_and_says_so(tmp_path):
    given = snaps(k=40, n=200)
    out = export_html(tmp_path / "big.html", given, max_bytes=10 * 200 * 20)  # about 8 snapshots' worth
    meta, arrays = decode(base64.b64decode(re.search(r'id="brw-data">([^<]+)<', out.read_text()).group(1)))
    _, idx = decode(arrays["index"].tobytes())
    steps = idx["steps"].tolist()
    assert 2 <= len(steps) < 40 and steps[0] == 0 and steps[-1] == 3900  # first and last kept
    assert any("of 40 snapshots" in n for n in meta["status"]["notes"])
    everything = export_html(tmp_path / "all.html", given, max_bytes=None)
    data_len = [len(re.search(r'id="brw-data">([^<]+)<', p.read_text()).group(1)) for p in (out, everything)]
    assert data_len[1] > 3 * data_len[0]
