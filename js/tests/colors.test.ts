import { describe, expect, it } from "vitest";
import { backgroundTheme, continuousPalette, rampColor, rampGradientCss, rampRgb, valueColor } from "../src/colors";

const rgb = (hex: string): number[] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

// matplotlib's viridis at a few points of its 256-entry table.
const VIRIDIS: [number, string][] = [
  [0, "#440154"],
  [0.25, "#3b528b"],
  [0.5, "#21918c"],
  [0.75, "#5ec962"],
  [1, "#fde725"],
];

describe("the one colour ramp", () => {
  it("is viridis: exact at the ends, within 3/255 in between", () => {
    for (const [t, hex] of VIRIDIS) {
      const got = rgb(rampColor(t));
      const want = rgb(hex);
      for (let c = 0; c < 3; c++) expect(Math.abs(got[c]! - want[c]!)).toBeLessThanOrEqual(t === 0 || t === 1 ? 0 : 3);
    }
  });

  it("clamps t and treats a non-finite t as the low end", () => {
    expect(rampColor(-1)).toBe("#440154");
    expect(rampColor(7)).toBe("#fde725");
    expect(rampColor(Number.NaN)).toBe("#440154");
    expect(rampRgb(0.5).every((c) => c >= 0 && c <= 255)).toBe(true);
  });

  it("grows brighter from one end to the other (ordered, readable as a scale)", () => {
    const lum = (t: number): number => {
      const [r, g, b] = rampRgb(t);
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    for (let i = 1; i <= 100; i++) expect(lum(i / 100)).toBeGreaterThan(lum((i - 1) / 100));
  });

  it("colours a value in its range the same way for the grid heatmap as the map's palette does", () => {
    const palette = continuousPalette(64);
    expect(palette).toHaveLength(64);
    for (let i = 0; i < 64; i++) expect(valueColor(10 + (20 * i) / 63, 10, 30)).toBe(palette[i]);
    expect(valueColor(Number.NaN, 0, 1)).toBeNull();
    expect(valueColor(Number.POSITIVE_INFINITY, 0, 1)).toBeNull();
    expect(valueColor(3, 3, 3)).toBe(rampColor(0)); // a flat range does not divide by zero
    expect(valueColor(5, 0, 1)).toBe("#fde725");
  });

  it("draws the legend's colour bar from the same ramp", () => {
    const css = rampGradientCss(3);
    expect(css).toBe(
      `linear-gradient(to right, ${rampColor(0)} 0.0%, ${rampColor(0.5)} 50.0%, ${rampColor(1)} 100.0%)`,
    );
  });
});

describe("backgroundTheme", () => {
  it("reads JupyterLab's light and dark backgrounds; transparent or unreadable is white", () => {
    expect(backgroundTheme("rgb(17, 17, 17)")).toEqual({ bg: [17 / 255, 17 / 255, 17 / 255, 1], dark: true });
    expect(backgroundTheme("#ffffff")).toEqual({ bg: [1, 1, 1, 1], dark: false });
    expect(backgroundTheme("rgba(0, 0, 0, 0)")).toEqual({ bg: [1, 1, 1, 1], dark: false });
    expect(backgroundTheme("")).toEqual({ bg: [1, 1, 1, 1], dark: false });
  });
});
