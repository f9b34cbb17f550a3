/** Live histogram of priorities (or |TD-error| when the buffer has no priorities), drawn as SVG bars; and the
 * replay-count histogram beside the priority one (what the agent prioritises / what it trains on). */
import { fmtInt, fmtNum, h } from "./format";
import { barHeights, FIELD_LABEL, type FieldSummary, replayLine, type Summary } from "./summary";

const SVG = "http://www.w3.org/2000/svg";
const W = 240;
const H = 60;

export class PriorityHistogram {
  readonly el: HTMLDivElement;
  private readonly title: HTMLDivElement;
  private readonly svg: SVGSVGElement;
  private readonly axis: HTMLDivElement;

  constructor() {
    this.el = h("div", "brw-hist");
    this.title = h("div", "brw-panel-title");
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    this.svg.setAttribute("width", String(W));
    this.svg.setAttribute("height", String(H));
    this.axis = h("div", "brw-hist-axis");
    this.el.append(this.title, this.svg, this.axis);
    this.el.hidden = true;
  }

  update(field: string | null, s: Pick<FieldSummary, "edges" | "counts"> | null): void {
    this.el.hidden = !field || !s;
    if (!field || !s) return;
    let total = 0;
    for (let i = 0; i < s.counts.length; i++) total += s.counts[i]!;
    this.title.textContent = `${FIELD_LABEL[field] ?? field} · ${fmtInt(total)} slots`;
    const heights = barHeights(s.counts, H);
    const bw = W / Math.max(1, heights.length);
    while (this.svg.firstChild) this.svg.firstChild.remove();
    heights.forEach((bh, i) => {
      const r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", String(i * bw + 0.5));
      r.setAttribute("width", String(Math.max(0.5, bw - 1)));
      r.setAttribute("y", String(H - bh));
      r.setAttribute("height", String(bh));
      r.setAttribute("class", "brw-hist-bar");
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${fmtNum(s.edges[i])}–${fmtNum(s.edges[i + 1])}: ${fmtInt(s.counts[i])}`;
      r.append(title);
      this.svg.append(r);
    });
    this.axis.textContent = `${fmtNum(s.edges[0])} … ${fmtNum(s.edges[s.edges.length - 1])}`;
  }
}

/** Replay counts and, with PER, priorities side by side, under the replay line (never-replayed share, median,
 * Spearman of priority rank against replay count). Hidden without replay counts. */
export class ReplayHistograms {
  readonly el: HTMLDivElement;
  private readonly line: HTMLDivElement;
  private readonly replays = new PriorityHistogram();
  private readonly priority = new PriorityHistogram();

  constructor() {
    this.el = h("div", "brw-replays");
    this.line = h("div", "brw-replays-line");
    const row = h("div", "brw-replays-row");
    row.style.display = "flex"; // side by side (no stylesheet rule needed)
    row.style.gap = "16px";
    row.append(this.replays.el, this.priority.el);
    this.el.append(this.line, row);
    this.el.hidden = true;
  }

  update(summary: Summary | null): void {
    const r = summary?.replays ?? null;
    this.el.hidden = !r;
    if (!r) return;
    this.line.textContent = replayLine(r.stats);
    this.replays.update("replays", r);
    this.priority.update("priority", summary?.byField.get("priority") ?? null);
  }
}
