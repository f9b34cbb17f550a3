/**
 * Inspector for the `inspection` trait (BRW1 blob; meta {slot, present, step,
 * episode, episode_step, action, reward, done, hook_step, obs_shape, obs_dtype,
 * obs_layout, message}, array `obs` float32 of obs_shape).
 *
 * obs_layout "vector": table of the first 64 values; "HW": one gray image;
 * "HWC": RGB when C == 3, else one gray image per channel; "CHW": one gray
 * image per channel/frame. Values are min-max normalised per image.
 * When the point state shows the slot now holds a newer step or was removed,
 * it says "slot N was evicted (now step S)".
 * In the windows map mode the answer carries `window`: the k (state, action)
 * pairs of the window that ends at the clicked transition (listed, oldest
 * first) and `points`, the drawn points of the same episode within its steps
 * (the view highlights them: widget.ts).
 */
import { decode } from "../codec";
import type { PointState } from "../state";
import { fmtInt, fmtValue, h } from "./format";

export interface InspectionMeta {
  slot?: number;
  /** The buffer slot when the map draws a sample of a large buffer (``slot`` is then the map's point id). */
  buffer_slot?: number;
  present?: boolean;
  step?: number;
  episode?: number;
  episode_step?: number;
  action?: unknown;
  reward?: number;
  done?: boolean | number;
  hook_step?: number;
  obs_shape?: number[];
  obs_dtype?: string;
  obs_layout?: "vector" | "HW" | "HWC" | "CHW" | string;
  message?: string | null;
  window?: WindowMeta;
}

/** The window a click on a windows-mode map shows (better_rl_widget/capture/map_modes.py, window_info). */
export interface WindowMeta {
  k?: number;
  episode?: number;
  steps?: number[];
  episode_steps?: number[];
  actions?: unknown[];
  rewards?: number[];
  padded?: boolean[];
  points?: number[];
  message?: string;
}

/** The window's pairs as a table (oldest first); padding (before the episode's first step) is marked. */
export function renderWindow(w: WindowMeta): HTMLElement {
  const box = h("div", "brw-window");
  const steps = Array.isArray(w.steps) ? w.steps : [];
  const k = typeof w.k === "number" ? w.k : steps.length;
  const padded = Array.isArray(w.padded) ? w.padded : [];
  const nPad = padded.filter(Boolean).length;
  const episode = w.episode !== undefined ? ` · episode ${fmtInt(w.episode)}` : "";
  const title = `window of ${k} (state, action) pairs${episode}`;
  box.append(h("div", "brw-window-title", title));
  if (!steps.length) {
    box.append(h("div", "brw-note", w.message ?? "no window context"));
    return box;
  }
  const table = h("table", "brw-window-table");
  const head = h("tr");
  for (const c of ["#", "step", "episode step", "action", "reward"]) head.append(h("th", undefined, c));
  table.append(head);
  steps.forEach((step, i) => {
    const tr = h("tr", "brw-window-row");
    tr.dataset.step = String(step);
    tr.dataset.padded = padded[i] ? "1" : "0";
    tr.append(
      h("td", undefined, padded[i] ? "pad" : String(i + 1)),
      h("td", undefined, fmtValue(step)),
      h("td", undefined, fmtValue(w.episode_steps?.[i])),
      h("td", undefined, fmtValue(w.actions?.[i])),
      h("td", undefined, fmtValue(w.rewards?.[i])),
    );
    table.append(tr);
  });
  box.append(table);
  const pts = Array.isArray(w.points) ? w.points.length : 0;
  const notes = [`${pts} of its states drawn on the map (highlighted)`];
  if (nPad) notes.push(`${nPad} padded: the episode starts later (the first pair repeats)`);
  box.append(h("div", "brw-note", notes.join(" · ")));
  return box;
}

const MAX_VECTOR = 64;
const MAX_IMAGES = 16;
const IMAGE_TARGET_PX = 112;
const IMAGE_MAX_PX = 224;

/** Min-max normalise `src[start .. start+count*stride : stride]` to bytes 0..255. */
function toGray(src: Float32Array | Float64Array, start: number, count: number, stride: number): Uint8ClampedArray {
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < count; k++) {
    const v = src[start + k * stride]!;
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const out = new Uint8ClampedArray(count);
  const span = hi - lo;
  for (let k = 0; k < count; k++) {
    const v = src[start + k * stride]!;
    if (!Number.isFinite(v)) out[k] = 0;
    else out[k] = span > 0 ? Math.round((255 * (v - lo)) / span) : 128;
  }
  return out;
}

function imageCanvas(width: number, height: number, rgba: Uint8ClampedArray, label: string): HTMLElement {
  const fig = h("figure", "brw-obs-figure");
  const canvas = h("canvas", "brw-obs-img");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (ctx) {
    const img = ctx.createImageData(width, height);
    img.data.set(rgba);
    ctx.putImageData(img, 0, 0);
  }
  const big = Math.max(width, height);
  const scale = big >= IMAGE_MAX_PX ? IMAGE_MAX_PX / big : Math.max(1, Math.round(IMAGE_TARGET_PX / big));
  canvas.style.width = `${Math.round(width * scale)}px`;
  canvas.style.height = `${Math.round(height * scale)}px`;
  fig.append(canvas, h("figcaption", undefined, label));
  return fig;
}

function grayImage(
  src: Float32Array | Float64Array,
  width: number,
  height: number,
  start: number,
  stride: number,
  label: string,
): HTMLElement {
  const g = toGray(src, start, width * height, stride);
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let k = 0; k < g.length; k++) {
    rgba[4 * k] = rgba[4 * k + 1] = rgba[4 * k + 2] = g[k]!;
    rgba[4 * k + 3] = 255;
  }
  return imageCanvas(width, height, rgba, label);
}

/** HWC with C == 3, normalised jointly over all three channels. */
function rgbImage(src: Float32Array | Float64Array, height: number, width: number, label: string): HTMLElement {
  const g = toGray(src, 0, height * width * 3, 1);
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let k = 0; k < width * height; k++) {
    rgba[4 * k] = g[3 * k]!;
    rgba[4 * k + 1] = g[3 * k + 1]!;
    rgba[4 * k + 2] = g[3 * k + 2]!;
    rgba[4 * k + 3] = 255;
  }
  return imageCanvas(width, height, rgba, label);
}

function vectorTable(values: ArrayLike<number>, total: number): HTMLElement {
  const wrap = h("div", "brw-obs-vector");
  const table = h("table", "brw-obs-table");
  const n = Math.min(values.length, MAX_VECTOR);
  const cols = 8;
  for (let r = 0; r * cols < n; r++) {
    const tr = h("tr");
    tr.append(h("th", undefined, String(r * cols)));
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const td = h("td", undefined, i < n ? fmtValue(values[i]) : "");
      if (i < n) td.title = `obs[${i}]`;
      tr.append(td);
    }
    table.append(tr);
  }
  wrap.append(table);
  if (total > n) wrap.append(h("div", "brw-note", `showing ${n} of ${fmtInt(total)} values`));
  return wrap;
}

/** Build the observation view; exported for tests. */
export function renderObs(obs: Float32Array | Float64Array, shape: number[], layout: string): HTMLElement {
  const box = h("div", "brw-obs");
  box.dataset.layout = layout;
  const dims = shape.length ? shape : [obs.length];
  const count = dims.reduce((a, b) => a * b, 1);
  const valid = count === obs.length;
  const images: HTMLElement[] = [];
  let total = 0;
  if (valid && layout === "HW" && dims.length === 2) {
    const [H, W] = dims as [number, number];
    images.push(grayImage(obs, W, H, 0, 1, `${H}×${W}`));
    total = 1;
  } else if (valid && layout === "HWC" && dims.length === 3) {
    const [H, W, C] = dims as [number, number, number];
    if (C === 3) {
      images.push(rgbImage(obs, H, W, `${H}×${W} RGB`));
      total = 1;
    } else {
      total = C;
      for (let c = 0; c < Math.min(C, MAX_IMAGES); c++) images.push(grayImage(obs, W, H, c, C, `channel ${c}`));
    }
  } else if (valid && layout === "CHW" && dims.length === 3) {
    const [C, H, W] = dims as [number, number, number];
    total = C;
    for (let c = 0; c < Math.min(C, MAX_IMAGES); c++) images.push(grayImage(obs, W, H, c * H * W, 1, `channel ${c}`));
  }
  if (images.length) {
    const row = h("div", "brw-obs-images");
    row.append(...images);
    box.append(row);
    if (total > images.length) box.append(h("div", "brw-note", `showing ${images.length} of ${total} channels`));
  } else {
    box.dataset.layout = "vector";
    box.append(vectorTable(obs, obs.length));
  }
  return box;
}

export class Inspector {
  readonly el: HTMLDivElement;
  private readonly evicted: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private meta: InspectionMeta | null = null;
  /** Set while the inspector shows a row of a map snapshot (not an answer from Python). */
  localRow: { slot: number; step: number } | null = null;

  constructor() {
    this.el = h("div", "brw-inspector");
    this.evicted = h("div", "brw-evicted");
    this.evicted.hidden = true;
    this.body = h("div", "brw-inspector-body");
    this.el.append(this.evicted, this.body);
    this.showEmpty();
  }

  /** Drawn points of the inspected window (windows map mode), or null when the answer holds no window. */
  get windowPoints(): number[] | null {
    const p = this.meta?.window?.points;
    return Array.isArray(p) ? p.filter((v): v is number => Number.isInteger(v) && v >= 0) : null;
  }

  /** Slot of the inspection shown, or −1. */
  get slot(): number {
    const s = this.meta?.slot;
    return typeof s === "number" ? s : -1;
  }

  private showEmpty(text = "Click a point to inspect its transition · shift+drag to lasso"): void {
    this.meta = null;
    this.localRow = null;
    this.el.dataset.slot = "-1";
    this.el.dataset.evicted = "0";
    this.el.dataset.windowPoints = "-1";
    this.evicted.hidden = true;
    this.body.replaceChildren(h("div", "brw-inspector-empty", text));
  }

  /** Show a new `inspection` blob (empty / null → placeholder). Throws on undecodable data. */
  update(blob: DataView | ArrayBuffer | ArrayBufferView | null, state: PointState): void {
    if (!blob || blob.byteLength === 0) {
      this.showEmpty();
      return;
    }
    const { meta, arrays } = decode<InspectionMeta>(blob);
    this.meta = meta;
    this.localRow = null;
    this.el.dataset.slot = String(this.slot);

    const head = h("div", "brw-inspector-head");
    head.append(h("span", "brw-inspector-title", `slot ${fmtInt(meta.buffer_slot ?? meta.slot)}`));
    if (meta.present === false) head.append(h("span", "brw-tag", "not in buffer"));
    if (meta.message) head.append(h("span", "brw-inspector-message", String(meta.message)));

    // spans, not dl/dt/dd: notebook output CSS restyles definition lists
    const fields = h("div", "brw-fields");
    const add = (k: string, v: unknown): void => {
      const item = h("div", "brw-field");
      item.append(h("span", "brw-field-k", k), h("span", "brw-field-v", v === undefined ? "–" : fmtValue(v)));
      fields.append(item);
    };
    add("step", meta.step);
    add("episode", meta.episode);
    add("episode step", meta.episode_step);
    add("action", meta.action);
    add("reward", meta.reward);
    add("done", typeof meta.done === "number" ? meta.done !== 0 : meta.done);
    add("hook step", meta.hook_step);

    const nodes: Node[] = [head, fields];
    if (meta.window && typeof meta.window === "object") nodes.push(renderWindow(meta.window));
    this.el.dataset.windowPoints = String(this.windowPoints?.length ?? -1);
    const obs = arrays.obs;
    if (obs && (obs.data instanceof Float32Array || obs.data instanceof Float64Array)) {
      const shape = Array.isArray(meta.obs_shape) ? meta.obs_shape : obs.shape;
      const layout = typeof meta.obs_layout === "string" ? meta.obs_layout : "vector";
      const cap = h(
        "div",
        "brw-obs-caption",
        `obs ${shape.join("×")}${meta.obs_dtype ? ` ${meta.obs_dtype}` : ""} (${layout})`,
      );
      nodes.push(cap, renderObs(obs.data, shape, layout));
    } else if (meta.present !== false) {
      nodes.push(h("div", "brw-note", "no observation"));
    }
    this.body.replaceChildren(...nodes);
    this.refresh(state);
  }

  /**
   * Python's answer to a click (the `inspection` trait). Python answers from the buffer as it is now: while a map
   * snapshot's own row is shown, an answer about another transition is left out. Returns whether it was shown.
   */
  answer(blob: DataView | ArrayBuffer | ArrayBufferView | null, state: PointState): boolean {
    if (this.localRow && blob && blob.byteLength > 0) {
      const meta = decode<{ slot?: number; step?: number }>(blob).meta;
      if (meta.slot !== this.localRow.slot || meta.step !== this.localRow.step) return false;
    }
    this.update(blob, state);
    return true;
  }

  /**
   * Show `slot`'s row as `state` (a map snapshot) holds it: every per-row field it has. Used for a scrubbed map,
   * a replay and the HTML export, where Python's buffer does not hold (or there is no Python for) that transition.
   */
  showRow(state: PointState, slot: number, caption: string, note?: string): void {
    const i = state.indexOfSlot(slot);
    const stepCol = state.column("step");
    const step = i >= 0 && stepCol ? Number(stepCol[i]) : -1;
    this.meta = { slot, step, present: i >= 0 };
    this.localRow = { slot, step };
    this.el.dataset.slot = String(slot);
    this.el.dataset.evicted = "0";
    this.el.dataset.windowPoints = "-1";
    this.evicted.hidden = true;
    const head = h("div", "brw-inspector-head");
    head.append(h("span", "brw-inspector-title", `slot ${fmtInt(slot)}`), h("span", "brw-tag", caption));
    if (i < 0) {
      this.body.replaceChildren(head, h("div", "brw-note", "not on this map"));
      return;
    }
    const fields = h("div", "brw-fields");
    for (const [name] of state.columns) {
      const col = state.column(name)!;
      const item = h("div", "brw-field");
      item.dataset.field = name;
      item.append(h("span", "brw-field-k", name.replace(/_/g, " ")), h("span", "brw-field-v", fmtValue(col[i])));
      fields.append(item);
    }
    const nodes: Node[] = [head, fields];
    nodes.push(h("div", "brw-note", note ?? "no observation: map snapshots keep per-row fields only"));
    this.body.replaceChildren(...nodes);
  }

  /** The canvases of the inspected observation's images (empty for vectors). */
  imageCanvases(): HTMLCanvasElement[] {
    return Array.from(this.body.querySelectorAll<HTMLCanvasElement>("canvas.brw-obs-img"));
  }

  /** Re-check whether the inspected transition was evicted since. */
  refresh(state: PointState): void {
    const m = this.meta;
    if (this.localRow) return; // a snapshot's row does not go stale
    if (!m || typeof m.slot !== "number" || typeof m.step !== "number" || m.present === false) {
      this.evicted.hidden = true;
      this.el.dataset.evicted = "0";
      return;
    }
    const st = state.slotStatus(m.slot, m.step);
    let text = "";
    if (st.kind === "replaced") text = `slot ${m.slot} was evicted (now step ${st.step})`;
    else if (st.kind === "removed") text = `slot ${m.slot} was evicted (no longer in the buffer)`;
    this.evicted.textContent = text;
    this.evicted.hidden = text === "";
    this.el.dataset.evicted = text ? "1" : "0";
  }
}
