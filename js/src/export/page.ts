/**
 * Entry of a self-contained HTML export (better_rl_widget/widget/export.py): reads the inlined BRW1 "export"
 * container (base64 in <script type="application/octet-stream" id="brw-data">), builds a PageModel from it and
 * mounts the same render code the notebook widget uses. No network: everything is in the page.
 */
import { decode } from "../codec";
import type { GaugeTrait } from "../panels/gauge";
import type { StatusTrait } from "../panels/status";
import type { WidgetTraits } from "../traits";
import widget from "../widget";
import { base64ToBytes, PageModel, snapshotResponder } from "./page_model";

interface ExportMeta {
  kind?: string;
  title?: unknown;
  color_by?: unknown;
  status?: unknown;
  gauge?: unknown;
}

function empty(): DataView {
  return new DataView(new ArrayBuffer(0));
}

function view(a: Uint8Array): DataView {
  return new DataView(a.buffer, a.byteOffset, a.byteLength);
}

function mount(): void {
  const app = document.getElementById("brw-app");
  const dataEl = document.getElementById("brw-data");
  if (!app || !dataEl) throw new Error("export page: #brw-app or #brw-data missing");
  const { meta, arrays } = decode<ExportMeta>(base64ToBytes(dataEl.textContent ?? ""));
  if (meta.kind !== "export") throw new Error(`export page: data of kind ${String(meta.kind)}`);
  const snapshots = new Map<number, Uint8Array>();
  for (const [name, arr] of Object.entries(arrays)) {
    const m = /^snap_(\d+)$/.exec(name);
    if (m && arr.data instanceof Uint8Array) snapshots.set(Number(m[1]), arr.data);
  }
  const index = arrays.index?.data;
  // Every trait the widget has: a recorded history only. No interpret, summary or thumbnails data, so their panels
  // stay hidden; nothing here answers the requests they would send.
  const traits: WidgetTraits = {
    keyframe: empty(),
    inspection: empty(),
    saliency: empty(),
    summary: empty(),
    interpret: empty(),
    thumbnails: empty(),
    selection_bytes: empty(),
    history_index: index instanceof Uint8Array ? view(index) : empty(),
    status: (meta.status ?? {}) as StatusTrait,
    gauge: (meta.gauge ?? {}) as GaugeTrait,
    errors: [],
    color_by: typeof meta.color_by === "string" ? meta.color_by : "age",
    map_mode: "states", // a recorded history: no hook to rebuild the map (the controls stay hidden)
    window_k: 4,
    clicked: -1,
  };
  const model = new PageModel({ ...traits }, snapshotResponder(snapshots));
  const title = document.getElementById("brw-title");
  if (title) title.textContent = typeof meta.title === "string" ? meta.title : "";
  widget.render({ model: model as never, el: app });
}

try {
  mount();
} catch (err) {
  const box = document.getElementById("brw-app") ?? document.body;
  const p = document.createElement("p");
  p.className = "brw-error";
  p.textContent = `This export could not be shown: ${err instanceof Error ? err.message : String(err)}`;
  box.append(p);
  throw err;
}
