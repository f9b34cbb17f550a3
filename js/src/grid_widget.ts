/**
 * anywidget entry of GridWorldWidget: a canvas heatmap of values (or visitation) with greedy-policy arrows.
 * Traits: layout, frame (BRW1 bytes, see better_rl_widget/widget/grid_widget.py), view, episode.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { ARROWS, cellOrigin, finiteExtent, KIND, NO_MOVE } from "./classic_views";
import { decode } from "./codec";
import { valueColor } from "./colors";

type Bytes = DataView | ArrayBuffer | ArrayBufferView | null | undefined;

interface GridTraits {
  layout: Bytes;
  frame: Bytes;
  view: string;
  episode: number;
  [key: string]: unknown;
}

const CELL = 56;

function draw(model: AnyModel<GridTraits>, canvas: HTMLCanvasElement, caption: HTMLElement): void {
  const layoutBytes = model.get("layout");
  const ctx = canvas.getContext("2d");
  if (!layoutBytes || !ctx) return;
  const layout = decode<{ width: number; height: number }>(layoutBytes as DataView);
  const { width, height } = layout.meta;
  const kind = layout.arrays.kind.data;
  canvas.width = width * CELL;
  canvas.height = height * CELL;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const frameBytes = model.get("frame");
  const view = model.get("view") === "visits" ? "visits" : "value";
  let values: ArrayLike<number> | null = null;
  let policy: ArrayLike<number> | null = null;
  if (frameBytes && (frameBytes as ArrayBufferView).byteLength !== 0) {
    const frame = decode<{ episode: number; agent: string; mean_return: number | null }>(frameBytes as DataView);
    values = frame.arrays[view].data;
    policy = frame.arrays.policy.data;
    const m = frame.meta;
    const ret = m.mean_return === null ? "" : `, mean return ${m.mean_return.toFixed(3)}`;
    caption.textContent = `${m.agent || "agent"} — episode ${m.episode}${ret} — showing ${view}`;
  } else {
    caption.textContent = "waiting for a frame";
  }
  const [lo, hi] = values ? finiteExtent(values) : [0, 1];
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const [px, py] = cellOrigin(x, y, height, CELL);
      const k = kind[i];
      ctx.fillStyle = k === KIND.wall ? "#333" : (values && valueColor(values[i], lo, hi)) || "#eee";
      ctx.fillRect(px, py, CELL, CELL);
      ctx.strokeStyle = k === KIND.lava ? "#e4572e" : k === KIND.goal ? "#2e7d32" : "#fff";
      ctx.lineWidth = k === KIND.lava || k === KIND.goal ? 4 : 1;
      ctx.strokeRect(px + 2, py + 2, CELL - 4, CELL - 4);
      if (policy && policy[i] !== NO_MOVE && view === "value") {
        ctx.fillStyle = "#fff";
        ctx.font = "24px sans-serif";
        ctx.fillText(ARROWS[policy[i]] ?? "?", px + CELL / 2, py + CELL / 2);
      }
      if (k === KIND.start) {
        ctx.fillStyle = "#fff";
        ctx.font = "11px sans-serif";
        ctx.fillText("start", px + CELL / 2, py + CELL - 10);
      }
    }
  }
}

function render({ model, el }: RenderProps<GridTraits>): () => void {
  const root = document.createElement("div");
  root.className = "brw-grid";
  root.style.fontFamily = "sans-serif";
  const bar = document.createElement("div");
  const buttons = ["value", "visits"].map((v) => {
    const b = document.createElement("button");
    b.textContent = v === "value" ? "values + policy" : "visitation";
    b.onclick = () => {
      model.set("view", v);
      model.save_changes();
    };
    bar.appendChild(b);
    return b;
  });
  const canvas = document.createElement("canvas");
  const caption = document.createElement("div");
  caption.style.fontSize = "12px";
  root.append(bar, canvas, caption);
  el.appendChild(root);
  const redraw = () => {
    const values = model.get("view") !== "visits";
    for (const [i, b] of buttons.entries()) b.style.fontWeight = (i === 0) === values ? "bold" : "";
    draw(model, canvas, caption);
  };
  redraw();
  for (const ev of ["change:layout", "change:frame", "change:view"]) model.on(ev, redraw);
  return () => {
    for (const ev of ["change:layout", "change:frame", "change:view"]) model.off(ev, redraw);
    root.remove();
  };
}

export default { render };
