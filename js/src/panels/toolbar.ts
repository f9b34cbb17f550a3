/**
 * Toolbar: the colour-by <select> (bound to the `color_by` trait; options are
 * 'age' plus meta.channels), the map-mode <select> and window-k input (bound to
 * the `map_mode` / `window_k` traits; docs/map_modes.md) with a note of what the
 * map embeds now (`status.map_mode`), and the legend (swatches for categorical
 * channels, a gradient colour bar with min/max for continuous ones).
 */
import { CATEGORICAL, rampGradientCss } from "../colors";
import type { ColorValues } from "../state";
import { fmtNum, h } from "./format";

const MAX_SWATCHES = 12;
export const MAP_MODES = ["states", "state-actions", "windows"] as const;
export const MAX_WINDOW_K = 32;
const MODE_LABELS: Record<string, string> = {
  states: "states",
  "state-actions": "(state, action)",
  windows: "windows of k",
};

/** What the map embeds after Python's last frame (`status.map_mode`). */
export interface MapModeInfo {
  mode?: string;
  k?: number;
  label?: string;
}

/** A window size typed into the k input: an integer in 1..MAX_WINDOW_K, else null. */
export function parseWindowK(text: string): number | null {
  const k = Number(text);
  return Number.isInteger(k) && k >= 1 && k <= MAX_WINDOW_K ? k : null;
}

export class Toolbar {
  readonly el: HTMLDivElement;
  private readonly select: HTMLSelectElement;
  private readonly legend: HTMLDivElement;
  private options: string[] = [];
  private legendKey = "";
  private readonly modeSelect: HTMLSelectElement;
  private readonly kInput: HTMLInputElement;
  private readonly modeNote: HTMLSpanElement;
  /** The map-mode controls: shown once a running hook reports its map mode (not for replays and exports). */
  readonly modeEl: HTMLLabelElement;
  private wanted = { mode: "states", k: 4 };
  private applied: MapModeInfo | null = null;
  private readonly onChange = (): void => this.onColorBy(this.select.value);
  private readonly onModeChange = (): void => this.emitMode();
  private readonly onKChange = (): void => this.emitMode();

  constructor(
    private readonly onColorBy: (channel: string) => void,
    private readonly onMapMode: (mode: string, k: number) => void = () => {},
  ) {
    this.el = h("div", "brw-toolbar");
    const label = h("label", "brw-colorby");
    label.append(h("span", "brw-label", "colour by"));
    this.select = h("select", "brw-colorby-select");
    this.select.title = "Colour points by";
    label.append(this.select);
    this.modeEl = h("label", "brw-mapmode");
    const modeLabel = this.modeEl;
    modeLabel.hidden = true;
    modeLabel.append(h("span", "brw-label", "map of"));
    this.modeSelect = h("select", "brw-mapmode-select");
    this.modeSelect.title = "What a point embeds: a state, a (state, action) pair, or a window of k pairs";
    this.modeSelect.replaceChildren(
      ...MAP_MODES.map((m) => {
        const o = h("option", undefined, MODE_LABELS[m]);
        o.value = m;
        return o;
      }),
    );
    this.kInput = h("input", "brw-window-k");
    this.kInput.type = "number";
    this.kInput.min = "1";
    this.kInput.max = String(MAX_WINDOW_K);
    this.kInput.step = "1";
    this.kInput.title = "k: consecutive (state, action) pairs per window";
    this.modeNote = h("span", "brw-mapmode-note");
    modeLabel.append(this.modeSelect, h("span", "brw-label", "k"), this.kInput, this.modeNote);
    this.legend = h("div", "brw-legend");
    this.el.append(label, modeLabel, this.legend);
    this.select.addEventListener("change", this.onChange);
    this.modeSelect.addEventListener("change", this.onModeChange);
    this.kInput.addEventListener("change", this.onKChange);
    this.setMapMode("states", 4);
  }

  /** The map mode the traits ask for (Python or this view set them). */
  setMapMode(mode: string, k: number): void {
    this.wanted = { mode, k };
    if (this.modeSelect.value !== mode) this.modeSelect.value = mode;
    if (this.kInput.value !== String(k)) this.kInput.value = String(k);
    this.kInput.disabled = mode !== "windows";
    this.el.dataset.mapModeWanted = mode;
    this.el.dataset.windowKWanted = String(k);
    this.renderModeNote();
  }

  /** What the map embeds after Python's last frame (`status.map_mode`). */
  setMapModeApplied(info: MapModeInfo | null | undefined): void {
    this.applied = info && typeof info === "object" && typeof info.mode === "string" ? info : null;
    this.modeEl.hidden = this.applied === null;
    this.el.dataset.mapMode = this.applied?.mode ?? "";
    this.el.dataset.windowK = String(this.applied?.k ?? "");
    this.renderModeNote();
  }

  private renderModeNote(): void {
    const a = this.applied;
    const w = this.wanted;
    const same = a !== null && a.mode === w.mode && (w.mode !== "windows" || a.k === w.k);
    this.modeNote.textContent = a === null ? "" : same ? (a.label ?? a.mode ?? "") : "rebuilding the map…";
    this.modeNote.dataset.pending = a !== null && !same ? "1" : "0";
  }

  private emitMode(): void {
    const mode = this.modeSelect.value;
    const k = parseWindowK(this.kInput.value);
    if (k === null) {
      this.kInput.value = String(this.wanted.k); // refused here: Python would refuse it too
      return;
    }
    if (mode === this.wanted.mode && k === this.wanted.k) return;
    this.wanted = { mode, k };
    this.onMapMode(mode, k);
    this.setMapMode(mode, k);
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
    this.modeSelect.removeEventListener("change", this.onModeChange);
    this.kInput.removeEventListener("change", this.onKChange);
  }
}
