/**
 * Toolbar: the colour-by <select> (bound to the `color_by` trait; options are
 * 'age' plus meta.channels) and the legend (swatches for categorical channels,
 * a gradient colour bar with min/max for continuous ones).
 */
import { CATEGORICAL, rampGradientCss } from "../colors";
import type { ColorValues } from "../state";
import { fmtNum, h } from "./format";

const MAX_SWATCHES = 12;

export class Toolbar {
  readonly el: HTMLDivElement;
  private readonly select: HTMLSelectElement;
  private readonly legend: HTMLDivElement;
  private options: string[] = [];
  private legendKey = "";
  private readonly onChange = (): void => this.onColorBy(this.select.value);

  constructor(private readonly onColorBy: (channel: string) => void) {
    this.el = h("div", "brw-toolbar");
    const label = h("label", "brw-colorby");
    label.append(h("span", "brw-label", "colour by"));
    this.select = h("select", "brw-colorby-select");
    this.select.title = "Colour points by";
    label.append(this.select);
    this.legend = h("div", "brw-legend");
    this.el.append(label, this.legend);
    this.select.addEventListener("change", this.onChange);
  }

  /** Update the options (keeps `current` even when it is not a known channel). */
  setChannels(channels: string[], current: string): void {
    const wanted = channels.includes(current) ? channels : [...channels, current];
    if (wanted.join("\u0000") !== this.options.join("\u0000")) {
      this.options = wanted;
      this.select.replaceChildren(
        ...wanted.map((c) => {
          const o = h("option", undefined, c === "age" ? "age (newest − step)" : c);
          o.value = c;
          return o;
        }),
      );
    }
    if (this.select.value !== current) this.select.value = current;
  }

  setLegend(colors: ColorValues | null): void {
    if (!colors) {
      if (this.legendKey !== "") this.legend.replaceChildren();
      this.legendKey = "";
      return;
    }
    if (colors.kind === "categorical") {
      const shown = colors.distinct.slice(0, MAX_SWATCHES);
      const more = colors.moreDistinct || colors.distinct.length > MAX_SWATCHES;
      const key = `c|${colors.channel}|${shown.join(",")}|${more}`;
      if (key === this.legendKey) return;
      this.legendKey = key;
      const p = CATEGORICAL.length;
      const items = shown.map((v) => {
        const item = h("span", "brw-swatch-item");
        const sw = h("span", "brw-swatch");
        sw.style.background = CATEGORICAL[((v % p) + p) % p]!;
        item.append(sw, h("span", "brw-swatch-label", String(v)));
        return item;
      });
      const nodes: Node[] = [h("span", "brw-legend-title", colors.channel), ...items];
      if (more) nodes.push(h("span", "brw-legend-note", `… colours repeat every ${p}`));
      this.legend.dataset.kind = "categorical";
      this.legend.replaceChildren(...nodes);
    } else {
      const lo = fmtNum(colors.min);
      const hi = fmtNum(colors.max);
      const key = `w|${colors.channel}|${lo}|${hi}|${colors.nanCount}`;
      if (key === this.legendKey) return;
      this.legendKey = key;
      const bar = h("span", "brw-colorbar");
      bar.style.background = rampGradientCss();
      const nodes: Node[] = [
        h("span", "brw-legend-title", colors.channel),
        h("span", "brw-legend-min", Number.isFinite(colors.min) ? lo : "–"),
        bar,
        h("span", "brw-legend-max", Number.isFinite(colors.max) ? hi : "–"),
      ];
      if (colors.nanCount > 0) nodes.push(h("span", "brw-legend-note", `${colors.nanCount} NaN (drawn as min)`));
      this.legend.dataset.kind = "continuous";
      this.legend.replaceChildren(...nodes);
    }
  }

  destroy(): void {
    this.select.removeEventListener("change", this.onChange);
  }
}
