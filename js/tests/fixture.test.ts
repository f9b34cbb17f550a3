// Decodes blobs written by the Python encoder and compares with the JSON
// description it wrote alongside (see fixtures/README.md).
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decode, parseJsonLenient } from "../src/codec";
import { type FrameMeta, PointState } from "../src/state";

const DIR = new URL("./fixtures/", import.meta.url);
const FILES = ["keyframe.brw", "delta.brw", "expected.json"];
const missing = FILES.filter((f) => !existsSync(new URL(f, DIR)));
const GENERATE = "python -m better_rl_widget.frames.codec --write-fixtures js/tests/fixtures";

interface ExpectedArray {
  dtype: string;
  shape: number[];
  values: unknown;
}
interface ExpectedFrame {
  meta: unknown;
  arrays: Record<string, ExpectedArray>;
}

function flatten(v: unknown): unknown[] {
  return Array.isArray(v) ? v.flatMap(flatten) : [v];
}

/** null in JSON stands for NaN (JSON has no NaN). */
function sameValue(actual: number, expected: unknown): boolean {
  if (expected === null) return Number.isNaN(actual);
  if (typeof expected === "boolean") return actual === (expected ? 1 : 0);
  return Object.is(actual, expected) || (actual === 0 && expected === 0);
}

function checkFrame(file: string, expected: ExpectedFrame): void {
  const bytes = readFileSync(new URL(file, DIR));
  // decode from an unaligned copy as well as from the file bytes
  const shifted = new Uint8Array(bytes.byteLength + 3);
  shifted.set(bytes, 3);
  for (const src of [bytes, new DataView(shifted.buffer, 3, bytes.byteLength)]) {
    const got = decode(src);
    expect(got.meta, `${file}: meta`).toEqual(expected.meta);
    expect(Object.keys(got.arrays).sort(), `${file}: array names`).toEqual(Object.keys(expected.arrays).sort());
    for (const [name, exp] of Object.entries(expected.arrays)) {
      const arr = got.arrays[name]!;
      expect(arr.dtype, `${file}: ${name}.dtype`).toBe(exp.dtype);
      expect(arr.shape, `${file}: ${name}.shape`).toEqual(exp.shape);
      const values = flatten(exp.values);
      expect(arr.data.length, `${file}: ${name} length`).toBe(values.length);
      const bad = values.findIndex((v, i) => !sameValue(arr.data[i]!, v));
      expect(bad, `${file}: ${name}[${bad}] = ${arr.data[bad]} but expected ${JSON.stringify(values[bad])}`).toBe(-1);
    }
  }
}

describe("Python-produced fixtures", () => {
  if (missing.length) {
    console.warn(`fixture.test.ts skipped: missing ${missing.join(", ")}; run \`${GENERATE}\``);
    it.skip(`SKIPPED: fixture files missing (${missing.join(", ")}); generate them with \`${GENERATE}\``, () => {});
    return;
  }
  const expected = parseJsonLenient(readFileSync(new URL("expected.json", DIR), "utf8")) as {
    keyframe: ExpectedFrame;
    delta: ExpectedFrame;
  };

  it("decodes keyframe.brw as described by expected.json", () => {
    checkFrame("keyframe.brw", expected.keyframe);
  });

  it("decodes delta.brw as described by expected.json", () => {
    checkFrame("delta.brw", expected.delta);
  });

  it("applies the keyframe then the delta to a PointState", () => {
    const kf = decode<FrameMeta>(readFileSync(new URL("keyframe.brw", DIR)));
    const dt = decode<FrameMeta>(readFileSync(new URL("delta.brw", DIR)));
    const s = new PointState();
    s.applyKeyframe(kf);
    expect(s.n).toBe(expected.keyframe.arrays.slots!.shape[0]);
    const res = s.applyDelta(dt);
    expect(res.outcome).toBe(kf.meta.seq + 1 === dt.meta.seq ? "applied" : "gap");
    if (res.outcome !== "applied") return;
    // expected rows: keyframe rows, upserted by the delta's rows, minus `removed`
    const rows = new Map<number, number>();
    const kfv = expected.keyframe.arrays;
    const dv = expected.delta.arrays;
    for (const v of [kfv, dv]) {
      const steps = flatten(v.step!.values);
      for (const [i, slot] of flatten(v.slots!.values).entries()) rows.set(slot as number, steps[i] as number);
    }
    for (const slot of flatten(dv.removed?.values ?? [])) rows.delete(slot as number);
    expect(s.n).toBe(rows.size);
    for (const [slot, step] of rows) expect(s.stepOfSlot(slot)).toBe(step);
  });
});
