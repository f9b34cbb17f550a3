/**
 * anywidget entry of ContinualWidget: dormant-unit fraction and effective rank per layer over training,
 * task switches as dashed lines. Trait: series (BRW1 bytes, see better_rl_widget/widget/continual_widget.py).
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { column, finiteExtent, polylines } from "./classic_views";
import { decode } from "./codec";

type Bytes = DataView | ArrayBuffer | ArrayBufferView | null | undefined;

interface ContinualTraits {
  series: Bytes;
  [key: string]: unknown;
}

const COLORS = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3"];
const W = 520;
const H = 140;

function chart(
  canvas: HTMLCanvasElement,
  title: string,
  steps: ArrayLike<number>,
  matrix: ArrayLike<number>,
  layers: string[],
  switches: ArrayLike<number>,
  fixedY: [number, number] | null,
): void {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  canvas.width = W;
  canvas.height = H;
  ctx.clearRect(0, 0, W, H);
  const xr = finiteExtent(steps);
  const yr = fixedY ?? finiteExtent(matrix);
  const pad = 18;
  const w = W - 2 * pad;
  const h = H - 2 * pad;
  ctx.strokeStyle = "#999";
  ctx.setLineDash([4, 4]);
  for (let i = 0; i < switches.length; i++) {
    const x = pad + ((switches[i] - xr[0]) / (xr[1] - xr[0] || 1)) * w;
    ctx.beginPath();
    ctx.moveTo(x, pad);
    ctx.lineTo(x, pad + h);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  layers.forEach((_name, j) => {
    ctx.strokeStyle = COLORS[j % COLORS.length];
    ctx.lineWidth = 1.5;
    for (const run of polylines(steps, column(matrix, layers.length, j), xr, yr, w, h)) {
      ctx.beginPath();
      for (const [k, [x, y]] of run.entries()) {
        if (k) ctx.lineTo(pad + x, pad + y);
        else ctx.moveTo(pad + x, pad + y);
      }
      ctx.stroke();
    }
  });
  ctx.fillStyle = "#333";
  ctx.font = "12px sans-serif";
  ctx.fillText(`${title}  [${yr[0].toFixed(2)}, ${yr[1].toFixed(2)}]`, pad, 12);
}

function draw(
  model: AnyModel<ContinualTraits>,
  dormant: HTMLCanvasElement,
  erank: HTMLCanvasElement,
  legend: HTMLElement,
): void {
  const bytes = model.get("series");
  if (!bytes || (bytes as ArrayBufferView).byteLength === 0) return;
  const s = decode<{ layers: string[]; tau: number }>(bytes as DataView);
  const { layers, tau } = s.meta;
  const steps = s.arrays.step.data;
  const switches = s.arrays.switches.data;
  chart(dormant, `dormant fraction (τ = ${tau})`, steps, s.arrays.dormant.data, layers, switches, [0, 1]);
  chart(erank, "effective rank", steps, s.arrays.erank.data, layers, switches, null);
  legend.replaceChildren(
    ...layers.map((name, j) => {
      const span = document.createElement("span");
      span.textContent = `■ ${name}  `;
      span.style.color = COLORS[j % COLORS.length];
      return span;
    }),
  );
  legend.dataset.points = String(steps.length);
  legend.dataset.switches = String(switches.length);
}

function render({ model, el }: RenderProps<ContinualTraits>): () => void {
  const root = document.createElement("div");
  root.className = "brw-continual";
  root.style.fontFamily = "sans-serif";
  const dormant = document.createElement("canvas");
  const erank = document.createElement("canvas");
  const legend = document.createElement("div");
  legend.style.fontSize = "12px";
  root.append(dormant, erank, legend);
  el.appendChild(root);
  const redraw = () => draw(model, dormant, erank, legend);
  redraw();
  model.on("change:series", redraw);
  return () => {
    model.off("change:series", redraw);
    root.remove();
  };
}

export default { render };
