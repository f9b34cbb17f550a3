import { describe, expect, it } from "vitest";
import { cellOrigin, column, finiteExtent, polylines } from "../src/classic_views";

describe("classic panel helpers", () => {
  it("finds finite extents and widens flat ones", () => {
    expect(finiteExtent([3, NaN, -1, Infinity, 2])).toEqual([-1, 3]);
    expect(finiteExtent([NaN])).toEqual([0, 1]);
    expect(finiteExtent([2, 2])).toEqual([1.5, 2.5]);
  });

  it("puts grid row 0 at the bottom of the canvas", () => {
    expect(cellOrigin(0, 0, 3, 10)).toEqual([0, 20]);
    expect(cellOrigin(2, 2, 3, 10)).toEqual([20, 0]);
  });

  it("splits curves at NaN and scales to the canvas", () => {
    const runs = polylines([0, 1, 2, 3], [0, 1, NaN, 0.5], [0, 3], [0, 1], 30, 10);
    expect(runs).toEqual([
      [
        [0, 10],
        [10, 0],
      ],
      [[30, 5]],
    ]);
  });

  it("reads a column of a row-major matrix", () => {
    expect(column(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 1)).toEqual([2, 4, 6]);
  });
});
