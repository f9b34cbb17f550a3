import { describe, expect, it } from "vitest";
import { engineText, statusText } from "../src/panels/status";

describe("status line", () => {
  it("shows the live t-SNE engine state", () => {
    const s = statusText({
      projection: "auto",
      engine: { phase: "tsne", iterations: 1234, knn_preservation: 0.618, pending: 40, note: "burst: placing over several frames" },
    });
    expect(s).toContain("projection auto (tsne, 1,234 it, kNN 0.62, 40 pending, burst: placing over several frames)");
  });

  it("leaves out what the engine did not report", () => {
    expect(engineText({ phase: "pca", iterations: 0, pending: 0 })).toBe("pca");
    expect(engineText(undefined)).toBe("");
    expect(statusText({ projection: "pca" })).toContain("projection pca");
    expect(statusText({ projection: "pca" })).not.toContain("(");
  });
});
