import { describe, expect, it } from "vitest";
import { normalizeAxis, normalizeContinuous, PointState } from "../src/state";
import { delta, keyframe, type Row } from "./helpers";

const rows = (slots: number[], stepBase = 100): Row[] =>
  slots.map((slot) => ({ slot, step: stepBase + slot, reward: slot / 10, episode: slot % 3 }));

/** Dense rows as {slot: step}, checking the slot→index map stays consistent. */
function snapshot(s: PointState): Record<number, number> {
  const out: Record<number, number> = {};
  const step = s.column("step")!;
  for (let i = 0; i < s.n; i++) {
    const slot = s.slots[i]!;
    expect(s.indexOfSlot(slot)).toBe(i);
    out[slot] = step[i]!;
  }
  return out;
}

describe("PointState", () => {
  it("applies a keyframe then consecutive deltas (upsert + swap-with-last removal)", () => {
    const s = new PointState();
    s.applyKeyframe(keyframe(5, rows([0, 1, 2, 3])));
    expect(s.seq).toBe(5);
    expect(s.n).toBe(4);
    expect(s.capacity).toBe(16);
    expect(snapshot(s)).toEqual({ 0: 100, 1: 101, 2: 102, 3: 103 });

    // upsert: slot 1 replaced by a newer step, slot 4 new
    const r = s.applyDelta(
      delta(6, [
        { slot: 1, step: 200, reward: 9 },
        { slot: 4, step: 201 },
      ]),
    );
    expect(r).toEqual({ outcome: "applied", requestKeyframe: false });
    expect(s.seq).toBe(6);
    expect(snapshot(s)).toEqual({ 0: 100, 1: 200, 2: 102, 3: 103, 4: 201 });
    expect(s.column("reward")![s.indexOfSlot(1)]).toBe(9);

    // removal swaps the last row into the hole
    s.applyDelta(delta(7, [], [0, 3, 99]));
    expect(s.n).toBe(3);
    expect(s.indexOfSlot(0)).toBe(-1);
    expect(s.indexOfSlot(3)).toBe(-1);
    expect(snapshot(s)).toEqual({ 1: 200, 2: 102, 4: 201 });
    // columns moved with their rows
    expect(s.column("x")![s.indexOfSlot(4)]).toBe(4);
    expect(s.column("y")![s.indexOfSlot(2)]).toBe(-2);

    // removing everything, then re-adding
    s.applyDelta(delta(8, [], [1, 2, 4]));
    expect(s.n).toBe(0);
    s.applyDelta(delta(9, rows([7])));
    expect(snapshot(s)).toEqual({ 7: 107 });
  });

  it("grows past capacity and accepts slots beyond it", () => {
    const s = new PointState();
    s.applyKeyframe(keyframe(0, rows([0]), { capacity: 2 }));
    s.applyDelta(delta(1, rows([1, 2, 3, 1000]), [], { capacity: 2 }));
    expect(s.n).toBe(5);
    expect(snapshot(s)).toEqual({ 0: 100, 1: 101, 2: 102, 3: 103, 1000: 1100 });
    s.applyDelta(delta(2, [], [1000, 0], { capacity: 2 }));
    expect(snapshot(s)).toEqual({ 1: 101, 2: 102, 3: 103 });
  });

  it("ignores stale deltas", () => {
    const s = new PointState();
    s.applyKeyframe(keyframe(10, rows([0, 1])));
    expect(s.applyDelta(delta(10, rows([5])))).toEqual({ outcome: "stale", requestKeyframe: false });
    expect(s.applyDelta(delta(3, rows([6])))).toEqual({ outcome: "stale", requestKeyframe: false });
    expect(s.n).toBe(2);
    expect(s.seq).toBe(10);
  });

  it("requests a keyframe once on a gap and recovers with a keyframe >= the gap", () => {
    const s = new PointState();
    s.applyKeyframe(keyframe(1, rows([0])));
    expect(s.applyDelta(delta(3, rows([1])))).toEqual({ outcome: "gap", requestKeyframe: true });
    expect(s.gapSeq).toBe(3);
    // further deltas are ignored, no second request
    expect(s.applyDelta(delta(4, rows([2])))).toEqual({ outcome: "ignored", requestKeyframe: false });
    expect(s.applyDelta(delta(2, rows([2])))).toEqual({ outcome: "ignored", requestKeyframe: false });
    expect(s.n).toBe(1);
    // a keyframe older than the gap replaces the state but does not end the gap
    s.applyKeyframe(keyframe(2, rows([0, 1])));
    expect(s.seq).toBe(2);
    expect(s.gapSeq).toBe(3);
    expect(s.applyDelta(delta(3, rows([5])))).toEqual({ outcome: "ignored", requestKeyframe: false });
    // the answer to the request
    s.applyKeyframe(keyframe(4, rows([0, 1, 2])));
    expect(s.gapSeq).toBeNull();
    expect(s.applyDelta(delta(4, rows([9])))).toEqual({ outcome: "stale", requestKeyframe: false });
    expect(s.applyDelta(delta(5, rows([9])))).toEqual({ outcome: "applied", requestKeyframe: false });
    expect(snapshot(s)).toEqual({ 0: 100, 1: 101, 2: 102, 9: 109 });
    // a new gap requests again
    expect(s.applyDelta(delta(9, rows([3])))).toEqual({ outcome: "gap", requestKeyframe: true });
  });

  it("treats a delta before any keyframe as a gap", () => {
    const s = new PointState();
    expect(s.applyDelta(delta(0, rows([1])))).toEqual({ outcome: "gap", requestKeyframe: true });
    expect(s.applyDelta(delta(1, rows([1])))).toEqual({ outcome: "ignored", requestKeyframe: false });
    s.applyKeyframe(keyframe(0, rows([1])));
    expect(s.gapSeq).toBeNull();
    expect(s.applyDelta(delta(1, rows([2]))).outcome).toBe("applied");
  });

  it("a keyframe replaces everything, including columns", () => {
    const s = new PointState();
    s.applyKeyframe(keyframe(0, rows([0, 1, 2]), {}, true));
    expect(s.column("td_error")).not.toBeNull();
    s.applyKeyframe(keyframe(1, rows([5])));
    expect(s.column("td_error")).toBeNull();
    expect(snapshot(s)).toEqual({ 5: 105 });
    expect(s.indexOfSlot(0)).toBe(-1);
  });

  it("fills optional columns missing from a delta with NaN", () => {
    const s = new PointState();
    s.applyKeyframe(keyframe(0, [{ slot: 0, step: 1, td_error: 0.5 }], {}, true));
    s.applyDelta(delta(1, [{ slot: 1, step: 2 }]));
    const td = s.column("td_error")!;
    expect(td[s.indexOfSlot(0)]).toBe(0.5);
    expect(td[s.indexOfSlot(1)]).toBeNaN();
  });

  it("detects evicted slots", () => {
    const s = new PointState();
    expect(s.slotStatus(0, 100).kind).toBe("unknown");
    s.applyKeyframe(keyframe(0, rows([0, 1, 2])));
    expect(s.slotStatus(0, 100)).toEqual({ kind: "present", step: 100 });
    s.applyDelta(delta(1, [{ slot: 0, step: 500 }], [1]));
    expect(s.slotStatus(0, 100)).toEqual({ kind: "replaced", step: 500 });
    expect(s.slotStatus(1, 101)).toEqual({ kind: "removed" });
    expect(s.slotStatus(2, 102)).toEqual({ kind: "present", step: 102 });
    // the view has not caught up with step 900 yet: not evicted
    expect(s.slotStatus(2, 900).kind).toBe("unknown");
    expect(s.slotStatus(7, 900).kind).toBe("unknown");
    expect(s.stepOfSlot(0)).toBe(500);
    expect(s.stepOfSlot(1)).toBe(-1);
  });

  it("computes colour values per channel kind", () => {
    const s = new PointState();
    s.applyKeyframe(
      keyframe(0, [
        { slot: 0, step: 10, episode: 0, reward: -1, action: 3 },
        { slot: 1, step: 15, episode: 11, reward: 1, action: 0 },
        { slot: 2, step: 20, episode: 23, reward: 0, action: 3 },
      ]),
    );
    expect(s.colorChannels()).toEqual(["age", "reward", "action", "episode", "done"]);
    const age = s.colorValues("age", 10);
    expect(age.kind).toBe("continuous");
    if (age.kind !== "continuous") return;
    expect(Array.from(age.values)).toEqual([1, 0.5, 0]); // age = 20 - step
    expect([age.min, age.max]).toEqual([0, 10]);

    const ep = s.colorValues("episode", 10);
    expect(ep.kind).toBe("categorical");
    if (ep.kind !== "categorical") return;
    expect(Array.from(ep.values)).toEqual([0, 1, 3]); // modulo the palette size
    expect(ep.distinct).toEqual([0, 11, 23]);

    const rw = s.colorValues("reward", 10);
    expect(rw.kind === "continuous" && Array.from(rw.values)).toEqual([0, 1, 0.5]);

    const act = s.colorValues("action", 2, 1);
    expect(act.kind === "categorical" && [Array.from(act.values), act.distinct, act.moreDistinct]).toEqual([
      [1, 0, 1],
      [3],
      true,
    ]);

    // unknown channel → continuous zeros, no NaN
    const none = s.colorValues("nope", 10);
    expect(none.kind === "continuous" && Array.from(none.values)).toEqual([0, 0, 0]);
  });

  it("normalises continuous values NaN-safely", () => {
    const c = normalizeContinuous([5, 5, 5]);
    expect(Array.from(c.values)).toEqual([0.5, 0.5, 0.5]);
    expect([c.min, c.max, c.nanCount]).toEqual([5, 5, 0]);

    const m = normalizeContinuous([NaN, 2, Infinity, 4, 3]);
    expect(Array.from(m.values)).toEqual([0, 0, 0, 1, 0.5]);
    expect([m.min, m.max, m.nanCount]).toEqual([2, 4, 2]);

    const all = normalizeContinuous([NaN, NaN]);
    expect(Array.from(all.values)).toEqual([0, 0]);
    expect(all.min).toBeNaN();
    expect(all.nanCount).toBe(2);

    expect(Array.from(normalizeContinuous([]).values)).toEqual([]);
  });

  it("normalises coordinates with meta.extent", () => {
    expect(Array.from(normalizeAxis([0, 5, 10, 15, NaN], 0, 10))).toEqual([-1, 0, 1, 2, 0]);
    expect(Array.from(normalizeAxis([1, 2], 3, 3))).toEqual([0, 0]); // degenerate extent
    expect(Array.from(normalizeAxis([1, 2], NaN, 3))).toEqual([0, 0]);

    const s = new PointState();
    s.applyKeyframe(
      keyframe(0, [
        { slot: 0, step: 0, x: 0, y: -16 },
        { slot: 1, step: 1, x: 16, y: 0 },
        { slot: 2, step: 2, x: 8, y: -8 },
      ]),
    );
    const { x, y } = s.normalizedCoords();
    expect(Array.from(x)).toEqual([-1, 1, 0]);
    expect(Array.from(y)).toEqual([-1, 1, 0]);
    // a delta can move the extent
    s.applyDelta(delta(1, [], [], { extent: [0, 32, -16, 16] }));
    expect(Array.from(s.normalizedCoords().x)).toEqual([-1, 0, -0.5]);
  });
});
