import { describe, expect, it } from "vitest";
import { encode } from "../src/codec";
import { parseSummary, replayLine } from "../src/panels/summary";

function replayBlob(stats: Record<string, unknown>, withPriority = true) {
  const arrays: Record<string, { dtype: "float32" | "uint32"; data: number[] }> = {
    hist_replays_edges: { dtype: "float32", data: [-0.5, 0.5, 1.5, 2.5] },
    hist_replays_counts: { dtype: "uint32", data: [38, 40, 22] },
  };
  if (withPriority) {
    arrays.hist_priority_edges = { dtype: "float32", data: [0, 1, 2] };
    arrays.hist_priority_counts = { dtype: "uint32", data: [60, 40] };
    arrays.top_priority_slots = { dtype: "uint32", data: [4] };
    arrays.top_priority_values = { dtype: "float32", data: [1.9] };
  }
  return encode({ kind: "summary", fields: withPriority ? ["priority"] : [], seq: 1, replays: stats }, arrays);
}

describe("replay counts in the summary", () => {
  it("parses the replay histogram and statistics beside the ranked fields", () => {
    const s = parseSummary(
      replayBlob({ of: "drawn", n: 100, never: 0.38, median: 2.1, mean: 1.2, spearman_priority: 0.62 }),
    )!;
    expect(s.fields).toEqual(["priority"]);
    expect(s.replays).not.toBeNull();
    expect(Array.from(s.replays!.counts)).toEqual([38, 40, 22]);
    expect(s.replays!.stats.never).toBeCloseTo(0.38);
    expect(replayLine(s.replays!.stats)).toBe(
      "38 % of the 100 drawn transitions never replayed · median 2.1 replays per transition · " +
        "priority vs replays: Spearman 0.62",
    );
  });

  it("leaves out what is unknown and has no replays without counts", () => {
    const s = parseSummary(replayBlob({ of: "drawn", n: 5, never: null, median: 0, spearman_priority: null }, false))!;
    expect(replayLine(s.replays!.stats)).toBe(
      "– of the 5 drawn transitions never replayed · median 0 replays per transition",
    );
    const none = encode({ kind: "summary", fields: [] }, {});
    expect(parseSummary(none)!.replays).toBeNull();
    const broken = encode({ kind: "summary", fields: [], replays: { n: 1 } }, {});
    expect(() => parseSummary(broken)).toThrow(/hist_replays/);
  });
});
