import { describe, expect, it } from "vitest";
import { encode } from "../src/codec";
import {
  finiteRange,
  linear,
  nodeRadius,
  parseInterpret,
  raggedPart,
  slotsWithValue,
} from "../src/panels/interpret_data";

function blob(
  extra: Record<string, { dtype: "float32" | "uint32"; data: number[]; shape?: number[] }> = {},
  meta = {},
) {
  return encode(
    { kind: "interpret", n: 10, k: 2, last: 1, episode: null, message: "", refresh: 1, paths: [3, 4], ...meta },
    {
      path_slots: { dtype: "uint32", data: [5, 6, 7, 1, 2] },
      path_offsets: { dtype: "uint32", data: [0, 3, 5] },
      skill_counts: { dtype: "uint32", data: [6, 4] },
      skill_transitions: { dtype: "float32", data: [0, 1, 1, 0], shape: [2, 2] },
      ...extra,
    },
  );
}

describe("interpret panel data", () => {
  it("parses the blob and splits the episode paths", () => {
    const d = parseInterpret(blob())!;
    expect(d.meta.k).toBe(2);
    expect(Array.from(raggedPart(d.arrays.path_slots as Uint32Array, d.arrays.path_offsets as Uint32Array, 0))).toEqual(
      [5, 6, 7],
    );
    expect(Array.from(raggedPart(d.arrays.path_slots as Uint32Array, d.arrays.path_offsets as Uint32Array, 1))).toEqual(
      [1, 2],
    );
    expect(raggedPart(d.arrays.path_slots as Uint32Array, d.arrays.path_offsets as Uint32Array, 2).length).toBe(0);
    expect(Array.from(d.arrays.skill_transitions!)).toEqual([0, 1, 1, 0]);
  });

  it("treats an empty trait as nothing and rejects bad blobs", () => {
    expect(parseInterpret(new Uint8Array(0))).toBeNull();
    expect(() => parseInterpret(encode({ kind: "summary" }, {}))).toThrow(/expected interpret/);
    expect(() => parseInterpret(blob({ path_offsets: { dtype: "uint32", data: [0, 3, 9] } }))).toThrow(
      /offsets end at 9/,
    );
  });

  it("finds the slots of one skill, scales, and sizes nodes by visits", () => {
    expect(slotsWithValue([10, 11, 12, 13], new Float32Array([1, 0, 1, NaN]), 1)).toEqual([10, 12]);
    expect(slotsWithValue([10, 11], null, 0)).toEqual([]);
    expect(linear(0, 10, 0, 100)(5)).toBe(50);
    expect(linear(3, 3, 0, 100)(7)).toBe(50);
    expect(finiteRange(new Float32Array([NaN, 2, -1]), undefined, [5])).toEqual([-1, 5]);
    expect(finiteRange(new Float32Array([NaN]))).toEqual([0, 1]);
    expect(nodeRadius(100, 100)).toBe(22);
    expect(nodeRadius(25, 100)).toBeCloseTo(5 + 17 * 0.5);
    expect(nodeRadius(3, 0)).toBe(5);
  });
});
