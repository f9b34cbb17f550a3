/**
 * Policy churn over training (status.churn, capture/churn.py): per completed pass the share of drawn states whose
 * greedy action flipped against the snapshot `lag` earlier, and the median |ΔQ|, as two small SVG traces. Hidden
 * until Python reports churn. Parsing and geometry are DOM-free (unit-tested).
 */
import { fmtInt, fmtNum, h } from "./format";

const SVG = "http://www.w3.org/2000/svg";
const W = 240;
const H = 48;

export interface ChurnPoint {
  step: number;
  thenStep: number;
  /** Fraction of the drawn states whose greedy action flipped; null for continuous actions. */
  fraction: number | null;
  medianDq: number | null;
  rows: number;
}

export interface ChurnTrace {
  lag: string;
  points: ChurnPoint[];
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** status.churn → a trace; null when there is none (the panel stays hidden). Malformed points are skipped. */
export function parseChurn(raw: unknown): ChurnTrace | null {
  if (!raw || typeof raw !== "object") return null;
  const r = raw as { lag?: unknown; trace?: unknown };
  if (!Array.isArray(r.trace)) return null;
  const points: ChurnPoint[] = [];
  for (const p of r.trace) {
    if (!Array.isArray(p) || num(p[0]) === null) continue;
    points.push({
      step: p[0] as number,
      thenStep: num(p[1]) ?? Number.NaN,
      fraction: num(p[2]),
      medianDq: num(p[3]),
      rows: num(p[4]) ?? 0,
    });
  }
  if (points.length === 0) return null;
  return { lag: typeof r.lag === "string" ? r.lag : "", points };
}

/**
 * SVG polyline points for `values` against `steps` in a width×height box: x spans the steps, y spans [0, top]
 * (top: the given one, else the largest value). Null values break nothing: they are left out.
 */
export function polyline(
  steps: readonly number[],
  values: readonly (number | null)[],
  width: number,
  height: number,
  top?: number,
): string {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < steps.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    lo = Math.min(lo, steps[i]!);
    hi = Math.max(hi, steps[i]!);
    max = Math.max(max, v);
  }
  const yTop = top ?? max;
  if (!Number.isFinite(lo)) return "";
  const out: string[] = [];
  for (let i = 0; i < steps.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    const x = hi > lo ? ((steps[i]! - lo) / (hi - lo)) * width : width / 2;
    const y = yTop > 0 ? height - (Math.min(v, yTop) / yTop) * height : height;
    out.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  }
  return out.join(" ");
}

/** "policy churn vs 5000 steps earlier · step 12,000: 12.5 % flipped, median |ΔQ| 0.04 (1,000 states)". */
export function churnText(t: ChurnTrace): string {
  const p = t.points[t.points.length - 1]!;
  const parts: string[] = [];
  if (p.fraction !== null) parts.push(`${(100 * p.fraction).toFixed(1)} % flipped`);
  if (p.medianDq !== null) parts.push(`median |ΔQ| ${fmtNum(p.medianDq)}`);
  const lag = t.lag ? ` vs ${t.lag} earlier` : "";
  return `policy churn${lag} · step ${fmtInt(p.step)}: ${parts.join(", ") || "–"} (${fmtInt(p.rows)} states)`;
}

export interface ChurnView {
  title: string;
  flips: string;
  dq: string;
  points: number;
}

/** What the panel draws for `raw` (status.churn); null: nothing, the panel is hidden. */
export function churnView(raw: unknown): ChurnView | null {
  const t = parseChurn(raw);
  if (!t) return null;
  const steps = t.points.map((p) => p.step);
  return {
    title: churnText(t),
    flips: polyline(
      steps,
      t.points.map((p) => p.fraction),
      W,
      H,
      1,
    ),
    dq: polyline(
      steps,
      t.points.map((p) => p.medianDq),
      W,
      H,
    ),
    points: t.points.length,
  };
}

export class ChurnPanel {
  readonly el: HTMLDivElement;
  private readonly title: HTMLDivElement;
  private readonly svg: SVGSVGElement;
  private readonly flips: SVGPolylineElement;
  private readonly dq: SVGPolylineElement;

  constructor() {
    this.el = h("div", "brw-churn");
    this.title = h("div", "brw-panel-title");
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    this.svg.setAttribute("width", String(W));
    this.svg.setAttribute("height", String(H));
    this.flips = document.createElementNS(SVG, "polyline");
    this.flips.setAttribute("class", "brw-churn-flips");
    this.dq = document.createElementNS(SVG, "polyline");
    this.dq.setAttribute("class", "brw-churn-dq");
    for (const [line, what] of [
      [this.flips, "fraction flipped (0–100 %)"],
      [this.dq, "median |ΔQ| (scaled to its maximum)"],
    ] as const) {
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", "currentColor");
      line.setAttribute("stroke-width", "1.5");
      const t = document.createElementNS(SVG, "title");
      t.textContent = what;
      line.append(t);
    }
    this.dq.setAttribute("stroke-dasharray", "3 2"); // no stylesheet entry needed: readable in light and dark
    this.dq.setAttribute("opacity", "0.6");
    this.svg.append(this.dq, this.flips);
    this.el.append(this.title, this.svg);
    this.el.hidden = true;
  }

  /** `raw`: the status trait's `churn` entry (anything else hides the panel). */
  update(raw: unknown): void {
    const v = churnView(raw);
    this.el.hidden = v === null;
    this.el.dataset.points = String(v?.points ?? 0);
    if (!v) return;
    this.flips.setAttribute("points", v.flips);
    this.dq.setAttribute("points", v.dq);
    this.title.textContent = v.title;
  }
}
