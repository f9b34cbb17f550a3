import { describe, expect, it } from "vitest";
import { encode } from "../src/codec";
import { statusText } from "../src/panels/status";
import { barHeights, parseSummary, pickField } from "../src/panels/summary";

function blob(fields: string[], extra: Record<string, { dtype: "float32" | "uint32"; data: number[] }> = {}) {
  const arrays: Record<string, { dtype: "float32" | "uint32"; data: number[] }> = {};
  for (const f of fields) {
    arrays[`hist_${f}_edges`] = { dtype: "float32", data: [0, 1, 2, 3] };
    arrays[`hist_${f}_counts`] = { dtype: "uint32", data: [5, 0, 2] };
    arrays[`top_${f}_slots`] = { dtype: "uint32", data: [42, 7] };
    arrays[`top_${f}_values`] = { dtype: "float32", data: [-2.5, 1.25] };
  }
  return encode({ kind: "summary", fields, seq: 3 }, { ...arrays, ...extra });
}

describe("summary panel logic", () => {
  it("parses histogram and top-K arrays per field, as typed arrays", () => {
    const s = parseSummary(blob(["priority", "td_error"]))!;
    expect(s.fields).toEqual(["priority", "td_error"]);
    const td = s.byField.get("td_error")!;
    expect(td.counts).toBeInstanceOf(Uint32Array);
    expect(Array.from(td.counts)).toEqual([5, 0, 2]);
    expect(Array.from(td.slots)).toEqual([42, 7]);
    expect(Array.from(td.values)).toEqual([-2.5, 1.25]);
  });

  it("treats an empty trait as no summary and rejects malformed blobs", () => {
    expect(parseSummary(new Uint8Array(0))).toBeNull();
    const bad = encode(
      { kind: "summary", fields: ["priority"] },
      {
        hist_priority_edges: { dtype: "float32", data: [0, 1] },
        hist_priority_counts: { dtype: "uint32", data: [1, 2] },
        top_priority_slots: { dtype: "uint32", data: [1] },
        top_priority_values: { dtype: "float32", data: [1] },
      },
    );
    expect(() => parseSummary(bad)).toThrow(/2 edges for 2 bins/);
    expect(() => parseSummary(encode({ kind: "delta" }, {}))).toThrow(/expected a summary/);
    const missing = encode({ kind: "summary", fields: ["priority"] }, {});
    expect(() => parseSummary(missing)).toThrow(/lacks hist_priority_edges/);
  });

  it("scales bars to the tallest bin", () => {
    expect(barHeights([5, 0, 2], 60)).toEqual([60, 0, 24]);
    expect(barHeights([0, 0], 60)).toEqual([0, 0]);
  });

  it("shows the asked field when present, else the first (priority first)", () => {
    const s = parseSummary(blob(["priority", "td_error"]));
    expect(pickField(s, "td_error")).toBe("td_error");
    expect(pickField(s, "return")).toBe("priority");
    expect(pickField(parseSummary(blob(["td_error"])), "priority")).toBe("td_error");
    expect(pickField(null, "priority")).toBeNull();
  });

  it("status line shows notes", () => {
    expect(statusText({ notes: ["TD-errors off: x"] })).toContain("note: TD-errors off: x");
  });
});
