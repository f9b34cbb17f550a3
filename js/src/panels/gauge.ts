/** Buffer gauge: a fill bar and "size / capacity (x%) · N ins/s · M evicted" from the `gauge` trait. */
import { fmtInt, fmtRate, h } from "./format";

export interface GaugeTrait {
  size?: number;
  capacity?: number;
  inserts_per_s?: number;
  evictions?: number;
  total_inserted?: number;
}

export function gaugeText(g: GaugeTrait): string {
  const size = Number(g.size ?? 0);
  const cap = Number(g.capacity ?? 0);
  const pct = cap > 0 ? ((100 * size) / cap).toFixed(1) : "0.0";
  return `${fmtInt(size)} / ${fmtInt(cap)} (${pct}%) · ${fmtRate(g.inserts_per_s ?? 0)} ins/s · ${fmtInt(g.evictions ?? 0)} evicted`;
}

export class Gauge {
  readonly el: HTMLDivElement;
  private readonly fill: HTMLDivElement;
  private readonly text: HTMLSpanElement;
  private readonly replays: HTMLSpanElement;

  constructor() {
    this.el = h("div", "brw-gauge");
    const bar = h("div", "brw-gauge-bar");
    this.fill = h("div", "brw-gauge-fill");
    bar.append(this.fill);
    this.text = h("span", "brw-gauge-text", "buffer: –");
    this.replays = h("span", "brw-gauge-replays");
    this.replays.hidden = true;
    this.el.append(bar, this.text, this.replays);
  }

  /** The replay line (panels/summary.ts replayLine), or null to hide it. */
  setReplays(line: string | null): void {
    this.replays.hidden = !line;
    this.replays.textContent = line ? ` · ${line}` : "";
  }

  update(g: GaugeTrait | null | undefined): void {
    if (!g || typeof g !== "object") {
      this.fill.style.width = "0%";
      this.text.textContent = "buffer: –";
      return;
    }
    const size = Number(g.size ?? 0);
    const cap = Number(g.capacity ?? 0);
    const frac = cap > 0 ? Math.min(1, Math.max(0, size / cap)) : 0;
    this.fill.style.width = `${(frac * 100).toFixed(2)}%`;
    this.text.textContent = gaugeText(g);
    this.el.title = `total inserted: ${fmtInt(g.total_inserted ?? 0)}`;
  }
}
