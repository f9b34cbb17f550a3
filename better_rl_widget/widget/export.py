"""One self-contained HTML file showing a map history: the widget's own bundle and the data inlined, no network.

The page runs the same render code as the notebook widget, fed by a small in-page model (js/src/export/) that
answers the scrubber's snapshot requests from the inlined data. Strings from the run never enter the HTML as
markup: the title is HTML-escaped where it is text of the document, and everything else (title, field names,
notes) travels inside the base64 data and is set with ``textContent``. A Content-Security-Policy with a per-file
nonce blocks network access and any script that is not the page's own. See docs/export.md.
"""

from __future__ import annotations

import base64
import html
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..frames.codec import encode
from ..frames.snapshot import MapSnapshot
from ..frames.snapshot_codec import encode_index, encode_snapshot, snapshot_nbytes
from .history import MapHistory, replay_traits

_STATIC = Path(__file__).resolve().parent.parent / "static"


def _inline_script(js: str) -> str:
    """``js`` made safe to sit between <script> tags: no ``</script`` or ``<!--`` can end or confuse the element."""
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    if re.search(r"<!--|<script", js, flags=re.IGNORECASE):
        raise RuntimeError("the export bundle contains '<!--' or '<script', which cannot be inlined safely")
    return js


def fit(snapshots: Sequence[MapSnapshot], max_bytes: int | None) -> tuple[list[MapSnapshot], list[str]]:
    """The snapshots sorted by step and, past ``max_bytes``, thinned (and sampled) the way the live history is."""
    snaps = sorted(snapshots, key=lambda s: s.step)
    if max_bytes is None or sum(snapshot_nbytes(s) for s in snaps) <= max_bytes:
        return snaps, []
    kept = MapHistory(max_snapshots=max(2, len(snaps)), max_bytes=int(max_bytes), every_s=None)
    for snap in snaps:
        kept.add(snap)
    note = f"export keeps {len(kept)} of {len(snaps)} snapshots (max_bytes {max_bytes / 2**20:.0f} MiB)"
    if kept.sampled:
        note += ", each a stable sample of its points"
    return list(kept), [note]


def export_data(snapshots: Sequence[MapSnapshot], *, title: str = "", capacity: int | None = None,
                color_by: str = "age", max_bytes: int | None = None) -> bytes:
    """The BRW1 ``export`` container the page reads: index + one snapshot blob per kept snapshot."""
    if not snapshots:
        raise ValueError("export_html needs at least one MapSnapshot")
    snaps, notes = fit(snapshots, max_bytes)
    status, gauge = replay_traits(snaps, capacity)
    status["notes"] = [*status["notes"], *notes]
    arrays = {"index": np.frombuffer(encode_index(range(len(snaps)), snaps), np.uint8)}
    for i, snap in enumerate(snaps):
        arrays[f"snap_{i}"] = np.frombuffer(encode_snapshot(snap, snapshot_id=i), np.uint8)
    meta = {"kind": "export", "title": str(title), "color_by": str(color_by), "status": status, "gauge": gauge}
    return encode(meta, arrays)


def export_html(path: str | Path, snapshots: Sequence[MapSnapshot], *, title: str = "",
                capacity: int | None = None, color_by: str = "age", max_bytes: int | None = 64 * 2**20) -> Path:
    """Write ``snapshots`` (a map history) as one HTML file that opens offline: map, colour-by, gauge, time
    scrubber and inspector (each row's fields), clicks included. Returns the path written.

    ``capacity``: buffer size for the gauge (default: the smallest consistent with the slots); ``color_by``: the
    initial colouring; ``max_bytes``: past this much snapshot data the history is thinned evenly over the steps
    (the page's status line says how many were kept); None keeps everything."""
    js_path, css_path = _STATIC / "export_page.js", _STATIC / "widget.css"
    if not js_path.exists():
        raise FileNotFoundError(f"{js_path} is missing: build the front end (npm run build)")
    data = base64.b64encode(export_data(snapshots, title=title, capacity=capacity, color_by=color_by,
                                        max_bytes=max_bytes)).decode()
    nonce = secrets.token_urlsafe(18)
    css = css_path.read_text(encoding="utf-8").replace("</", "<\\/")
    # regl compiles its draw procedures with Function(): 'unsafe-eval'; regl-scatterplot's point index may run
    # in a blob: worker for very large maps. Nothing may be fetched.
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}' 'unsafe-eval'; style-src 'unsafe-inline'; "
           "img-src data: blob:; worker-src blob:; connect-src 'none'; base-uri 'none'; form-action 'none'")
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="better_rl_widget">',
        f"<title>{html.escape(title or 'better_rl_widget map')}</title>",
        f"<style>{css}\nbody{{margin:16px;font-family:system-ui,sans-serif}}"
        "#brw-title{font-size:16px;margin:0 0 8px}</style>",
        "</head>",
        "<body>",
        f'<h1 id="brw-title">{html.escape(title)}</h1>',
        '<div id="brw-app"></div>',
        f'<script type="application/octet-stream" id="brw-data">{data}</script>',
        f'<script nonce="{nonce}">{_inline_script(js_path.read_text(encoding="utf-8"))}</script>',
        "</body>",
        "</html>",
        "",
    ])
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
