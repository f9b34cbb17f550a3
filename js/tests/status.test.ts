import { describe, expect, it } from "vitest";
import { engineText, mapText, statusText } from "../src/panels/status";

describe("status line", () => {
  it("shows the live t-SNE engine state", () => {
    const s = statusText({
      projection: "auto",
      engine: {
        phase: "tsne",
        iterations: 1234,
        knn_preservation: 0.618,
        pending: 40,
        note: "burst: placing over several frames",
      },
    });
    expect(s).toContain("projection auto (tsne, 1,234 it, kNN 0.62, 40 pending, burst: placing over several frames)");
  });

  it("leaves out what the engine did not report", () => {
    expect(engineText({ phase: "pca", iterations: 0, pending: 0 })).toBe("pca");
    expect(engineText(undefined)).toBe("");
    expect(statusText({ projection: "pca" })).toContain("projection pca");
    expect(statusText({ projection: "pca" })).not.toContain("(");
  });

  it("counts rows that are not drawn, only when there are some", () => {
    const s = statusText({ rows_lost: 1200, rows_after_close: 7, rejected: 3, bad_priority: 2 });
    expect(s).toContain("rows refused 3");
    expect(s).toContain("bad priorities 2");
    expect(s).toContain("rows not drawn (failed frames) 1,200");
    expect(s).toContain("rows after close (not drawn) 7");
    expect(statusText({ rows_lost: 0, rows_after_close: 0, rejected: 0, unplaced: 0 })).not.toMatch(/rows|placed/);
  });

  it("says what a sampled map draws, what it costs and how far the final pass is", () => {
    const s = statusText({
      map: { points: 1000, capacity: 1_000_000, resident: 250_000, sampled_by: "age" },
      cost: 0.0321,
      settle: { progress: 0.4, done: false },
    });
    expect(s).toContain("map: 1,000 of 250,000 slots, sampled by age");
    expect(s).toContain("map ≈ 3.2 % of training");
    expect(s).toContain("settling the map 40 %");
    expect(statusText({ settle: { progress: 1, done: true } })).not.toContain("settling");
  });

  it("says nothing about sampling when the whole buffer is drawn", () => {
    expect(mapText({ points: 500, capacity: 800, resident: 500, sampled_by: "all" })).toBe("");
    expect(mapText(undefined)).toBe("");
  });
});
