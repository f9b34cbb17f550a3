import { describe, expect, it } from "vitest";
import { churnText, churnView, parseChurn, polyline } from "../src/panels/churn";

const status = {
  lag: "5000 steps",
  columns: ["step", "then_step", "flipped_fraction", "median_abs_dq", "rows"],
  trace: [
    [6000, 1000, 0.5, 0.2, 1000],
    [8000, 3000, 0.25, 0.1, 1000],
    [10000, 5000, 0.125, 0.4, 1000],
  ],
};

describe("policy churn panel", () => {
  it("stays hidden until Python reports churn", () => {
    expect(churnView(undefined)).toBeNull();
    expect(churnView(null)).toBeNull();
    expect(churnView({ lag: "5000 steps", trace: [] })).toBeNull();
    expect(churnView({ trace: "nope" })).toBeNull();
    expect(churnView(status)?.points).toBe(3);
  });

  it("parses the trace, skipping malformed points and keeping missing values as null", () => {
    const t = parseChurn({
      lag: "2 s",
      trace: [[10, 5, null, 0.3, 4], "bad", [null, 1, 1, 1, 1], [20, 15, 0.5, 0.1, 4]],
    })!;
    expect(t.lag).toBe("2 s");
    expect(t.points.map((p) => p.step)).toEqual([10, 20]);
    expect(t.points[0]!.fraction).toBeNull();
    expect(t.points[0]!.medianDq).toBeCloseTo(0.3);
  });

  it("says the latest point: fraction flipped, median |ΔQ|, against what lag", () => {
    expect(churnText(parseChurn(status)!)).toBe(
      "policy churn vs 5000 steps earlier · step 10,000: 12.5 % flipped, median |ΔQ| 0.4 (1,000 states)",
    );
    // actor-critic: no flips, only ΔV
    expect(churnText(parseChurn({ lag: "", trace: [[3, 1, null, 0.25, 9]] })!)).toBe(
      "policy churn · step 3: median |ΔQ| 0.25 (9 states)",
    );
  });

  it("draws the fraction on a fixed 0–1 scale and |ΔQ| scaled to its maximum", () => {
    const v = churnView(status)!;
    // 240×48 box: x spans steps 6000..10000, y = 48·(1 − value/top)
    expect(v.flips).toBe("0.0,24.0 120.0,36.0 240.0,42.0");
    expect(v.dq).toBe("0.0,24.0 120.0,36.0 240.0,0.0");
    expect(polyline([1, 2], [null, null], 10, 10)).toBe("");
    expect(polyline([5], [0.5], 10, 10, 1)).toBe("5.0,5.0");
  });
});
