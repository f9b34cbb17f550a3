import { describe, expect, it } from "vitest";
import { overlayPixels } from "../src/panels/saliency";

describe("saliency overlay pixels", () => {
  it("puts actor in red, critic in blue, alpha from the stronger one times opacity", () => {
    const red = new Float32Array([1, 0, 0.5, 2]);
    const blue = new Float32Array([0, 1, 0.25, -1]);
    const px = overlayPixels(red, blue, 4, 0.5);
    expect(Array.from(px.slice(0, 4))).toEqual([255, 0, 0, 128]);
    expect(Array.from(px.slice(4, 8))).toEqual([0, 0, 255, 128]);
    expect(Array.from(px.slice(8, 12))).toEqual([128, 0, 64, 64]);
    expect(Array.from(px.slice(12, 16))).toEqual([255, 0, 0, 128]); // clamped to 0..1
  });

  it("handles a single map and zero opacity", () => {
    const px = overlayPixels(new Float32Array([0.2]), null, 1, 0);
    expect(Array.from(px)).toEqual([51, 0, 0, 0]);
  });
});
