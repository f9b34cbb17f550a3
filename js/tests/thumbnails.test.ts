import { describe, expect, it } from "vitest";
import { type EncodeArray, encode } from "../src/codec";
import { parseThumbnails, thumbPixels } from "../src/panels/thumbnails";

function blob(opts: { channels?: number; maps?: boolean; saliency?: string; slots?: number[] } = {}) {
  const slots = opts.slots ?? [42, 7];
  const c = opts.channels ?? 1;
  const n = slots.length;
  const h = 2;
  const w = 3;
  const images: number[] = [];
  for (let i = 0; i < n * h * w * c; i++) images.push((i * 37) % 256);
  const arrays: Record<string, EncodeArray> = {
    slots: { dtype: "uint32", data: slots },
    steps: { dtype: "uint32", data: slots.map((s) => s + 1000) },
    images: { dtype: "uint8", data: images, shape: [n, h, w, c] },
  };
  if (opts.maps) {
    arrays.has_saliency = { dtype: "uint8", data: slots.map((_, i) => (i === 0 ? 1 : 0)) };
    arrays.actor = {
      dtype: "uint8",
      data: new Array(n * h * w).fill(0).map((_, k) => (k === 0 ? 255 : 0)),
      shape: [n, h, w],
    };
    arrays.critic = {
      dtype: "uint8",
      data: new Array(n * h * w).fill(0).map((_, k) => (k === 1 ? 255 : 0)),
      shape: [n, h, w],
    };
  }
  return encode(
    { kind: "thumbnails", size: [h, w], channels: c, saliency: opts.saliency ?? "unavailable", message: "" },
    arrays,
  );
}

describe("influential-state thumbnails", () => {
  it("decodes slots, steps and uint8 images without copying them into JSON", () => {
    const t = parseThumbnails(blob())!;
    expect([t.height, t.width, t.channels]).toEqual([2, 3, 1]);
    expect(Array.from(t.slots)).toEqual([42, 7]);
    expect(Array.from(t.steps)).toEqual([1042, 1007]);
    expect(t.images).toBeInstanceOf(Uint8Array);
    expect(t.bySlot.get(7)).toBe(1);
    expect(t.bySlot.get(8)).toBeUndefined();
    expect(t.actor).toBeNull();
    expect(t.saliency).toBe("unavailable");
  });

  it("treats an empty trait as none and rejects malformed blobs", () => {
    expect(parseThumbnails(new Uint8Array(0))).toBeNull();
    expect(() => parseThumbnails(encode({ kind: "summary" }, {}))).toThrow(/expected thumbnails/);
    expect(() => parseThumbnails(encode({ kind: "thumbnails" }, { slots: { dtype: "uint32", data: [1] } }))).toThrow(
      /lack images/,
    );
    const wrongCount = encode(
      { kind: "thumbnails" },
      {
        slots: { dtype: "uint32", data: [1, 2, 3] },
        steps: { dtype: "uint32", data: [1, 2, 3] },
        images: { dtype: "uint8", data: [1, 2], shape: [2, 1, 1, 1] },
      },
    );
    expect(() => parseThumbnails(wrongCount)).toThrow(/for 3 slots/);
  });

  it("draws gray rows as opaque gray pixels and RGB rows as their colours", () => {
    const gray = parseThumbnails(blob())!;
    const px = thumbPixels(gray, 1, false);
    expect(px.length).toBe(2 * 3 * 4);
    const v = gray.images[6]!; // row 1, pixel 0
    expect(Array.from(px.slice(0, 4))).toEqual([v, v, v, 255]);
    const rgb = parseThumbnails(blob({ channels: 3 }))!;
    const q = thumbPixels(rgb, 0, false);
    expect(Array.from(q.slice(4, 8))).toEqual([rgb.images[3], rgb.images[4], rgb.images[5], 255]);
  });

  it("blends actor red and critic blue over rows that have maps, only when the overlay is on", () => {
    const t = parseThumbnails(blob({ maps: true, saliency: "on" }))!;
    expect(t.saliency).toBe("on");
    const base = thumbPixels(t, 0, false);
    const over = thumbPixels(t, 0, true, 1);
    expect(Array.from(over.slice(0, 4))).toEqual([255, 0, 0, 255]); // full actor: pure red at opacity 1
    expect(Array.from(over.slice(4, 8))).toEqual([0, 0, 255, 255]); // full critic: pure blue
    expect(Array.from(over.slice(8, 12))).toEqual(Array.from(base.slice(8, 12))); // no saliency there: unchanged
    // row 1 has no maps yet: drawn as the plain image even with the overlay on
    expect(Array.from(thumbPixels(t, 1, true))).toEqual(Array.from(thumbPixels(t, 1, false)));
    const half = thumbPixels(t, 0, true, 0.5);
    const g = t.images[0]!;
    expect(Array.from(half.slice(0, 4))).toEqual([
      Math.round(g * 0.5 + 127.5),
      Math.round(g * 0.5),
      Math.round(g * 0.5),
      255,
    ]);
  });
});
