/**
 * The colours of every view: the categorical palette and the one continuous ramp (viridis) used by the map, its
 * legend, the episode paths and the classic panels' heatmaps, so a value has the same colour everywhere.
 */

/** Categorical palette (10 distinguishable hues); categories repeat modulo its size. */
export const CATEGORICAL: readonly string[] = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

/** Viridis (matplotlib's table) at ten even stops; linear between them is within 2/255 of the full table. */
const RAMP_ANCHORS: readonly string[] = [
  "#440154",
  "#482878",
  "#3e4989",
  "#31688e",
  "#26828e",
  "#1f9e89",
  "#35b779",
  "#6ece58",
  "#b5de2b",
  "#fde725",
];

function hexToRgb(hex: string): [number, number, number] {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function rgbToHex([r, g, b]: [number, number, number]): string {
  return `#${[r, g, b].map((c) => Math.round(c).toString(16).padStart(2, "0")).join("")}`;
}

const ANCHOR_RGB = RAMP_ANCHORS.map(hexToRgb);

/** RGB (0–255, not rounded) at t ∈ [0, 1] on the ramp; t is clamped and a non-finite t counts as 0. */
export function rampRgb(t: number): [number, number, number] {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (ANCHOR_RGB.length - 1);
  const i = Math.min(ANCHOR_RGB.length - 2, Math.floor(u));
  const f = u - i;
  const a = ANCHOR_RGB[i]!;
  const b = ANCHOR_RGB[i + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** Colour at t ∈ [0, 1] on the continuous ramp, as #rrggbb. */
export function rampColor(t: number): string {
  return rgbToHex(rampRgb(t));
}

/** Ramp colour of `v` within [lo, hi] (clamped); null for a non-finite value, which is drawn as no data. */
export function valueColor(v: number, lo: number, hi: number): string | null {
  if (!Number.isFinite(v)) return null;
  return rampColor((v - lo) / (hi - lo || 1));
}

/** `n` evenly spaced colours of the ramp (regl-scatterplot's continuous colour map). */
export function continuousPalette(n = 64): string[] {
  return Array.from({ length: n }, (_, i) => rampColor(i / (n - 1)));
}

/** CSS linear-gradient of the ramp, for the legend's colour bar. */
export function rampGradientCss(stops = 10): string {
  const parts = Array.from(
    { length: stops },
    (_, i) => `${rampColor(i / (stops - 1))} ${((100 * i) / (stops - 1)).toFixed(1)}%`,
  );
  return `linear-gradient(to right, ${parts.join(", ")})`;
}

/** The map's background and whether it is dark, from the page's CSS background colour (transparent: white). */
export function backgroundTheme(css: string): { bg: [number, number, number, number]; dark: boolean } {
  const c = parseCssColor(css);
  if (!c || c[3] === 0) return { bg: [1, 1, 1, 1], dark: false };
  const lum = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  return { bg: [c[0], c[1], c[2], 1], dark: lum < 0.5 };
}

/** Parse a CSS rgb()/rgba()/#hex colour into normalised RGBA, or null. */
export function parseCssColor(css: string): [number, number, number, number] | null {
  const s = css.trim();
  let m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:[,\s/]+([\d.]+%?))?\s*\)$/i.exec(s);
  if (m) {
    let a = 1;
    if (m[4] !== undefined) a = m[4].endsWith("%") ? parseFloat(m[4]) / 100 : parseFloat(m[4]);
    return [Number(m[1]) / 255, Number(m[2]) / 255, Number(m[3]) / 255, a];
  }
  m = /^#([0-9a-f]{6})$/i.exec(s);
  if (m) {
    const [r, g, b] = hexToRgb(s);
    return [r / 255, g / 255, b / 255, 1];
  }
  return null;
}
